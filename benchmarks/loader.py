"""Training data path throughput, measured side by side in one run.

Prints samples/s of 32-frame clips read through `ShardDataset` (one process,
the rate each DataLoader worker delivers):
  - keypoints;
  - keypoints + heatmaps rendered on the fly (`HeatmapBatchTransform`, CPU;
    CUDA too when present);
  - stored heatmaps (uint8, 79 x 64 x 64);
against
  - re-decoding and re-estimating every video (decode + Holistic, and + heatmap
    rendering): what training without shards would cost (targets >= 100x for
    keypoints, >= 20x with heatmaps);
  - raw h5py reads of the same datasets (the I/O and decompression limit);
and, on a GPU machine, the torch renderer on CUDA against the numpy renderer.

Run: python benchmarks/loader.py [--clips 6] [--seconds 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import torch

from signprep.data import HeatmapBatchTransform, ShardDataset
from signprep.extraction.pipeline import load_pipeline
from signprep.extraction.runner import run_extract
from signprep.kernels.gaussian_heatmaps import render_heatmaps_np, render_heatmaps_torch
from signprep.manifests import Manifest, build_manifest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wlasl-sample"


def rate(fn, seconds: float) -> float:
    """Calls of fn per second, over at least `seconds` (after one warm-up call)."""
    fn()
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    torch.set_num_threads(1)  # one DataLoader worker's view
    records = sorted(build_manifest("wlasl", CORPUS).records, key=lambda r: r.sample_id)[: args.clips]
    out = Path(tempfile.mkdtemp(prefix="signprep-loader-"))
    try:
        # the baseline: decode + Holistic per video, one worker (what a loader without shards would do)
        summary = run_extract(Manifest(records), load_pipeline("multimodal"), out, workers=1, progress=False)
        per_video = summary.seconds / summary.done_now
        frames = summary.frames / summary.done_now
        print(f"{summary.done_now} clips, {frames:.0f} frames each on average; 32-frame clips sampled uniformly")

        kp = ShardDataset(out, modalities=("keypoints",), clip_len=32)
        stored = ShardDataset(out, modalities=("heatmaps",), clip_len=32)
        transform = HeatmapBatchTransform(keypoint_indices="signvtcl79", size=(64, 64), sigma=2.0)
        i = iter(range(10**9))

        def read_kp():
            return kp[next(i) % len(kp)]

        def read_kp_and_render():
            item = kp[next(i) % len(kp)]
            batch = {k: (v[None] if torch.is_tensor(v) else v) for k, v in item.items()}
            return transform(batch)

        def read_stored():
            return stored[next(i) % len(stored)]

        ids = sorted(kp.reader().index.samples)
        shards = {s: out / kp.reader().index.samples[s]["shard"] for s in ids}
        files = {p: h5py.File(p, "r") for p in set(shards.values())}

        def raw(names):
            def read():
                s = ids[next(i) % len(ids)]
                g = files[shards[s]]["samples"][s]
                return [g[n][()] for n in names]

            return read

        r_kp, r_hm, r_st = (rate(f, args.seconds) for f in (read_kp, read_kp_and_render, read_stored))
        raw_kp = rate(raw(["keypoints", "keypoint_confidence", "keypoint_present"]), args.seconds)
        raw_hm = rate(raw(["heatmaps"]), args.seconds)
        redo = 1 / per_video  # samples/s re-estimating whole videos
        print("\n[loader] samples/s (one process)")
        print(f"  keypoints from shards            {r_kp:8.1f}  vs re-estimating {redo:6.3f} -> {r_kp / redo:7.0f}x"
              f" (target >= 100x) | raw reads {raw_kp:8.1f} -> {r_kp / raw_kp:4.2f} of raw")  # fmt: skip
        print(f"  keypoints + heatmaps on the fly  {r_hm:8.1f}  vs re-estimating {redo:6.3f} -> {r_hm / redo:7.0f}x"
              f" (target >= 20x)")  # fmt: skip
        print(f"  stored heatmaps                  {r_st:8.1f}  vs re-estimating {redo:6.3f} -> {r_st / redo:7.0f}x"
              f" (target >= 20x) | raw reads {raw_hm:8.1f} -> {r_st / raw_hm:4.2f} of raw"
              " (whole samples raw; the dataset reads 32 frames)")  # fmt: skip
        for f in files.values():
            f.close()

        # renderers: a batch of 8 clips x 32 frames x 79 keypoints at 64x64
        xy = torch.rand(8, 32, 79, 2) * torch.tensor([640.0, 360.0])
        numpy_rate = rate(lambda: render_heatmaps_np(xy.numpy(), size=(64, 64), sigma=2.0, frame_size=(360, 640)),
                          args.seconds) * 8 * 32  # fmt: skip
        cpu_rate = rate(lambda: render_heatmaps_torch(xy, size=(64, 64), sigma=2.0, frame_size=(360, 640)),
                        args.seconds) * 8 * 32  # fmt: skip
        print("\n[renderers] frames/s, 79 keypoints at 64x64, batches of 8 x 32 frames")
        print(f"  numpy {numpy_rate:10.0f} | torch CPU (1 thread) {cpu_rate:10.0f}")
        if torch.cuda.is_available():
            g = xy.cuda()

            def cuda_render():
                render_heatmaps_torch(g, size=(64, 64), sigma=2.0, frame_size=(360, 640))
                torch.cuda.synchronize()

            cuda_rate = rate(cuda_render, args.seconds) * 8 * 32
            name = torch.cuda.get_device_name()
            print(f"  torch CUDA ({name}) {cuda_rate:10.0f} -> {cuda_rate / numpy_rate:6.0f}x numpy")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
