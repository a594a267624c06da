"""Derived-modality stages: cost beside Holistic, and bytes stored per frame.

Prints, in one run on real corpus clips:
  1. CPU milliseconds per frame of each stage on the same decoded frames
     (process time, all threads), and its cost relative to Holistic;
  2. the separable heatmap renderer against the naive full-grid one at the
     stage's default setting (more settings: benchmarks/heatmap_renderers.py);
  3. bytes per frame stored for each dataset of the shipped pipelines
     (multimodal, disentangle, hand_crops), from a real extraction.

Run: python benchmarks/stages.py [--frames 60]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np

from signprep.extraction.pipeline import load_pipeline
from signprep.extraction.runner import run_extract
from signprep.kernels.gaussian_heatmaps import naive_heatmaps_np, render_heatmaps_np
from signprep.manifests import Manifest, build_manifest
from signprep.stages.frames import FramesConfig, TrainingFrames
from signprep.stages.hand_crops import HandCrops, HandCropsConfig
from signprep.stages.heatmaps import HeatmapsConfig, KeypointHeatmaps
from signprep.stages.keypoints import HolisticKeypoints, KeypointsConfig
from signprep.stages.optical_flow import FlowConfig, OpticalFlow
from signprep.stages.person_mask import PersonMask, PersonMaskConfig
from signprep.video.decode import SampleFrames

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wlasl-sample"
CLIPS = ["90012", "90029", "90003", "90013"]  # 640x360, 320x240, 1920x1080, portrait 360x640


def decoded(records, frames_per_clip: int):
    clips = []
    for r in records:
        sf = SampleFrames(r.video_path)
        _, it = next(sf.attempts())
        frames = [f for _, f in zip(range(frames_per_clip), it)]
        clips.append((sf.info, frames))
    return clips


def cpu_ms_per_frame(stage, clips, records_by_clip) -> float:
    cpu, n = 0.0, 0
    for (info, frames), records in zip(clips, records_by_clip):
        stage.open(info)
        t = time.process_time()
        for f, rec in zip(frames, records):
            stage.process(dict(rec, rgb=f.rgb, index=f.index))
        cpu += time.process_time() - t
        n += len(frames)
        stage.close()
    return 1000 * cpu / n


def bench_costs(clips) -> None:
    holistic = HolisticKeypoints(KeypointsConfig())
    with_seg = HolisticKeypoints(KeypointsConfig(), segmentation=True)
    # keypoint records (with the transient segmentation) for the stages that need them
    records_by_clip = []
    for info, frames in clips:
        with_seg.open(info)
        records_by_clip.append([with_seg.process({"rgb": f.rgb, "index": f.index}) for f in frames])
    base = cpu_ms_per_frame(holistic, clips, [[{}] * len(fr) for _, fr in clips])
    seg = cpu_ms_per_frame(with_seg, clips, [[{}] * len(fr) for _, fr in clips])

    def measure(stage) -> float:
        return cpu_ms_per_frame(stage, clips, records_by_clip)

    rows = [
        ("Holistic (keypoints)", base),
        ("+ Holistic segmentation (extra)", seg - base),
        ("frames 112x112", measure(TrainingFrames(FramesConfig()))),
        ("heatmaps 79x64x64 uint8", measure(KeypointHeatmaps(HeatmapsConfig()))),
        ("flow DIS fast 112x112", measure(OpticalFlow(FlowConfig()))),
        ("flow DIS medium 112x112", measure(OpticalFlow(FlowConfig(preset="medium")))),
        ("flow Farneback 112x112", measure(OpticalFlow(FlowConfig(method="farneback")))),
        ("flow DIS fast 256x256", measure(OpticalFlow(FlowConfig(size=(256, 256))))),
        ("person mask from Holistic 64x64", measure(PersonMask(PersonMaskConfig()))),
        ("person mask Selfie Segmentation", measure(PersonMask(PersonMaskConfig(source="selfie")))),
        ("hand crops 2x64x64", measure(HandCrops(HandCropsConfig()))),
    ]
    n = sum(len(fr) for _, fr in clips)
    print(f"\n[cost] CPU ms per frame on {n} frames of {len(clips)} clips, and relative to Holistic")
    for name, ms in rows:
        print(f"  {name:34s} {ms:7.2f} ms  {ms / base:6.3f}x")


def bench_heatmap_renderers(clips) -> None:
    info, _ = clips[0]
    rng = np.random.default_rng(0)
    xy = rng.uniform([0, 0], [info.width, info.height], size=(79, 2)).astype(np.float32)
    geometry = dict(size=(64, 64), sigma=2.0, frame_size=(info.height, info.width))
    times = {}
    for name, fn in (("separable", render_heatmaps_np), ("naive", naive_heatmaps_np)):
        fn(xy, **geometry)
        t, k = time.perf_counter(), 0
        while time.perf_counter() - t < 1.0:
            fn(xy, **geometry)
            k += 1
        times[name] = k / (time.perf_counter() - t)
    print("\n[heatmaps] 79 keypoints, 64x64, sigma 2: frames/s")
    print(f"  separable {times['separable']:8.0f} | naive full grid {times['naive']:8.0f}"
          f" -> {times['separable'] / times['naive']:5.1f}x (target >= 10x)")  # fmt: skip


def bench_bytes(records) -> None:
    print(f"\n[storage] bytes per frame stored (gzip 4 + shuffle), {len(records)} clips")
    for name in ("keypoints", "multimodal", "disentangle", "hand_crops"):
        out = Path(tempfile.mkdtemp(prefix=f"signprep-{name}-"))
        try:
            s = run_extract(Manifest(records), load_pipeline(name), out, workers=2, progress=False)
            sizes: dict[str, int] = defaultdict(int)
            frames = 0
            for shard in sorted(out.glob("shard-*.h5")):
                with h5py.File(shard, "r") as f:
                    for g in f["samples"].values():
                        frames += g.attrs["num_frames"]
                        for k, ds in g.items():
                            sizes[k] += ds.id.get_storage_size()
            total = sum(f.stat().st_size for f in out.glob("shard-*.h5"))
            print(f"  pipeline {name}: {total / frames:8.0f} B/frame in all, {s.frames / s.seconds:5.1f} frames/s")
            for k in sorted(sizes):
                print(f"    {k:22s} {sizes[k] / frames:9.0f}")
        finally:
            shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60, help="frames per clip for the cost table")
    args = ap.parse_args()
    manifest = build_manifest("wlasl", CORPUS)
    records = [r for r in manifest.records if r.sample_id in CLIPS]
    clips = decoded(records, args.frames)
    bench_costs(clips)
    bench_heatmap_renderers(clips)
    bench_bytes(records)


if __name__ == "__main__":
    main()
