"""Gaussian heatmap rendering and storage, measured side by side in one run.

Prints, for SignVTCL's 79 keypoints of a real clip (FOOTBALL.pose, 62 frames, 640x360):
  1. render: the separable NumPy renderer (one frame per call, as the stage
     calls it; with the stage's uint8 quantisation; one clip per call) against
     the naive full-grid NumPy reference, frames/s and the ratio (separable
     per frame / naive per frame), at three settings: this stage's default
     (64x64, sigma 2, from 640x360), NLA-SLR's (112x112, sigma 8, from a 256x256
     frame) and PoseC3D's (56x56, sigma 0.6);
  2. torch: `render_heatmaps_torch` batched on the CPU (1 thread and torch's
     default), and on CUDA when there is a GPU (float32 and float16; timed with
     torch.cuda.synchronize);
  3. storage: bytes per frame of the stage's `heatmaps` dataset as uint8 and as
     float16, gzip level 4 + shuffle, chunks of 64 frames (the shard writer's
     defaults), with write speed.

Sigma is in heatmap pixels throughout. Run: python benchmarks/heatmap_renderers.py
[--pose PATH] [--seconds 0.5]. Needs pose-format (`pip install -e .[dev]`) and,
for 2, torch (`.[train]`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from signprep.kernels.gaussian_heatmaps import naive_heatmaps_np, quantize_heatmaps, render_heatmaps_np
from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.stages.heatmaps import HeatmapsConfig, KeypointHeatmaps
from signprep.video.decode import VideoInfo

POSE = Path(__file__).resolve().parents[2] / "shared" / "data" / "poses" / "pose_format" / "FOOTBALL.pose"

# (label, heatmap (H, W), sigma in heatmap pixels, frame (H, W) the keypoints are measured in)
SETTINGS = [
    ("signprep 64x64 s=2", (64, 64), 2.0, None),
    ("NLA-SLR 112 s=8", (112, 112), 8.0, (256, 256)),
    ("PoseC3D 56 s=0.6", (56, 56), 0.6, None),
]


def load_keypoints(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """All 543 keypoints of a Holistic .pose file, as the keypoint stage stores them:
    xy (T, 543, 2) frame pixels, confidence (T, 543), present (T, 543), frame (H, W)."""
    from pose_format import Pose

    pose = Pose.read(path.read_bytes())
    data = pose.body.data[:, 0, :543, :2]  # pose 33, face 468, hands 2 x 21: our layout order
    present = ~np.ma.getmaskarray(data).any(-1)
    confidence = np.asarray(pose.body.confidence[:, 0, :543], np.float32) * present
    frame = (pose.header.dimensions.height, pose.header.dimensions.width)
    return np.asarray(data.filled(0), np.float32), confidence, present, frame


def frames_per_second(call: Callable[[], object], frames_per_call: int, seconds: float) -> float:
    """Best of three rounds of at least `seconds` each (the machine is shared and noisy)."""
    call()  # warm-up: allocations, lazy imports, CUDA kernels
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            call()
            n += 1
        best = max(best, n * frames_per_call / elapsed)
    return best


def resized(xy: np.ndarray, frame: tuple[int, int], setting_frame: tuple[int, int] | None):
    """Keypoints of the clip resized to the setting's frame (NLA-SLR feeds 256x256), and that frame."""
    if setting_frame is None:
        return xy, frame
    return xy * np.array([setting_frame[1] / frame[1], setting_frame[0] / frame[0]], np.float32), setting_frame


def bench_numpy(xy, conf, present, frame, seconds: float) -> None:
    print("1. NumPy, 79 keypoints (signvtcl79), frames/s (best of 3)")
    print(
        f"   {'setting':<20} {'separable/frame':>16} {'stage uint8':>12} {'separable/clip':>15} {'naive/frame':>12}"
        f" {'ratio':>7}"
    )
    idx = KeypointLayout().subset("signvtcl79")
    for label, size, sigma, setting_frame in SETTINGS:
        all_kp, fsize = resized(xy, frame, setting_frame)
        kp, c, p = all_kp[:, idx], conf[:, idx], present[:, idx]
        kw = dict(size=size, sigma=sigma, frame_size=fsize)
        frame_index = itertools.cycle(range(len(kp)))  # walk through the clip's real frames

        def one_frame(kw=kw, kp=kp, c=c, p=p, frame_index=frame_index):
            i = next(frame_index)
            return render_heatmaps_np(kp[i], c[i], p[i], **kw)

        def naive_frame(kw=kw, kp=kp, c=c, p=p, frame_index=frame_index):
            i = next(frame_index)
            return naive_heatmaps_np(kp[i], c[i], p[i], dtype=np.float32, **kw)

        # the stage as the runner drives it: one process() per frame of all 543 keypoints, mapped
        # as the renderers beside it map frame_size (stretch)
        stage = KeypointHeatmaps(HeatmapsConfig(size=size, sigma=sigma, fit="stretch"))
        stage.open(VideoInfo("", 30.0, len(xy), fsize[1], fsize[0], width=fsize[1], height=fsize[0]))
        records = [
            {
                "keypoints": np.pad(all_kp[i], ((0, 0), (0, 1))),
                "keypoint_confidence": conf[i],
                "keypoint_present": present[i],
            }
            for i in range(len(xy))
        ]

        def stage_frame(stage=stage, records=records, frame_index=frame_index):
            return stage.process(records[next(frame_index)])

        sep = frames_per_second(one_frame, 1, seconds)
        staged = frames_per_second(stage_frame, 1, seconds)
        clip = frames_per_second(lambda kw=kw, kp=kp, c=c, p=p: render_heatmaps_np(kp, c, p, **kw), len(kp), seconds)
        naive = frames_per_second(naive_frame, 1, seconds)
        print(f"   {label:<20} {sep:>16.0f} {staged:>12.0f} {clip:>15.0f} {naive:>12.0f} {sep / naive:>6.1f}x")


