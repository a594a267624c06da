"""Bring an output directory back to a consistent state after a kill.

Runs under the output lock at the start of every extract. Relies on the order
in `writer.pack_parts`: shard renamed -> index written -> parts deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from signprep.shards.index import ShardIndex
from signprep.shards.schema import SAMPLES_GROUP
from signprep.shards.writer import PARTS_DIR

log = logging.getLogger(__name__)


@dataclass
class Recovery:
    removed_tmp: list[str] = field(default_factory=list)
    removed_orphan_shards: list[str] = field(default_factory=list)
    removed_stale_parts: list[str] = field(default_factory=list)
    finished_parts: dict[str, Path] = field(default_factory=dict)  # sample id -> part, not yet packed


def recover(out_dir: Path, index: ShardIndex) -> Recovery:
    r = Recovery()
    parts_dir = out_dir / PARTS_DIR
    for tmp in list(out_dir.glob("*.tmp")) + list(parts_dir.glob("*.tmp")):
        tmp.unlink(missing_ok=True)  # a write that never finished
        r.removed_tmp.append(tmp.name)
    for shard in out_dir.glob("shard-*.h5"):
        if shard.name not in index.shards:
            # renamed but never indexed: its samples are still in parts/
            shard.unlink()
            r.removed_orphan_shards.append(shard.name)
    for part in sorted(parts_dir.glob("*.h5")):
        sample_id = _part_sample(part, index.pipeline_hash)  # the file's name is a safe stand-in for the id
        if sample_id is None or sample_id in index.samples or sample_id in r.finished_parts:
            part.unlink()  # unreadable/stale, or already packed (killed before the delete)
            r.removed_stale_parts.append(part.name)
        else:
            r.finished_parts[sample_id] = part
    if r.removed_tmp or r.removed_orphan_shards or r.removed_stale_parts:
        log.info(
            "recovered %s: %d unfinished writes, %d unindexed shards, %d stale parts removed",
            out_dir,
            len(r.removed_tmp),
            len(r.removed_orphan_shards),
            len(r.removed_stale_parts),
        )
    return r


def _part_sample(part: Path, pipeline_hash: str) -> str | None:
    """The sample id a finished part holds, or None if it is unreadable, of another pipeline or not one sample."""
    try:
        with h5py.File(part, "r") as f:
            samples = list(f[SAMPLES_GROUP]) if f.attrs.get("pipeline_hash") == pipeline_hash else []
    except (OSError, KeyError):
        return None
    return samples[0] if len(samples) == 1 else None
