"""Writing samples: one part file per finished sample, packed into shards.

Durability rule (after denseflow's markers): every file appears under its final
name only when complete (`signprep.atomic`: temp file, fsync, rename). A worker
writes each finished sample to `parts/<sample_id>.h5`; the driver packs parts
into `shard-NNNNN.h5` files of bounded size, then records them in
`shard_index.json`, then deletes the parts. A kill at any point leaves either a
part or an indexed shard holding each finished sample, and `recover` puts the
directory back into a consistent state before the next run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from signprep import __version__
from signprep.atomic import atomic_hdf5
from signprep.manifests.names import safe_file_name
from signprep.shards.codecs import CODEC_READERS, dataset_filters, load_plugin
from signprep.shards.index import ShardIndex
from signprep.shards.schema import (
    FILE_FORMAT,
    SAMPLES_GROUP,
    SCHEMA_VERSION,
    GlossSequence,
    content_sha256,
)

PARTS_DIR = "parts"


@dataclass(frozen=True)
class Storage:
    """How samples are stored (the pipeline's `storage` section; docs/shards.md has the measurements).

    compression: gzip | lzf | lz4 | none (`signprep.shards.codecs`; shuffle on with any codec; lz4 needs
    hdf5plugin); compression_level: gzip's 0-9 (the others have none); chunk_frames: frames per
    chunk at most; chunk_bytes: raw bytes per chunk at most; one_frame_chunks_above: frames of more
    bytes than this get one frame per chunk (None: off), so a clip decompresses only its frames.
    """

    compression: str = "gzip"
    compression_level: int = 1
    chunk_frames: int = 64
    max_shard_bytes: int = 256 * 2**20
    chunk_bytes: int = 2**20
    one_frame_chunks_above: int | None = 8 * 1024


def _write_file_attrs(f: h5py.File, pipeline_json: str, pipeline_hash: str) -> None:
    f.attrs["format"] = FILE_FORMAT
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["signprep_version"] = __version__
    f.attrs["pipeline"] = pipeline_json
    f.attrs["pipeline_hash"] = pipeline_hash
    # who can read this file, without parsing the pipeline: LZF and LZ4 are no HDF5 built-ins
    codec = json.loads(pipeline_json).get("storage", {}).get("compression", "gzip")
    load_plugin(codec)  # pack_parts copies the chunks of a plugin codec: HDF5 must know its filter
    f.attrs["storage_codec"] = codec
    f.attrs["storage_readers"] = CODEC_READERS.get(codec, "unknown")


def _attr_value(v: Any) -> Any:
    # HDF5 attributes hold numbers, text and numeric arrays; None becomes "" and
    # anything nested becomes JSON text
    if v is None:
        return ""
    if isinstance(v, GlossSequence):
        return np.array(list(v), dtype=h5py.string_dtype())
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) for x in v):
        return np.asarray(v)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v)
    return v


def chunk_frames(a: np.ndarray, wanted: int, chunk_bytes: int = 2**20, one_frame_above: int | None = None) -> int:
    """Frames per chunk: `wanted`, fewer when a chunk would pass `chunk_bytes`, at least 1; one
    when a frame holds more than `one_frame_above` bytes."""
    frame_bytes = max(1, a[0].nbytes) if a.shape[0] else 1
    if one_frame_above is not None and frame_bytes > one_frame_above:
        return 1
    return max(1, min(wanted, a.shape[0], chunk_bytes // frame_bytes))


def write_part(
    parts_dir: Path,
    sample_id: str,
    arrays: dict[str, np.ndarray],
    attrs: dict[str, Any],
    *,
    pipeline_json: str,
    pipeline_hash: str,
    storage: Storage,
) -> Path:
    """Write one finished sample as `parts_dir/<safe_file_name(sample_id)>.h5`, atomically (the id
    itself may hold any letters; inside the file, the group keeps the real id).

    Datasets are chunked along time (`chunk_frames` frames per chunk, fewer for
    big frames, one for image frames) so a reader can fetch a slice of frames
    without decompressing the whole sample.
    """
    parts_dir.mkdir(parents=True, exist_ok=True)
    final = parts_dir / f"{safe_file_name(sample_id)}.h5"
    attrs = dict(attrs, content_sha256=content_sha256(arrays), pipeline_hash=pipeline_hash)
    filters = dataset_filters(storage.compression, storage.compression_level)
    with atomic_hdf5(final) as f:
        _write_file_attrs(f, pipeline_json, pipeline_hash)
        g = f.create_group(SAMPLES_GROUP).create_group(sample_id)
        for name, a in arrays.items():
            frames = chunk_frames(a, storage.chunk_frames, storage.chunk_bytes, storage.one_frame_chunks_above)
            chunks = (frames,) + a.shape[1:] if a.ndim else None
            g.create_dataset(name, data=a, chunks=chunks, **filters)
        for k, v in attrs.items():
            g.attrs[k] = _attr_value(v)
    return final


def _next_shard_number(out_dir: Path) -> int:
    numbers = [int(p.name[6:11]) for p in out_dir.glob("shard-[0-9][0-9][0-9][0-9][0-9].h5")]
    return max(numbers, default=-1) + 1


def pack_parts(out_dir: Path, parts: list[Path], index: ShardIndex, *, pipeline_json: str) -> Path:
    """Copy finished parts into a new shard, index it, then delete the parts.

    The order (shard renamed, index written, parts deleted) is what `recover`
    relies on: until the index names a shard, its parts are the truth.
    """
    name = f"shard-{_next_shard_number(out_dir):05d}.h5"
    final = out_dir / name
    entries = {}
    # Disk full mid-shard: no partial shard is left (it would hold space), the parts (the truth
    # until indexed) and the index stay as they were; a rerun packs them.
    with atomic_hdf5(final) as dst:
        _write_file_attrs(dst, pipeline_json, index.pipeline_hash)
        samples = dst.create_group(SAMPLES_GROUP)
        for part in parts:
            with h5py.File(part, "r") as src:
                for sample_id, g in src[SAMPLES_GROUP].items():
                    src.copy(g, samples, name=sample_id)  # raw chunk copy: no recompression
                    entries[sample_id] = _index_entry(g)
    index.add_shard(name, final, entries)
    index.save(out_dir)
    for part in parts:
        part.unlink(missing_ok=True)
    return final


def _index_entry(g: h5py.Group) -> dict[str, Any]:
    a = g.attrs
    entry = {
        "num_frames": int(a["num_frames"]),
        "gloss": str(a["gloss"]),
        "label": int(a["label"]),
        "split": str(a["split"]),
        "signer_id": str(a["signer_id"]),
        "content_sha256": str(a["content_sha256"]),
        # sentences: glosses in signing order ([] for an isolated sign) and the translation ("" if none);
        # shards written before these attributes existed have neither
        "glosses": [str(x) for x in a.get("glosses", ())],
        "translation": str(a.get("translation", "")),
    }
    if "keypoint_quality" in a:  # the filterable figures (docs/shards.md, "Keypoint quality")
        entry["quality"] = json.loads(a["keypoint_quality"])
    return entry


class ShardPacker:
    """Collects finished parts in the driver and packs them into bounded shards."""

    def __init__(self, out_dir: Path, index: ShardIndex, storage: Storage, pipeline_json: str) -> None:
        self.out_dir = out_dir
        self.index = index
        self.storage = storage
        self.pipeline_json = pipeline_json
        self.pending: list[Path] = []
        self._pending_bytes = 0

    def add(self, part: Path) -> None:
        self.pending.append(part)
        self._pending_bytes += part.stat().st_size
        if self._pending_bytes >= self.storage.max_shard_bytes:
            self.flush()

    def flush(self) -> None:
        # forget the parts before packing: if packing fails (disk full) they stay on disk for
        # the next run, and the runner's final flush must not try (and report) the same shard again
        pending, self.pending, self._pending_bytes = self.pending, [], 0
        if pending:
            pack_parts(self.out_dir, pending, self.index, pipeline_json=self.pipeline_json)
