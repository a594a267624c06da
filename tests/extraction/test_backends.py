"""`extract --backend dask`: a real local Dask cluster gives the loky backend's shards, and survives a killed worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from signprep.extraction import backends
from signprep.extraction.backends import BackendError, check_backend
from signprep.extraction.pipeline import load_pipeline
from signprep.extraction.runner import run_extract
from signprep.manifests import Manifest, write_manifest
from signprep.shards.index import ShardIndex
from signprep.shards.schema import SAMPLES_GROUP
from signprep.shards.verify import verify_dir
from signprep.shards.writer import PARTS_DIR

distributed = pytest.importorskip(
    "distributed", reason="the dask backend needs `distributed` (pip install 'signprep[dask]', part of the dev extra)"
)

dask = pytest.importorskip("dask")

REPO = Path(__file__).resolve().parents[2]


def _assert_same_samples(out: Path, ref_out: Path, read_samples) -> None:
    """Every sample once across the shards, verified, and equal dataset by dataset to the loky reference."""
    reference = read_samples(ref_out)
    groups = []
    for shard in sorted(out.glob("shard-*.h5")):
        with h5py.File(shard, "r") as f:
            groups += list(f[SAMPLES_GROUP])
    assert sorted(groups) == sorted(reference), "each sample exactly once across the shards"
    assert sorted(ShardIndex.load(out).samples) == sorted(reference)
    assert not list((out / PARTS_DIR).glob("*")) if (out / PARTS_DIR).exists() else True
    report = verify_dir(out)
    assert report.ok, report.problems
    got = read_samples(out)
    for sid, datasets in reference.items():
        assert sorted(got[sid]) == sorted(datasets), sid
        for name, expected in datasets.items():
            np.testing.assert_array_equal(got[sid][name], expected, err_msg=f"{sid}/{name}")


def test_the_cli_on_a_local_dask_cluster_writes_the_loky_shards(
    tmp_path: Path, reference_run, small_manifest, read_samples
):
    ref_out, ref_summary, pipeline_file = reference_run
    manifest_file = tmp_path / "manifest.jsonl"
    write_manifest(small_manifest.records, manifest_file)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "signprep.cli", "extract", "--manifest", str(manifest_file), "--out", str(out)]
    cmd += ["--pipeline", str(pipeline_file), "--backend", "dask", "--workers", "2", "--no-progress"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"extracted now       : 3 ({ref_summary.frames} frames" in run.stdout
    # MediaPipe's native logs and the cluster's logging go to log files, not the terminal
    noise = [line for line in run.stderr.splitlines() if line[:5] in ("W0000", "I0000") or "distributed." in line]
    assert not noise, run.stderr
    assert (out / "logs" / "native.log").stat().st_size > 0
    assert "distributed.scheduler" in (out / "logs" / "cluster.log").read_text()
    assert len(list(out.glob("shard-*.h5"))) == len(list(ref_out.glob("shard-*.h5")))
    _assert_same_samples(out, ref_out, read_samples)


def _executing_samples(dask_worker) -> list[str]:
    """Sample ids whose task runs on this worker right now (runs inside the worker, via client.run)."""
    ids = []
    for task in dask_worker.state.executing:
        args = getattr(task.run_spec, "args", ())
        ids += [a.sample_id for a in args if hasattr(a, "sample_id")]
    return ids


def _extract_killing_a_worker_mid_video(manifest, pipeline, out: Path, allowed_failures: int = 3):
    """Extract `manifest` on a 2-worker local cluster, SIGKILLing the worker of the first sample seen
    running for 0.5 s (MediaPipe loaded, frames in progress). Returns (summary, results, killed)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
        )
    client = distributed.Client(cluster)
    killed: dict = {}
    stop = threading.Event()

    def kill_a_worker_mid_video() -> None:
        first_seen: dict[str, float] = {}
        while not stop.is_set():
            for address, ids in client.run(_executing_samples).items():
                for sid in ids:
                    first_seen.setdefault(sid, time.monotonic())
                    if time.monotonic() - first_seen[sid] > 0.5:
                        pid = client.run(os.getpid, workers=[address])[address]
                        os.kill(pid, signal.SIGKILL)
                        killed.update(sample_id=sid, pid=pid)
                        return
            time.sleep(0.05)

    results = []
    killer = threading.Thread(target=kill_a_worker_mid_video, daemon=True)
    try:
        killer.start()
        summary = run_extract(
            manifest,
            pipeline,
            out,
            backend="dask",
            address=cluster.scheduler_address,
            progress=False,
            on_result=results.append,
        )
    finally:
        stop.set()
        killer.join(timeout=30)
        client.close()
        cluster.close()
    assert killed, "the run ended before a worker could be killed mid-video"
    return summary, results, killed


def test_a_worker_killed_mid_video_has_its_sample_retried_exactly_once(
    tmp_path: Path, reference_run, small_manifest, read_samples
):
    ref_out, _, pipeline_file = reference_run
    out = tmp_path / "out"
    summary, results, killed = _extract_killing_a_worker_mid_video(small_manifest, load_pipeline(pipeline_file), out)
    assert summary.exit_code == 0 and not summary.failed, summary.render()
    assert summary.done_now == len(small_manifest.records)
    by_id = {r.sample_id: r for r in results}
    assert len(results) == len(by_id) == len(small_manifest.records), "one result per sample"
    # the killed sample was finished by another process: retried, not failed
    assert by_id[killed["sample_id"]].pid != killed["pid"], killed
    _assert_same_samples(out, ref_out, read_samples)


def test_without_retries_left_the_sample_fails_and_a_rerun_completes_it(tmp_path: Path, records, keypoints_pipeline):
    manifest = Manifest([records["90012"]])
    out = tmp_path / "out"
    # allowed-failures 0: the first worker death exhausts the task's retries, as a video that
    # crashes every worker would after 3
    summary, _, killed = _extract_killing_a_worker_mid_video(manifest, keypoints_pipeline, out, allowed_failures=0)
    assert summary.exit_code == 1 and [r.sample_id for r in summary.failed] == ["90012"], summary.render()
    failure = summary.failed[0]
    assert failure.stage == "worker" and "worker process died while extracting" in failure.error
    assert records["90012"].video_path in failure.error
    again = run_extract(manifest, keypoints_pipeline, out, backend="dask", workers=1, progress=False)
    assert again.exit_code == 0 and again.done_now == 1, again.render()
    assert list(ShardIndex.load(out).samples) == ["90012"]


def test_backend_options_are_checked_before_anything_runs(
    tmp_path: Path, small_manifest, keypoints_pipeline, monkeypatch
):
    with pytest.raises(BackendError, match="unknown backend 'ray'"):
        check_backend("ray")
    with pytest.raises(BackendError, match="--address needs --backend dask"):
        run_extract(small_manifest, keypoints_pipeline, tmp_path / "out", address="tcp://127.0.0.1:8786")
    assert not (tmp_path / "out").exists()
    # no scheduler there: a clear error naming the address (exit 2 from the CLI), not a hang
    monkeypatch.setattr(backends, "CLUSTER_WAIT_S", 2)
    with pytest.raises(BackendError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        run_extract(small_manifest, keypoints_pipeline, tmp_path / "out", backend="dask", address="tcp://127.0.0.1:1")
