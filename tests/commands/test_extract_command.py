"""`signprep extract`: pipeline and input errors, resume from a manifest, --quiet; the README's main command."""

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

from signprep.cli import app
from signprep.manifests import Manifest, write_manifest
from signprep.shards import ShardReader
from signprep.shards.verify import verify_dir

SIGNPREP = Path(sys.executable).parent / "signprep"  # the console script of this virtualenv


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".signprep.extraction.lock", "logs"))
    return dst


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


def test_quiet_extracts_without_a_progress_bar(tmp_path: Path, records, write_pipeline):
    manifest_file = tmp_path / "m.jsonl"
    write_manifest(Manifest([records["90029"]]).records, manifest_file)
    pipeline_file = write_pipeline(tmp_path / "keypoints-12fps.yaml", decode={"fps": 12})
    args = ["extract", "--manifest", manifest_file, "-p", pipeline_file, "-j", "1"]
    loud = invoke(*args, "-o", tmp_path / "loud")
    quiet = invoke("--quiet", *args, "-o", tmp_path / "quiet")
    assert loud.exit_code == 0 and quiet.exit_code == 0, loud.output + quiet.output
    assert "extract: 100%|" in loud.output and "%|" not in quiet.output
    assert "extracted now       : 1" in quiet.output  # the summary is the result: still printed


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


def test_backend_choices_are_the_runners_backends():
    from signprep.commands.extract import Backend
    from signprep.extraction.backends import BACKENDS

    assert tuple(b.value for b in Backend) == BACKENDS
