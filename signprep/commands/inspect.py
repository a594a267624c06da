"""`signprep inspect`: the summary of a shard directory (pipeline, shards, samples, frames, bytes, datasets,
keypoint quality)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail
from signprep.commands.options import ShardsArg, shard_dir


def summarise(root: Path) -> dict:
    """The facts `inspect` prints, from the index and the first sample; exit 2 on a bad directory."""
    from signprep.kernels.keypoint_quality import summarise_figures
    from signprep.shards import SchemaError, ShardReader

    try:
        reader = ShardReader(root)
    except SchemaError as e:
        raise fail(str(e)) from None
    with reader:
        idx = reader.index
        frames = sum(e["num_frames"] for e in idx.samples.values())
        nbytes = sum(s["bytes"] for s in idx.shards.values())
        info = {
            "directory": str(root),
            "pipeline": idx.pipeline.get("name"),
            "pipeline_hash": idx.pipeline_hash,
            "shards": len(idx.shards),
            "samples": len(idx.samples),
            "frames": frames,
            "bytes": nbytes,
            "bytes_per_frame": round(nbytes / frames, 1) if frames else None,
            "splits": dict(Counter(e["split"] for e in idx.samples.values())),
            "glosses": len({e["gloss"] for e in idx.samples.values()}),
            "signers": len({e["signer_id"] for e in idx.samples.values()}),
        }
        if len(reader):
            first = reader[next(iter(reader))]
            info["example_sample"] = first.sample_id
            info["datasets"] = {n: f"{first[n].dtype} {list(first[n].shape)}" for n in first.datasets}
        qualities = [q for q in (reader.quality(s) for s in reader) if q is not None]
        if qualities:
            # docs/shards.md ("Keypoint quality"); recomputed from the arrays for shards written before the figures
            info["keypoint_quality"] = summarise_figures(qualities)
            info["samples_with_dominant_hand_below_half"] = sum(q["dominant_hand_fraction"] < 0.5 for q in qualities)
    return info


def inspect(
    shards: ShardsArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a shard directory.

    Its pipeline, shards, samples, frames, bytes per frame, splits, the datasets of one sample, and the
    keypoint quality figures over the samples (min, median, mean, max; docs/shards.md).
    """
    info = summarise(shard_dir(shards))
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    for k, v in info.items():
        if isinstance(v, dict):
            typer.echo(f"{k}:")
            for kk, vv in v.items():
                if isinstance(vv, dict):  # a quality figure's min, median, mean, max
                    vv = "  ".join(f"{stat} {value:g}" for stat, value in vv.items())
                typer.echo(f"  {kk}: {vv}")
        else:
            typer.echo(f"{k}: {v}")
