"""Export and import throughput against raw h5py reads of the same datasets, side by side in one run.

For each export format (pose, pyskl, npz) and for the import of the pose export, at each
--workers count: samples/s and MB/s of the whole job (`run_export` / `run_import`, as the
commands run it), where MB are the decoded keypoint arrays (keypoints, confidence, presence,
frame indices) the job carries, so every line is comparable with the raw h5py read of those
datasets (one process, files kept open: the I/O and decompression limit). "first" is the first
run in this process (worker start-up and imports: pose-format's Holistic header imports
mediapipe); the rate columns are of the median of --repeats further runs with force (everything
again, warm).

Run: python benchmarks/exports.py [--shards OUT] [--clips 12] [--fps 12] [--workers 1 2] [--repeats 3]
(without --shards, the first --clips corpus clips are extracted at --fps first).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import h5py

from signprep.exports import make_format, run_export
from signprep.extraction.pipeline import load_pipeline, parse_pipeline
from signprep.extraction.runner import run_extract
from signprep.imports.pose import run_import
from signprep.manifests import Manifest, build_manifest, read_manifest
from signprep.shards.schema import SAMPLES_GROUP

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wlasl-sample"
KEYPOINT_DATASETS = ("keypoints", "keypoint_confidence", "keypoint_present", "frame_indices")


def extract(out: Path, clips: int, fps: float) -> None:
    records = sorted(build_manifest("wlasl", CORPUS).records, key=lambda r: r.sample_id)[:clips]
    config = load_pipeline("keypoints").model_dump()
    config["decode"]["fps"] = fps
    summary = run_extract(Manifest(records), parse_pipeline(config), out, workers=2, progress=False)
    assert summary.exit_code == 0, summary.render()


def raw_reads(shards: Path, seconds: float) -> tuple[float, float, int, int]:
    """(samples/s, MB/s, samples, bytes per pass) of plain h5py reads of every sample's keypoint datasets."""
    index = json.loads((shards / "shard_index.json").read_text())["samples"]
    files = {name: h5py.File(shards / name, "r") for name in {e["shard"] for e in index.values()}}
    try:

        def one_pass() -> int:
            total = 0
            for sample_id, entry in index.items():
                group = files[entry["shard"]][SAMPLES_GROUP][sample_id]
                total += sum(group[name][()].nbytes for name in KEYPOINT_DATASETS)
            return total

        nbytes = one_pass()  # warm-up
        passes, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            one_pass()
            passes += 1
        elapsed = time.perf_counter() - t0
    finally:
        for f in files.values():
            f.close()
    return passes * len(index) / elapsed, passes * nbytes / elapsed / 2**20, len(index), nbytes


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def first_and_warm(job, n: int, repeats: int) -> tuple[float, float]:
    """Seconds of the first run of `job(force)` and the median of `repeats` forced reruns; each must do all n."""
    runs = []
    for attempt in range(1 + repeats):
        seconds, summary = timed(lambda attempt=attempt: job(attempt > 0))
        assert summary.exit_code == 0 and summary.done_now == n, summary.render()
        runs.append(seconds)
    return runs[0], statistics.median(runs[1:])


def folder_bytes(folder: Path, suffixes: tuple[str, ...]) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in suffixes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=Path, help="an existing shard directory (else corpus clips are extracted)")
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--fps", type=float, default=12.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum duration of the raw-read measurement")
    ap.add_argument("--repeats", type=int, default=3, help="warm runs of each job (the median is printed)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="signprep-exports-bench-"))
    try:
        shards = args.shards
        if shards is None:
            shards = work / "shards"
            t, _ = timed(lambda: extract(shards, args.clips, args.fps))
            print(f"extracted {args.clips} clips at {args.fps:g} fps in {t:.0f} s")
        raw_rate, raw_mb, n, nbytes = raw_reads(shards, args.seconds)
        mb = nbytes / 2**20
        print(f"{n} samples, {mb:.1f} MB of keypoint arrays decoded ({', '.join(KEYPOINT_DATASETS)})\n")
        header = f"{'':24}{'workers':>8}{'first s':>9}{'s':>8}{'samples/s':>11}{'MB/s':>8}{'MB out':>8}{'x raw':>8}"
        print(header)
        print(f"{'raw h5py read':24}{1:>8}{'':>9}{n / raw_rate:>8.2f}{raw_rate:>11.1f}{raw_mb:>8.1f}{'':>8}{1:>8.2f}")

        def line(label: str, workers: int, first: float, warm: float, written: int) -> None:
            rate = n / warm
            print(
                f"{label:24}{workers:>8}{first:>9.2f}{warm:>8.2f}{rate:>11.1f}{mb / warm:>8.1f}"
                f"{written / 2**20:>8.1f}{rate / raw_rate:>8.3f}"
            )

        suffixes = {"pose": (".pose",), "pyskl": (".pkl",), "npz": (".npz",)}
        for name in ("pose", "pyskl", "npz"):
            for workers in args.workers:
                dest = work / f"{name}-{workers}"

                def export(force: bool, dest=dest, name=name, workers=workers):
                    return run_export(shards, make_format(name), dest, workers=workers, force=force, progress=False)

                first, warm = first_and_warm(export, n, args.repeats)
                line(f"export {name}", workers, first, warm, folder_bytes(dest, suffixes[name]))
        poses = work / f"pose-{args.workers[0]}"
        labels = Manifest(read_manifest(poses / "manifest.jsonl"))
        for workers in args.workers:
            out = work / f"imported-{workers}"

            def imported(force: bool, out=out, workers=workers):
                return run_import(poses, out, load_pipeline("keypoints"), labels, workers=workers, force=force,
                                  progress=False)  # fmt: skip

            first, warm = first_and_warm(imported, n, args.repeats)
            line("import pose", workers, first, warm, sum(p.stat().st_size for p in out.glob("shard-*.h5")))
        print(f"\n.pose files read by the import: {folder_bytes(poses, ('.pose',)) / 2**20:.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
