"""`signprep verify`: is a shard directory complete, readable and unaltered?

Checks, in order: the index parses; every indexed shard exists, has the sha256
the index recorded, and follows the schema; every indexed sample is in its
shard with the schema's attributes and datasets, and its data hashes to the
`content_sha256` written when it was extracted. `repair=True` moves bad shards
to `quarantine/` and drops them from the index, so the next extract of the
same manifest extracts their samples again.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from signprep.checksums import file_sha256
from signprep.shards.codecs import codec_name
from signprep.shards.index import ShardIndex
from signprep.shards.schema import (
    SAMPLES_GROUP,
    SchemaError,
    check_file,
    check_sample,
    content_sha256,
    read_sample_arrays,
)


@dataclass
class VerifyReport:
    shards_checked: int = 0
    samples_checked: int = 0
    problems: list[str] = field(default_factory=list)
    bad_shards: set[str] = field(default_factory=set)
    repaired_samples: list[str] = field(default_factory=list)
    codecs: Counter = field(default_factory=Counter)  # storage codec -> datasets checked that use it

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_dir(root: Path, *, repair: bool = False, checksums: bool = True) -> VerifyReport:
    root = Path(root)
    report = VerifyReport()
    index = ShardIndex.load(root)
    if index is None:
        raise SchemaError(f"{root}: no shard_index.json")
    for name, entry in sorted(index.shards.items()):
        path = root / name
        report.shards_checked += 1
        problem = _check_shard(path, entry, index, checksums, report)
        if problem:
            report.problems.append(problem)
            report.bad_shards.add(name)
    if repair and report.bad_shards:
        quarantine = root / "quarantine"
        quarantine.mkdir(exist_ok=True)
        for name in sorted(report.bad_shards):
            if (root / name).exists():
                shutil.move(str(root / name), quarantine / name)
            report.repaired_samples += index.remove_shard(name)
        index.save(root)
    return report


def _check_shard(path: Path, entry: dict, index: ShardIndex, checksums: bool, report: VerifyReport) -> str | None:
    if not path.exists():
        return f"{path.name}: missing (indexed with {len(entry['samples'])} samples)"
    if checksums and file_sha256(path) != entry["sha256"]:
        return f"{path.name}: sha256 differs from the index (file altered or corrupted)"
    try:
        with h5py.File(path, "r") as f:
            check_file(f, path.name)
            if f.attrs["pipeline_hash"] != index.pipeline_hash:
                return f"{path.name}: pipeline hash {f.attrs['pipeline_hash']} differs from the index's"
            for sample_id in entry["samples"]:
                if sample_id not in f[SAMPLES_GROUP]:
                    return f"{path.name}: indexed sample {sample_id} is absent"
                g = f[SAMPLES_GROUP][sample_id]
                check_sample(g, path.name)
                report.codecs.update(codec_name(ds) for ds in g.values() if isinstance(ds, h5py.Dataset))
                if checksums and content_sha256(read_sample_arrays(g)) != g.attrs["content_sha256"]:
                    return f"{path.name}: sample {sample_id} data does not match its content_sha256"
                report.samples_checked += 1
    except SchemaError as e:
        return str(e)
    except (OSError, KeyError, ValueError) as e:  # h5py raises these for damaged files
        return f"{path.name}: unreadable ({type(e).__name__}: {e})"
    return None
