"""The cost of `fit: person`: its second decode pass, beside the one-pass letterbox.

For each clip, in one process (stages built once, as a worker does), CPU time (process time,
all threads) of:
  1. the shipped multimodal pipeline (frames, heatmaps, flow) with `fit: pad`, one pass;
  2. the same pipeline with `fit: person` for every image stage: pass 1 keypoints, the box,
     pass 2 decodes again and runs the image stages;
  3. decoding the clip alone (what the second pass adds beside the fits of a smaller region);
and prints them side by side with the ratio person / pad, and the keypoints of both runs
compared bit for bit. Runs alternate which pipeline goes first.

Run: python benchmarks/person_fit.py [--clips 90012 90029 90003 90013]
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np

from signprep.extraction.pipeline import load_pipeline, parse_pipeline
from signprep.extraction.sample import build_stages, decode_and_process
from signprep.manifests import build_manifest
from signprep.video.decode import DecodeOptions, SampleFrames

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wlasl-sample"
CLIPS = ["90012", "90029", "90003", "90013"]  # 640x360, 320x240, 1920x1080, portrait 360x640


def with_fit(pipeline, fit: str):
    """The pipeline with every image stage at `fit` ("pad" or "person")."""
    data = pipeline.model_dump(exclude={"person_box"})
    for name in ("frames", "heatmaps", "flow", "person_mask"):
        if data["stages"].get(name):
            data["stages"][name]["fit"] = fit
    data["name"] = f"{pipeline.name}-{fit}"
    return parse_pipeline(data, f"{pipeline.name} with fit {fit}")


def count_frames(frames: SampleFrames) -> int:
    """Decode every frame of the sample (the work a second pass repeats besides its stages)."""
    return sum(1 for _ in next(frames.attempts())[1])


def cpu_seconds(fn) -> tuple[float, object]:
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=CLIPS)
    args = parser.parse_args()
    records = {r.sample_id: r for r in build_manifest("wlasl", CORPUS).records}
    shipped = load_pipeline("multimodal")
    pad, person = with_fit(shipped, "pad"), with_fit(shipped, "person")
    stages = {"pad": build_stages(pad), "person": build_stages(person)}
    pipelines = {"pad": pad, "person": person}
    print(f"{'clip':<8} {'frames':>6} {'pad s':>8} {'person s':>9} {'person/pad':>11} {'decode s':>9} {'same kp':>8}")
    totals = {"pad": 0.0, "person": 0.0, "decode": 0.0}
    for i, clip in enumerate(args.clips):
        record = records[clip]
        order = ["pad", "person"] if i % 2 == 0 else ["person", "pad"]
        seconds, arrays = {}, {}
        for name in order:
            seconds[name], (arrays[name], _) = cpu_seconds(
                partial(decode_and_process, record, pipelines[name], stages[name])
            )
        frames = SampleFrames(record.video_path, DecodeOptions("decord"), frame_start=record.frame_start,
                              frame_end=record.frame_end)  # fmt: skip
        decode, _ = cpu_seconds(partial(count_frames, frames))
        same = all(np.array_equal(arrays["pad"][k], arrays["person"][k]) for k in ("keypoints", "keypoint_present"))
        n = len(arrays["pad"]["frame_indices"])
        print(f"{clip:<8} {n:>6} {seconds['pad']:>8.2f} {seconds['person']:>9.2f} "
              f"{seconds['person'] / seconds['pad']:>11.3f} {decode:>9.2f} {str(same):>8}")  # fmt: skip
        totals["pad"] += seconds["pad"]
        totals["person"] += seconds["person"]
        totals["decode"] += decode
    print(f"{'all':<8} {'':>6} {totals['pad']:>8.2f} {totals['person']:>9.2f} "
          f"{totals['person'] / totals['pad']:>11.3f} {totals['decode']:>9.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
