"""Storage codecs of the shards: which HDF5 filters each `storage.compression` writes, who can
read them, and the chunk decoders of the training read path.

  gzip  deflate (HDF5's own filter 1) + shuffle: every HDF5 library reads it; the default.
  lzf   h5py's LZF (filter 32000) + shuffle: h5py reads it, other libraries need its plugin.
  lz4   the HDF5 LZ4 filter (32004, from the `hdf5plugin` package) + shuffle: opt-in
        (`pip install 'signprep[lz4]'`); h5py reads it after `import hdf5plugin`, other HDF5
        libraries with that plugin on HDF5_PLUGIN_PATH. Inflates 2.8-4x faster than gzip (through
        zlib-ng) for frames and heatmaps (docs/shards.md, "Compression").
  none  no filter.

A file says which in its `storage_codec` and `storage_readers` attributes, and `signprep verify`
prints it. The training read path (`signprep.data.datasets.read_frames`) fetches one-frame
chunks raw and decodes them with `chunk_decoder`: deflate through zlib-ng (the same bytes as
zlib, 1.7-2.5x faster on the corpus's frames, heatmaps and flow), LZ4 through the `lz4` package.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import h5py
from zlib_ng import zlib_ng

GZIP_FILTER, SHUFFLE_FILTER, LZF_FILTER, LZ4_FILTER = 1, 2, 32000, 32004
# codecs an HDF5 library reads only through a filter plugin that signprep loads itself
PLUGIN_CODECS = {"lz4"}

# Who can read each storage codec. gzip (deflate) and shuffle are HDF5's own, in every build;
# LZF ships inside h5py and nowhere else; LZ4 is a registered HDF5 filter plugin.
CODEC_READERS = {
    "none": "any HDF5 library",
    "gzip": "any HDF5 library",
    "lzf": "h5py only (other HDF5 libraries need the LZF filter plugin)",
    "lz4": "h5py after `import hdf5plugin` (pip install hdf5plugin), or any HDF5 library with the "
    "LZ4 filter plugin (HDF5 filter 32004) on HDF5_PLUGIN_PATH",
}
_FILTER_CODECS = {GZIP_FILTER: "gzip", LZF_FILTER: "lzf", LZ4_FILTER: "lz4"}


# what a damaged chunk raises in `chunk_decoder`'s decoders or in h5py's own reads
DECODE_ERRORS = (OSError, ValueError, zlib_ng.error)


class CodecUnavailable(ValueError):
    """A codec's filter is not installed; the message says what to install."""


def load_plugin(codec: str, where: str = "") -> None:
    """Make the HDF5 filter of `codec` available to h5py in this process (no-op for HDF5's own)."""
    if codec not in PLUGIN_CODECS:
        return
    try:
        import hdf5plugin  # noqa: F401  (registers its filters with the HDF5 library h5py uses)
    except ImportError:
        place = f"{where}: " if where else ""
        raise CodecUnavailable(
            f"{place}storage codec {codec} needs the hdf5plugin package: pip install 'signprep[lz4]'"
        ) from None


def dataset_filters(compression: str, level: int) -> dict:
    """h5py `create_dataset` keyword arguments of a `storage.compression` (shuffle with any codec)."""
    if compression == "none":
        return {}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": level, "shuffle": True}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    if compression == "lz4":
        load_plugin("lz4")
        import hdf5plugin

        return dict(hdf5plugin.LZ4(), shuffle=True)  # one LZ4 block per chunk (chunks are <= 1 MiB)
    raise ValueError(f"unknown storage compression {compression!r}; known: {', '.join(CODEC_READERS)}")


def filters_of(ds: h5py.Dataset) -> list[int]:
    """The HDF5 filter ids of a dataset, in pipeline order (applied on write in this order)."""
    dcpl = ds.id.get_create_plist()
    return [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]


def codec_name(ds: h5py.Dataset) -> str:
    """A dataset's storage codec as `storage.compression` names it ("filter N" for a foreign one)."""
    for f in filters_of(ds):
        if f != SHUFFLE_FILTER:
            return _FILTER_CODECS.get(f, f"filter {f}")
    return "none"


def chunk_decoder(ds: h5py.Dataset) -> Callable[[bytes], bytes] | None:
    """raw chunk bytes -> the chunk's bytes before any codec (still shuffled when the dataset
    shuffles), for datasets of no filter, gzip or LZ4, each with or without shuffle; else None."""
    filters = [f for f in filters_of(ds) if f != SHUFFLE_FILTER]
    if not filters:
        return bytes
    if filters == [GZIP_FILTER]:
        return zlib_ng.decompress
    if filters == [LZ4_FILTER]:
        return decode_lz4_chunk
    return None


def decode_lz4_chunk(raw: bytes) -> bytes:
    """One chunk of the HDF5 LZ4 filter (32004): an 8-byte big-endian total size and a 4-byte block
    size, then per block a 4-byte big-endian compressed size and the LZ4 block, stored raw where
    compression would not have saved (compressed size == the block's size)."""
    import lz4.block

    try:
        total, block = struct.unpack_from(">QI", raw, 0)
        pos, parts, left = 12, [], total
        while left > 0:
            size = min(block, left)
            (stored,) = struct.unpack_from(">I", raw, pos)
            pos += 4
            chunk = raw[pos : pos + stored]
            parts.append(chunk if stored == size else lz4.block.decompress(chunk, uncompressed_size=size))
            pos += stored
            left -= size
    except (struct.error, lz4.block.LZ4BlockError) as e:
        raise ValueError(f"not a chunk of the HDF5 LZ4 filter ({e})") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)
