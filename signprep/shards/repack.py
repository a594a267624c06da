"""Rewrite a shard directory with other storage settings (codec, chunking), same samples.

    from signprep.shards.repack import repack
    from signprep.shards.writer import Storage
    repack("out/wlasl", "out/wlasl-lzf", Storage(compression="lzf"))

Storage knobs are not part of the pipeline hash (`PipelineConfig.content_hash`), so the
copy keeps the hash, every sample's attributes and its `content_sha256` (the data are
equal; only their bytes on disk differ); its index and shard attributes record the new
`storage` section. Shards of an older storage default stay readable as they are: this is
for moving them to a faster codec, and what `benchmarks/codecs.py` measures with.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py

from signprep.shards.index import ShardIndex
from signprep.shards.schema import SAMPLES_GROUP, SchemaError, content_sha256, read_sample_arrays
from signprep.shards.writer import ShardPacker, Storage, write_part


def repack(src: str | Path, dst: str | Path, storage: Storage) -> ShardIndex:
    """Copy every indexed sample of `src` into a new shard directory `dst` written with `storage`.

    `dst` must not hold an index yet. Returns the new index. Samples are written one part
    at a time and packed into shards of at most `storage.max_shard_bytes`, as an extraction does.
    """
    src, dst = Path(src), Path(dst)
    index = ShardIndex.load(src)
    if index is None:
        raise SchemaError(f"{src}: no shard_index.json to repack")
    if ShardIndex.load(dst) is not None:
        raise SchemaError(f"{dst}: already holds a shard index; repack writes a new directory")
    pipeline = dict(index.pipeline, storage=_storage_section(storage, index.pipeline.get("storage", {})))
    pipeline_json = json.dumps(pipeline, sort_keys=True)
    new_index = ShardIndex(index.pipeline_hash, pipeline)
    dst.mkdir(parents=True, exist_ok=True)
    packer = ShardPacker(dst, new_index, storage, pipeline_json)
    with tempfile.TemporaryDirectory(prefix=".repack-", dir=dst) as parts:
        for name, shard in sorted(index.shards.items()):
            with h5py.File(src / name, "r") as f:
                for sample_id in shard["samples"]:
                    group = f[SAMPLES_GROUP][sample_id]
                    arrays = read_sample_arrays(group)
                    if content_sha256(arrays) != group.attrs["content_sha256"]:
                        raise SchemaError(f"{src / name}: sample {sample_id} does not match its content_sha256")
                    attrs = {k: v for k, v in group.attrs.items() if k not in ("content_sha256", "pipeline_hash")}
                    packer.add(
                        write_part(
                            Path(parts),
                            sample_id,
                            arrays,
                            attrs,
                            pipeline_json=pipeline_json,
                            pipeline_hash=index.pipeline_hash,
                            storage=storage,
                        )
                    )
        packer.flush()
    return new_index


def _storage_section(storage: Storage, old: dict) -> dict:
    section = dict(old)
    section.update(
        compression=storage.compression,
        compression_level=storage.compression_level,
        chunk_frames=storage.chunk_frames,
        chunk_kib=storage.chunk_bytes / 1024,
        one_frame_chunks_above_kib=None
        if storage.one_frame_chunks_above is None
        else storage.one_frame_chunks_above / 1024,
        max_shard_mb=storage.max_shard_bytes / 2**20,
    )
    return section
