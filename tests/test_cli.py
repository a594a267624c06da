"""The `signprep` command line: manifest, extract, inspect, verify, exit codes; the README's main command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from signprep import __version__
from signprep.cli import app
from signprep.manifests import read_manifest, write_manifest
from signprep.shards import ShardReader
from signprep.shards.verify import verify_dir

SIGNPREP = Path(sys.executable).parent / "signprep"  # the console script of this virtualenv


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".signprep.extraction.lock", "logs"))
    return dst


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"signprep {__version__}"
    run = subprocess.run([SIGNPREP, "--version"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == f"signprep {__version__}"


def test_manifest_of_the_sample_download(tmp_path: Path, wlasl_root: Path):
    out = tmp_path / "m.jsonl"
    result = invoke("manifest", "wlasl", "--root", wlasl_root, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"38 samples: 37 with video, 1 missing video -> {out}" in result.output
    assert "missing 99999:" in result.output and str(wlasl_root / "videos" / "99999.mp4") in result.output
    records = read_manifest(out)
    assert len(records) == 38 and len({r.sample_id for r in records}) == 38
    assert sum(1 for r in records if Path(r.video_path).is_file()) == 37


def test_manifest_of_a_missing_root_is_a_usage_error(tmp_path: Path):
    result = invoke("manifest", "wlasl", "--root", tmp_path / "nowhere", "--out", tmp_path / "m.jsonl")
    assert result.exit_code == 2
    assert "nowhere" in result.output


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


def test_inspect_of_a_non_shard_directory_is_a_usage_error(tmp_path: Path):
    result = invoke("inspect", tmp_path)
    assert result.exit_code == 2 and str(tmp_path) in result.output


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


def test_bad_pipeline_key_is_a_usage_error_naming_the_key(tmp_path: Path, small_manifest, write_pipeline):
    manifest_file = tmp_path / "m.jsonl"
    write_manifest(small_manifest.records, manifest_file)
    pipeline_file = write_pipeline(tmp_path / "typo.yaml", stages={"keypoints": {"model_complexty": 1}})
    result = invoke("extract", "--manifest", manifest_file, "--out", tmp_path / "out", "--pipeline", pipeline_file)
    assert result.exit_code == 2, result.output
    assert "stages.keypoints.model_complexty: unknown key" in result.output
    assert str(pipeline_file) in result.output
    assert not (tmp_path / "out").exists()  # refused before touching the output

    pipeline_file.write_text("name: x\nstorage:\n  max_shard_mb: -1\n")
    result = invoke("extract", "--manifest", manifest_file, "--out", tmp_path / "out", "--pipeline", pipeline_file)
    assert result.exit_code == 2 and "storage.max_shard_mb" in result.output

    result = invoke("extract", "--manifest", manifest_file, "--out", tmp_path / "out", "--pipeline", "no-such")
    assert result.exit_code == 2 and "no-such" in result.output and "keypoints" in result.output


def test_extract_needs_root_or_manifest(tmp_path: Path):
    result = invoke("extract", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "--manifest" in result.output


def test_extract_from_a_manifest_reports_missing_videos_and_skips_done(
    reference_run, tmp_path: Path, small_manifest, records
):
    src, _, pipeline_file = reference_run
    out = _copy(src, tmp_path / "out")
    manifest_file = tmp_path / "m.jsonl"
    write_manifest(small_manifest.records + [records["99999"]], manifest_file)
    result = invoke(
        "extract", "--manifest", manifest_file, "--out", out, "--pipeline", pipeline_file, "--workers", "1",
        "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # a missing video is reported, not a failure
    assert f"skipped (done)      : {len(small_manifest.records)}" in result.output
    assert "missing video       : 1" in result.output and "missing 99999" in result.output
    rows = [json.loads(line) for line in (out / "extract_errors.jsonl").read_text().splitlines()]
    assert [(r["sample_id"], r["status"]) for r in rows] == [("99999", "missing_video")]


# ----------------------------------------------------------------- the README's main command
@pytest.mark.slow
def test_readme_command_extracts_the_whole_sample_corpus(
    tmp_path: Path, wlasl_root: Path, wlasl_manifest, reference_run, read_samples
):
    out = tmp_path / "wlasl-sample"
    cmd = [SIGNPREP, "extract", "--dataset", "wlasl", "--root", wlasl_root, "--out", out, "--workers", "2"]
    run = subprocess.run([str(c) for c in cmd + ["--no-progress"]], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "samples in manifest : 38" in run.stdout
    assert "extracted now       : 37 (4828 frames" in run.stdout
    assert "failed              : 0" in run.stdout
    assert "missing video       : 1" in run.stdout and "missing 99999" in run.stdout
    rows = [json.loads(line) for line in (out / "extract_errors.jsonl").read_text().splitlines()]
    assert [(r["sample_id"], r["status"]) for r in rows] == [("99999", "missing_video")]

    expected = sorted(r.sample_id for r in wlasl_manifest.records)
    with ShardReader(out) as reader:
        assert sorted(reader) == expected and len(reader) == 37
        frames = {sid: reader[sid].num_frames for sid in reader}
        assert sum(frames.values()) == 4828
        for sid in reader:
            assert reader[sid].read("frame_indices").shape[0] == frames[sid]
    assert frames["90012"] == 62 and frames["90033"] == 627
    report = verify_dir(out)
    assert report.ok, report.problems
    assert report.samples_checked == 37

    info = json.loads(invoke("inspect", out, "--json").output)
    assert info["samples"] == 37 and info["frames"] == 4828
    splits = Counter(r.split for r in wlasl_manifest.records)
    assert info["splits"] == dict(splits)

    # the same pipeline on the same clips, next to 34 other videos in the same workers,
    # gives what the small reference run gave: no tracking state leaks between videos
    ref_out, _, _ = reference_run
    full, reference = read_samples(out), read_samples(ref_out)
    for sid, arrays in reference.items():
        np.testing.assert_array_equal(full[sid]["frame_indices"], arrays["frame_indices"], err_msg=sid)
        np.testing.assert_array_equal(full[sid]["keypoint_present"], arrays["keypoint_present"], err_msg=sid)
        np.testing.assert_allclose(full[sid]["keypoints"], arrays["keypoints"], atol=1e-3, err_msg=sid)

    # a rerun of the same command has nothing left to do
    again = subprocess.run([str(c) for c in cmd + ["--no-progress"]], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "extracted now       : 0" in again.stdout and "skipped (done)      : 37" in again.stdout
