"""`shard_index.json`: which shard holds each sample, with the shard checksums.

The index is the source of truth for "done": a sample is done when the index
names it. It is rewritten atomically after every shard is packed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from signprep.atomic import atomic_write_text
from signprep.checksums import file_sha256
from signprep.shards.schema import INDEX_NAME, SCHEMA_VERSION, SchemaError


class ShardIndex:
    def __init__(self, pipeline_hash: str, pipeline: dict[str, Any]) -> None:
        self.pipeline_hash = pipeline_hash
        self.pipeline = pipeline
        self.shards: dict[str, dict[str, Any]] = {}
        self.samples: dict[str, dict[str, Any]] = {}

    @classmethod
    def load(cls, out_dir: Path) -> ShardIndex | None:
        path = Path(out_dir) / INDEX_NAME
        if not path.exists():
            return None
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if d.get("format") != "signprep-shard-index":
                raise SchemaError(f"{path}: not a signprep shard index")
            if int(d["schema_version"]) > SCHEMA_VERSION:
                raise SchemaError(f"{path}: schema version {d['schema_version']} is newer than this signprep reads")
            index = cls(d["pipeline_hash"], d["pipeline"])
            index.shards = d["shards"]
            index.samples = d["samples"]
            _check_structure(index)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise SchemaError(f"{path}: unreadable shard index ({e})") from None
        return index

    def add_shard(self, name: str, path: Path, samples: dict[str, dict[str, Any]]) -> None:
        self.shards[name] = {
            "sha256": file_sha256(path),
            "bytes": path.stat().st_size,
            "samples": sorted(samples),
        }
        for sample_id, entry in samples.items():
            self.samples[sample_id] = dict(entry, shard=name)

    def remove_shard(self, name: str) -> list[str]:
        """Forget a shard (e.g. a corrupt one); returns the sample ids it held."""
        entry = self.shards.pop(name, {"samples": []})
        for sample_id in entry["samples"]:
            self.samples.pop(sample_id, None)
        return entry["samples"]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": "signprep-shard-index",
                "schema_version": SCHEMA_VERSION,
                "pipeline_hash": self.pipeline_hash,
                "pipeline": self.pipeline,
                "shards": self.shards,
                "samples": self.samples,
            },
            indent=1,
            sort_keys=True,
        )

    def save(self, out_dir: Path) -> None:
        atomic_write_text(Path(out_dir) / INDEX_NAME, self.to_json())


def output_conflict(out_dir: Path, index: ShardIndex | None, pipeline_name: str, pipeline_hash: str) -> str | None:
    """Why `out_dir` (with its loaded `index`) cannot take this pipeline's shards unless its
    shards are deleted first, or None: its index is another pipeline's, or it holds shard files
    but no index, so no signprep run we can trust wrote them. `signprep extract` refuses such a
    directory without --force; `signprep plan --out` reports it."""
    if index is not None and index.pipeline_hash != pipeline_hash:
        return (
            f"{out_dir} holds shards of another pipeline configuration ({index.pipeline.get('name')!r}, "
            f"hash {index.pipeline_hash}; this pipeline: {pipeline_name!r}, hash {pipeline_hash})"
        )
    if index is None and any(Path(out_dir).glob("shard-*.h5")):
        return f"{out_dir} holds shard files but no {INDEX_NAME}"
    return None


def _check_structure(index: ShardIndex) -> None:
    """Raise ValueError unless the shards and samples tables have the types and cross-references
    the writer produces. An index arrives with shards from elsewhere: a `samples` list instead of
    a mapping made `signprep verify` check nothing and print "ok" (found by tests/hardening)."""
    if not isinstance(index.pipeline_hash, str) or not isinstance(index.pipeline, dict):
        raise ValueError("'pipeline_hash' must be a string and 'pipeline' a mapping")
    if not isinstance(index.shards, dict) or not isinstance(index.samples, dict):
        raise ValueError("'shards' and 'samples' must be mappings")
    for sample_id, entry in index.samples.items():
        if not isinstance(entry, dict) or entry.get("shard") not in index.shards:
            raise ValueError(f"sample {sample_id!r} names no indexed shard")
    for name, entry in index.shards.items():
        # shard names become paths that verify --repair moves: never outside the directory
        if not isinstance(name, str) or not re.fullmatch(r"shard-\d{5,}\.h5", name):
            raise ValueError(f"shard name {name!r} is not shard-NNNNN.h5")
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or not isinstance(entry.get("samples"), list)
        ):
            raise ValueError(f"shard {name!r}: expected {{sha256, bytes, samples: [...]}}")
        for sample_id in entry["samples"]:
            if not isinstance(sample_id, str) or index.samples.get(sample_id, {}).get("shard") != name:
                raise ValueError(f"shard {name!r} lists sample {sample_id!r}, which the samples table puts elsewhere")
