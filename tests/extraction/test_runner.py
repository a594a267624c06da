"""The extract job: failures and missing videos, resume after SIGKILL, the output lock, pipeline changes."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hardening.hardening_processes import kill_group  # one SIGKILL-and-wait for every kill test

from signprep.extraction.lock import OutputLock, OutputLocked
from signprep.extraction.pipeline import load_pipeline
from signprep.extraction.runner import ERRORS_NAME, PipelineMismatch, run_extract
from signprep.manifests import Manifest, write_manifest
from signprep.shards import ShardReader
from signprep.shards.index import ShardIndex
from signprep.shards.schema import INDEX_NAME, SAMPLES_GROUP
from signprep.shards.verify import verify_dir
from signprep.shards.writer import PARTS_DIR

REPO = Path(__file__).resolve().parents[2]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".signprep.extraction.lock", "logs"))
    return dst


def _errors(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / ERRORS_NAME).read_text().splitlines()]


# ----------------------------------------------------------------- failures, missing, rerun
def test_broken_and_missing_videos_fail_alone(tmp_path: Path, records, keypoints_pipeline):
    broken_video = tmp_path / "broken.mp4"
    broken_video.write_text("not a video at all\n" * 100)
    good = records["90029"]
    broken = dataclasses.replace(good, sample_id="broken", video_id="broken", video_path=str(broken_video))
    gone = dataclasses.replace(good, sample_id="gone", video_id="gone", video_path=str(tmp_path / "gone.mp4"))
    manifest = Manifest([good, broken], missing=[gone])
    out = tmp_path / "out"

    summary = run_extract(manifest, keypoints_pipeline, out, workers=1, progress=False)
    assert summary.total == 3
    assert summary.done_now == 1 and summary.frames == 41 and summary.skipped == 0
    assert [r.sample_id for r in summary.failed] == ["broken"]
    failure = summary.failed[0]
    assert failure.stage == "decode" and str(broken_video) in failure.error
    assert [r.sample_id for r in summary.missing] == ["gone"]
    assert summary.exit_code == 1
    text = summary.render()
    assert "failed  broken [decode]" in text and "missing gone" in text and ERRORS_NAME in text
    rows = {row["sample_id"]: row for row in _errors(out)}
    assert rows["broken"]["status"] == "failed" and rows["broken"]["stage"] == "decode"
    assert str(broken_video) in rows["broken"]["error"]
    assert rows["gone"]["status"] == "missing_video" and rows["gone"]["video_path"] == str(tmp_path / "gone.mp4")
    assert len(rows) == 2
    with ShardReader(out) as reader:
        assert list(reader) == ["90029"] and reader["90029"].num_frames == 41
    # the run wrote the manifest it ran, the missing record included
    written = [json.loads(line)["sample_id"] for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(written) == ["90029", "broken", "gone"]

    # rerun: the good one is skipped, the broken one tried again
    shard_bytes = {p.name: p.read_bytes() for p in out.glob("shard-*.h5")}
    again = run_extract(manifest, keypoints_pipeline, out, workers=1, progress=False)
    assert again.skipped == 1 and again.done_now == 0
    assert [r.sample_id for r in again.failed] == ["broken"] and again.failed[0].stage == "decode"
    assert again.exit_code == 1
    assert {p.name: p.read_bytes() for p in out.glob("shard-*.h5")} == shard_bytes
    assert sorted(row["sample_id"] for row in _errors(out)) == ["broken", "gone"]

    # the video gets fixed: the next run extracts it and the errors file empties
    shutil.copy(good.video_path, broken_video)
    fixed = run_extract(manifest, keypoints_pipeline, out, workers=1, progress=False)
    assert fixed.done_now == 1 and not fixed.failed and fixed.exit_code == 0
    assert [row["sample_id"] for row in _errors(out)] == ["gone"]
    with ShardReader(out) as reader:
        assert sorted(reader) == ["90029", "broken"]
        np.testing.assert_array_equal(reader["broken"].read("keypoints"), reader["90029"].read("keypoints"))
    assert verify_dir(out).ok


def test_rerun_of_a_finished_directory_changes_nothing(reference_run, tmp_path: Path, small_manifest):
    src, _, pipeline_file = reference_run
    out = _copy(src, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.glob("shard-*.h5")}
    index_before = (out / INDEX_NAME).read_text()
    summary = run_extract(small_manifest, load_pipeline(pipeline_file), out, workers=2, progress=False)
    assert summary.done_now == 0 and summary.skipped == len(small_manifest.records) and summary.exit_code == 0
    assert {p.name: p.read_bytes() for p in out.glob("shard-*.h5")} == before
    assert (out / INDEX_NAME).read_text() == index_before


# ----------------------------------------------------------------- SIGKILL and resume
def _files(out: Path, with_tmp: bool = False) -> set[str]:
    names = {p.name for p in out.glob("shard-*.h5")} | {f"parts/{p.name}" for p in (out / PARTS_DIR).glob("*.h5")}
    if with_tmp:
        names |= {p.name for p in out.glob("*.tmp")} | {f"parts/{p.name}" for p in (out / PARTS_DIR).glob("*.tmp")}
    return names


def _extract_command(tmp_path: Path, manifest: Manifest, pipeline_file: Path, out: Path, workers: int) -> list[str]:
    """`signprep extract` of `manifest` (written to tmp_path/manifest.jsonl) as a command line."""
    manifest_file = tmp_path / "manifest.jsonl"
    write_manifest(manifest.records, manifest_file)
    cmd = [sys.executable, "-m", "signprep.cli", "extract", "--manifest", str(manifest_file), "--out", str(out)]
    return cmd + ["--pipeline", str(pipeline_file), "--workers", str(workers), "--no-progress"]


def test_sigkill_at_several_moments_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, reference_run, small_manifest, write_pipeline, read_samples
):
    ref_out, _, _ = reference_run
    # two parts per shard: a kill can leave finished-but-unpacked parts as well as shards
    pipeline_file = write_pipeline(tmp_path / "pairs.yaml", storage={"max_shard_mb": 0.4})
    out = tmp_path / "out"
    cmd = _extract_command(tmp_path, small_manifest, pipeline_file, out, workers=2)
    expected = sorted(r.sample_id for r in small_manifest.records)

    # (wait for, extra delay): a finished part/shard; the first sign of any write (a *.tmp
    # included: possibly mid-write or mid-pack); a new file plus a short delay
    moments = [("new file", False, 0.0), ("any write", True, 0.0), ("new file + 0.3 s", False, 0.3)]
    kills = []
    for n, (label, with_tmp, delay) in enumerate(moments):
        before = _files(out, with_tmp) if out.exists() else set()
        log = open(tmp_path / f"run{n}.log", "w")
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while proc.poll() is None and not (out.exists() and _files(out, with_tmp) - before):
                assert time.monotonic() < deadline, f"no output after 120 s ({label})"
                time.sleep(0.01)
            if proc.poll() is not None:
                break  # it finished before this moment came: nothing left to interrupt
            if n == 0:
                # a second writer is refused while the first one runs, naming the directory
                with pytest.raises(OutputLocked, match=str(out)):
                    run_extract(small_manifest, load_pipeline(pipeline_file), out, progress=False)
            time.sleep(delay)
            if proc.poll() is not None:
                break
            kill_group(proc)
            kills.append((label, sorted(_files(out, True))))
        finally:
            if proc.poll() is None:
                kill_group(proc)
            log.close()
    print("kills (moment, files at the kill):", kills)
    assert kills, "no run was interrupted"
    assert kills[0][1], "the first kill came before any file was written"

    final = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    print(final.stdout)
    assert final.returncode == 0, final.stdout + final.stderr
    skipped = int(final.stdout.split("skipped (done)")[1].split(":")[1].split()[0])
    assert skipped >= 1, f"nothing survived the kills {kills}:\n{final.stdout}"

    index = ShardIndex.load(out)
    assert sorted(index.samples) == expected
    groups = []
    for shard in sorted(out.glob("shard-*.h5")):
        with h5py.File(shard, "r") as f:
            groups += list(f[SAMPLES_GROUP])
    assert sorted(groups) == expected, f"each sample exactly once across the shards; kills: {kills}"
    assert sorted(index.shards) == sorted(p.name for p in out.glob("shard-*.h5"))
    assert not list(out.rglob("*.tmp"))
    assert not list((out / PARTS_DIR).glob("*")) if (out / PARTS_DIR).exists() else True
    report = verify_dir(out)
    assert report.ok, report.problems
    assert report.samples_checked == len(expected)

    resumed, reference = read_samples(out), read_samples(ref_out)
    for sid in expected:
        a, b = resumed[sid], reference[sid]
        assert sorted(a) == sorted(b)
        np.testing.assert_array_equal(a["frame_indices"], b["frame_indices"], err_msg=sid)
        np.testing.assert_array_equal(a["keypoint_present"], b["keypoint_present"], err_msg=sid)
        np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=1e-3, err_msg=sid)
        np.testing.assert_allclose(a["keypoint_confidence"], b["keypoint_confidence"], atol=1e-3, err_msg=sid)


# ----------------------------------------------------------------- the lock
def test_a_held_lock_refuses_a_second_writer(tmp_path: Path, small_manifest, keypoints_pipeline):
    from typer.testing import CliRunner

    from signprep.cli import app

    out = tmp_path / "out"
    manifest_file = tmp_path / "m.jsonl"
    write_manifest(small_manifest.records, manifest_file)
    with OutputLock(out):
        with pytest.raises(OutputLocked, match=str(out)) as e:
            run_extract(small_manifest, keypoints_pipeline, out, progress=False)
        assert f"pid {os.getpid()}" in str(e.value)
        result = CliRunner().invoke(app, ["extract", "--manifest", str(manifest_file), "--out", str(out)])
        assert result.exit_code == 3, result.output
        assert str(out) in result.output and "another signprep process" in result.output
        with pytest.raises(OutputLocked):  # a second holder in the same process too
            OutputLock(out).__enter__()
    assert not (out / INDEX_NAME).exists()  # refused runs wrote nothing
    with OutputLock(out):  # released on exit
        pass


def test_the_lock_dies_with_its_holder(tmp_path: Path):
    out = tmp_path / "out"
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom signprep.extraction.lock import OutputLock\n"
        "with OutputLock(Path(sys.argv[1])):\n    print('locked', flush=True)\n    time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLocked, match=f"pid {proc.pid}"):
            OutputLock(out).__enter__()
    finally:
        proc.kill()
        proc.wait()
    with OutputLock(out):  # SIGKILL released it: no stale lock
        pass


# ----------------------------------------------------------------- pipeline changes
def test_another_pipeline_is_refused_then_force_extracts_again(
    reference_run, tmp_path: Path, records, write_pipeline, keypoints_pipeline
):
    from typer.testing import CliRunner

    from signprep.cli import app

    src, _, _ = reference_run
    out = _copy(src, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.glob("shard-*.h5")}
    # smaller frames: another pipeline hash (model_complexity 0/2 would need a model download)
    fast_file = write_pipeline(tmp_path / "small-frames.yaml", decode={"resize_short_side": 160})
    fast = load_pipeline(fast_file)
    assert fast.content_hash() != keypoints_pipeline.content_hash()
    one = Manifest([records["90029"]])

    with pytest.raises(PipelineMismatch) as e:
        run_extract(one, fast, out, progress=False)
    message = str(e.value)
    assert str(out) in message and fast.content_hash() in message and keypoints_pipeline.content_hash() in message
    assert "--force" in message
    assert {p.name: p.read_bytes() for p in out.glob("shard-*.h5")} == before  # untouched

    manifest_file = tmp_path / "one.jsonl"
    write_manifest(one.records, manifest_file)
    cli = ["extract", "--manifest", str(manifest_file), "--out", str(out), "--pipeline", str(fast_file)]
    result = CliRunner().invoke(app, cli + ["--workers", "1", "--no-progress"])
    assert result.exit_code == 3, result.output
    assert "another pipeline" in result.output
    assert {p.name: p.read_bytes() for p in out.glob("shard-*.h5")} == before

    summary = run_extract(one, fast, out, force=True, workers=1, progress=False)
    assert summary.done_now == 1 and summary.skipped == 0 and summary.exit_code == 0
    index = ShardIndex.load(out)
    assert index.pipeline_hash == fast.content_hash()
    assert index.pipeline["decode"]["resize_short_side"] == 160
    assert sorted(index.samples) == ["90029"]
    assert sorted(p.name for p in out.glob("shard-*.h5")) == sorted(index.shards)
    with ShardReader(out) as reader:
        sample = reader["90029"]
        assert sample.attrs["pipeline_hash"] == fast.content_hash()
        assert (sample.attrs["width"], sample.attrs["height"]) == (213, 160)
        assert sample.attrs["scale"] == pytest.approx([213 / 320, 160 / 240])  # x, y of the rounded size
        assert sample.num_frames == 41
    assert verify_dir(out).ok


def test_shards_without_an_index_are_never_deleted_unasked(reference_run, tmp_path: Path, small_manifest):
    src, _, pipeline_file = reference_run
    out = _copy(src, tmp_path / "out")
    (out / INDEX_NAME).unlink()
    before = {p.name: p.read_bytes() for p in out.glob("shard-*.h5")}
    with pytest.raises(PipelineMismatch, match=INDEX_NAME):
        run_extract(small_manifest, load_pipeline(pipeline_file), out, progress=False)
    assert {p.name: p.read_bytes() for p in out.glob("shard-*.h5")} == before


def test_a_repeated_sample_id_is_rejected_and_the_first_record_extracted(tmp_path: Path, records):
    from signprep.extraction.pipeline import parse_pipeline

    cheap = parse_pipeline({"name": "frames-only", "stages": {"keypoints": None, "frames": {"size": [32, 32]}}})
    later = dataclasses.replace(records["90031"], sample_id="90029")  # another video under a used id
    manifest = Manifest([records["90029"], records["90012"], later])
    summary = run_extract(manifest, cheap, tmp_path / "out", workers=1, progress=False)
    assert (summary.done_now, summary.exit_code, len(summary.rejected)) == (2, 1, 1)
    assert summary.rejected[0].sample_id == "90029" and "first is kept" in summary.rejected[0].reason
    with ShardReader(tmp_path / "out") as reader:
        assert sorted(reader) == ["90012", "90029"]
        assert reader["90029"].attrs["source_path"] == records["90029"].video_path  # the first record's
    rows = [json.loads(line) for line in (tmp_path / "out" / ERRORS_NAME).read_text().splitlines()]
    assert [(r["status"], r["sample_id"]) for r in rows] == [("rejected", "90029")]


def test_the_run_summary_is_written_for_scripts(reference_run):
    out, summary, _ = reference_run
    data = json.loads((out / "extract_summary.json").read_text())
    assert data["done_now"] == summary.done_now and data["exit_code"] == 0 and data["missing"] == []


# ----------------------------------------------------------------- SIGTERM (a scheduler's stop)
def test_sigterm_keeps_the_finished_samples_writes_the_summary_and_exits_130(
    tmp_path: Path, small_manifest, write_pipeline
):
    # one part per shard: each finished sample is packed (indexed) at once
    pipeline_file = write_pipeline(tmp_path / "small-shards.yaml", storage={"max_shard_mb": 0.05})
    out = tmp_path / "out"
    cmd = _extract_command(tmp_path, small_manifest, pipeline_file, out, workers=1)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        # a sample indexed (a shard alone can be mid-pack: renamed, the index not yet written)
        while proc.poll() is None and not ((out / INDEX_NAME).exists() and ShardIndex.load(out).samples):
            assert time.monotonic() < deadline, "no sample indexed after 120 s"
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before the stop: nothing left to interrupt"
        proc.send_signal(signal.SIGTERM)  # what Slurm sends at the time limit, before SIGKILL
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "interrupted: finished samples were kept" in output
    summary = json.loads((out / "extract_summary.json").read_text())
    index = ShardIndex.load(out)
    assert summary["interrupted"] is True and summary["exit_code"] == 130
    assert 1 <= len(index.samples) < len(small_manifest.records)  # the finished ones, not the rest
    assert not list(out.rglob("*.tmp"))
    assert verify_dir(out).ok