def bench_torch(xy, conf, present, frame, seconds: float) -> None:
    try:
        import torch
    except ImportError:
        print("2. torch: not installed (pip install -e .[train])")
        return
    from signprep.kernels.gaussian_heatmaps import render_heatmaps_torch

    print(f"2. torch {torch.__version__}, (B, T, 79, 2) -> (B, T, 79, H, W), frames/s (best of 3)")
    # one thread and torch's default: on a busy 2-core machine the default 2 threads measured
    # 20x slower than 1 (OpenMP threads waiting on each other), so show both
    threads = torch.get_num_threads()
    devices = [("cpu", 1, 16, n) for n in sorted({1, threads})]
    if torch.cuda.is_available():
        devices.append(("cuda", 8, 64, torch.cuda.get_device_name()))
    idx = KeypointLayout().subset("signvtcl79")
    for device, b, t, note in devices:
        if device == "cpu":
            torch.set_num_threads(note)
        reps = -(-b * t // len(xy))  # the clip repeated to fill B * T frames
        c, p = (
            torch.as_tensor(np.concatenate([a[:, idx]] * reps)[: b * t]).reshape(b, t, len(idx)).to(device)
            for a in (conf, present)
        )
        print(f"   {device} ({note}{' threads' if device == 'cpu' else ''}), B={b}, T={t}:")
        for label, size, sigma, setting_frame in SETTINGS:
            kp, fsize = resized(xy[:, idx], frame, setting_frame)
            scaled = torch.as_tensor(np.concatenate([kp] * reps)[: b * t]).reshape(b, t, len(idx), 2).to(device)
            cells = []
            for dtype in (torch.float32, torch.float16):

                def call(dtype=dtype, scaled=scaled, c=c, p=p, size=size, sigma=sigma, fsize=fsize, device=device):
                    out = render_heatmaps_torch(scaled, c, p, size=size, sigma=sigma, frame_size=fsize, dtype=dtype)
                    if device == "cuda":
                        torch.cuda.synchronize()  # time the kernels, not their launch
                    return out

                fps = frames_per_second(call, b * t, seconds)
                gbs = fps * 79 * size[0] * size[1] * (4 if dtype == torch.float32 else 2) / 1e9
                cells.append(f"{str(dtype)[6:]} {fps:>10.0f} ({gbs:5.1f} GB/s out)")
            print(f"     {label:<20} " + "   ".join(cells))
    torch.set_num_threads(threads)


def bench_storage(xy, conf, present, frame) -> None:
    print("3. stored `heatmaps`, gzip 4 + shuffle, chunks of 64 frames, FOOTBALL (62 frames, 79 keypoints)")
    print(f"   {'setting':<20} {'dtype':<8} {'raw B/frame':>12} {'stored B/frame':>15} {'ratio':>6} {'write fr/s':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        idx = KeypointLayout().subset("signvtcl79")
        for label, size, sigma, setting_frame in SETTINGS[:2]:
            kp, fsize = resized(xy[:, idx], frame, setting_frame)
            args = (kp, conf[:, idx], present[:, idx])
            kw = dict(size=size, sigma=sigma, frame_size=fsize)
            # what the stage stores: the quantised float32 render, or the float16 render
            uint8 = quantize_heatmaps(render_heatmaps_np(*args, **kw))
            for name, data in (("uint8", uint8), ("float16", render_heatmaps_np(*args, **kw, dtype=np.float16))):
                path = os.path.join(tmp, f"{name}.h5")
                t0 = time.perf_counter()
                with h5py.File(path, "w") as f:
                    chunks = (min(64, len(data)),) + data.shape[1:]
                    d = f.create_dataset(
                        "heatmaps", data=data, chunks=chunks, compression="gzip", compression_opts=4, shuffle=True
                    )
                    stored = d.id.get_storage_size()
                write = len(data) / (time.perf_counter() - t0)
                raw = data[0].nbytes
                per_frame = stored / len(data)
                print(f"   {label:<20} {name:<8} {raw:>12} {per_frame:>15.0f} {raw / per_frame:>5.1f}x {write:>11.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pose", type=Path, default=POSE, help="a MediaPipe Holistic .pose file (pose-format)")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of each timing round")
    args = parser.parse_args()
    xy, conf, present, frame = load_keypoints(args.pose)
    print(f"keypoints: {args.pose.name}, {len(xy)} frames, {frame[1]}x{frame[0]}, {present.mean():.0%} present")
    bench_numpy(xy, conf, present, frame, args.seconds)
    bench_torch(xy, conf, present, frame, args.seconds)
    bench_storage(xy, conf, present, frame)


if __name__ == "__main__":
    main()
