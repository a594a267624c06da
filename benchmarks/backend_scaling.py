"""Extraction scaling: throughput and efficiency per added worker, local (loky) and Dask backends,
from 1 worker up to the cores this process may use, on the same clips.

Each run extracts `--videos-per-worker` x N videos with N workers (the keypoints pipeline; the
corpus clips `--clips`, repeated under new sample ids), so every worker always has work and no
single long video sets the tail. A Dask cluster is started before its run and its start time
printed apart; model loading in each fresh worker is part of the run, as in a real one. Per run:
frames/s, speed-up over 1 worker of the same backend, efficiency (speed-up / N), the gain of
the workers added since the previous row (in 1-worker units per added worker: 1.00 = each added
worker adds a whole worker's throughput), and the CPU ms the workers spent per frame (on a
machine shared with other jobs, the load average is printed: frames/s drop, CPU ms/frame show
whether a backend adds work of its own).

Run: python benchmarks/backend_scaling.py [--workers 1 2 4 8 16] [--backends loky dask]
     [--videos-per-worker 3] [--clips 90012 90029 ...]
On a 16-core machine (the figures docs/scaling.md owes):
     python benchmarks/backend_scaling.py --workers 1 2 4 8 12 16
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path

from signprep.extraction.pipeline import load_pipeline
from signprep.extraction.runner import run_extract
from signprep.manifests import Manifest, build_manifest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wlasl-sample"
# 6 short clips (41-108 frames each, 428 in all): repeated, they give every worker a balanced share
CLIPS = ["90012", "90029", "90031", "90004", "90005", "90002"]


def usable_cores() -> int:
    """CPUs this process may run on (affinity), not the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(cores: int) -> list[int]:
    """1, 2, 4, ... doubling, and the core count itself."""
    counts = [1]
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    return sorted(set(counts + [cores]))


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
    cores = usable_cores()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="+", default=CLIPS, help="corpus video ids")
    ap.add_argument("--workers", type=int, nargs="+", default=default_workers(cores))
    ap.add_argument("--backends", nargs="+", default=["loky", "dask"], choices=["loky", "dask"])
    ap.add_argument("--videos-per-worker", type=int, default=3)
    args = ap.parse_args()
    by_id = {r.sample_id: r for r in build_manifest("wlasl", CORPUS).records}
    clips = [by_id[i] for i in args.clips]
    print(f"keypoints pipeline, {args.videos_per_worker} videos per worker from {len(clips)} clips; "
          f"{cores} usable cores ({os.cpu_count()} in the machine), load {os.getloadavg()[0]:.1f}")  # fmt: skip
    rows = []
    for backend in args.backends:
        for workers in sorted(set(args.workers)):
            copies = itertools.islice(itertools.cycle(clips), args.videos_per_worker * workers)
            records = [dataclasses.replace(r, sample_id=f"{r.sample_id}-{k}") for k, r in enumerate(copies)]
            frames, seconds, start, cpu = run(Manifest(records), backend, workers)
            rows.append((backend, workers, frames, seconds, start, cpu))
            print(
                f"  {backend} x{workers}: {frames / seconds:6.1f} frames/s (load {os.getloadavg()[0]:.1f})", flush=True
            )
    print(
        f"\n{'backend':<8} {'workers':>7} {'frames':>7} {'run s':>7} {'frames/s':>9} {'speed-up':>9} {'efficiency':>10}"
        f" {'gain/added':>10} {'CPU ms/frame':>13} {'start s':>8}"
    )
    for backend in args.backends:
        mine = [r for r in rows if r[0] == backend]
        base = mine[0][2] / mine[0][3] / mine[0][1]  # frames/s per worker of the smallest run
        previous = None
        for _, workers, frames, seconds, start, cpu in mine:
            fps = frames / seconds
            gain = "" if previous is None else f"{(fps - previous[1]) / ((workers - previous[0]) * base):10.2f}"
            print(
                f"{backend:<8} {workers:>7} {frames:>7} {seconds:7.1f} {fps:9.1f} {fps / base:8.2f}x"
                f" {fps / base / workers:10.2f} {gain:>10} {1000 * cpu / frames:13.1f} {start:8.1f}"
            )
            previous = (workers, fps)
    print("(speed-up and efficiency against the 1-worker run of the same backend; gain/added: frames/s added per"
          " added worker, in 1-worker units)")  # fmt: skip


if __name__ == "__main__":
    main()
