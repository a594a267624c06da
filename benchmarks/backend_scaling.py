"""Extraction throughput of the Dask backend with 1 and 2 workers, beside loky with 2, on the same clips.

Each configuration extracts the same corpus clips (keypoints pipeline) into a
fresh directory. A Dask cluster is started before its run and its start time
printed apart, so the frames/s compare the runs themselves (model loading in
each fresh worker included, as in a real run). Beside the frames/s it prints the
CPU time the workers used per frame: on a machine shared with other jobs
(the load average is printed) frames/s drop, while CPU ms/frame shows whether a
backend adds work of its own.

Run: python benchmarks/backend_scaling.py [--clips 90012 90029 ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from signprep.extraction.pipeline import load_pipeline
from signprep.extraction.runner import run_extract
from signprep.manifests import Manifest, build_manifest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wlasl-sample"
# 428 frames of 6 short clips (41-108 frames each): a few seconds of each worker's model load amortised
CLIPS = ["90012", "90029", "90031", "90004", "90005", "90002"]


def _cpu_seconds(pids) -> float:
    import psutil  # installed with distributed

    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def run(manifest: Manifest, backend: str, workers: int) -> tuple[int, float, float, float]:
    """(frames, seconds of the run, seconds to start the cluster, CPU seconds of the workers)."""
    out = Path(tempfile.mkdtemp(prefix=f"signprep-{backend}{workers}-"))
    cluster = client = None
    start = 0.0
    try:
        address = None
        if backend == "dask":
            from distributed import Client, LocalCluster

            t = time.perf_counter()
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
            )
            client = Client(cluster)
            start = time.perf_counter() - t
            address = cluster.scheduler_address
        summary = run_extract(
            manifest, load_pipeline("keypoints"), out, workers=workers, backend=backend, address=address, progress=False
        )
        assert summary.exit_code == 0, summary.render()
        # the workers are still alive here (loky keeps its pool, the cluster is not closed yet)
        pids = list(client.run(os.getpid).values()) if client is not None else list(summary.worker_rss_mb)
        return summary.frames, summary.seconds, start, _cpu_seconds(pids)
    finally:
        if client is not None:
            client.close()
            cluster.close()
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="+", default=CLIPS, help="corpus video ids")
    args = ap.parse_args()
    by_id = {r.sample_id: r for r in build_manifest("wlasl", CORPUS).records}
    manifest = Manifest([by_id[i] for i in args.clips])
    print(f"{len(manifest.records)} clips, keypoints pipeline, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    rows = []
    for backend, workers in (("dask", 1), ("dask", 2), ("loky", 2)):
        frames, seconds, start, cpu = run(manifest, backend, workers)
        rows.append((backend, workers, frames, seconds, start, cpu))
        print(f"  {backend} x{workers}: {frames / seconds:5.1f} frames/s (load {os.getloadavg()[0]:.1f})", flush=True)
    base = next(frames / seconds for b, w, frames, seconds, *_ in rows if (b, w) == ("dask", 1))
    print(
        f"\n{'backend':<8} {'workers':>7} {'frames':>7} {'run s':>7} {'frames/s':>9} {'vs dask x1':>10}"
        f" {'CPU ms/frame':>13} {'start s':>8}"
    )
    for backend, workers, frames, seconds, start, cpu in rows:
        fps = frames / seconds
        print(
            f"{backend:<8} {workers:>7} {frames:>7} {seconds:7.1f} {fps:9.1f} {fps / base:9.2f}x"
            f" {1000 * cpu / frames:13.1f} {start:8.1f}"
        )


if __name__ == "__main__":
    main()
