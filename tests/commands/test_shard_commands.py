"""`signprep inspect` and `signprep verify` on a shard directory (SHARDS, the first argument)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from signprep.cli import app
from signprep.shards import ShardReader


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".signprep.extraction.lock", "logs"))
    return dst


def test_inspect(reference_run, small_ids):
    out, _, _ = reference_run
    result = invoke("inspect", out)
    assert result.exit_code == 0, result.output
    assert f"samples: {len(small_ids)}" in result.output
    assert "frames: 160" in result.output  # 41 + 62 + 57
    assert "keypoints: float32 [" in result.output and "frame_indices: int32 [" in result.output

    result = invoke("inspect", out, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["samples"] == len(small_ids) and info["frames"] == 160 and info["shards"] == len(small_ids)
    assert info["pipeline"] == "keypoints" and info["splits"] == {"train": len(small_ids)}
    assert info["bytes"] == sum(p.stat().st_size for p in out.glob("shard-*.h5"))
    assert set(info["datasets"]) == {"frame_indices", "keypoint_confidence", "keypoint_present", "keypoints"}
    n = ShardReader(out)[info["example_sample"]].num_frames
    assert info["datasets"]["keypoints"] == f"float32 [{n}, 543, 3]"
    with ShardReader(out) as reader:
        fractions = sorted(reader.quality(s)["dominant_hand_fraction"] for s in reader)
    dominant = info["keypoint_quality"]["dominant_hand_fraction"]
    assert (dominant["min"], dominant["median"], dominant["max"]) == (fractions[0], fractions[1], fractions[2])
    assert info["samples_with_dominant_hand_below_half"] == sum(f < 0.5 for f in fractions)
    assert "dominant_hand_fraction: min " in invoke("inspect", out).output


def test_inspect_of_a_non_shard_directory_is_a_usage_error(tmp_path: Path):
    result = invoke("inspect", tmp_path)
    assert result.exit_code == 2 and str(tmp_path) in result.output
    result = invoke("inspect")
    assert result.exit_code == 2 and "missing SHARDS" in result.output


def test_verify_ok_and_a_corrupt_shard(reference_run, tmp_path: Path, small_ids):
    out, _, _ = reference_run
    result = invoke("verify", out)
    assert result.exit_code == 0, result.output
    assert f"checked {len(small_ids)} shards, {len(small_ids)} samples" in result.output
    assert result.output.strip().endswith("ok")

    bad = _copy(out, tmp_path / "bad")
    shard = bad / "shard-00000.h5"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = invoke("verify", bad)
    assert result.exit_code == 1 and "problem: shard-00000.h5" in result.output
    result = invoke("verify", bad, "--repair")
    assert result.exit_code == 1 and "1 shards quarantined, 1 samples unindexed" in result.output
    result = invoke("verify", bad)
    assert result.exit_code == 0 and f"{len(small_ids) - 1} samples" in result.output
