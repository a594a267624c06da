"""Builders of the broken and unusual files the hardening tests feed the tool.

Every file is written into the test's tmp_path with PyAV (the FFmpeg libraries
in a wheel; no ffmpeg binary needed), from real frames of the corpus where a
real picture matters (a signer for the keypoint model, texture for the codec).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

# H.264 through libx264 when the PyAV build has it (most real WLASL clips are H.264),
# else MPEG-4 Part 2, which every FFmpeg build can write.
VIDEO_CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"

# Decode + resize only: no MediaPipe, so the fault tests can run an extraction many times.
CHEAP_PIPELINE = {"name": "frames-only", "stages": {"keypoints": None, "frames": {"size": [32, 32], "fit": "pad"}}}


def real_frames(video: Path, count: int, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The first `count` frames of a corpus clip as RGB uint8 arrays, optionally resized to (width, height)."""
    cap = cv2.VideoCapture(str(video))
    frames = []
    try:
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frames.append(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if size else rgb)
    finally:
        cap.release()
    assert len(frames) == count, f"{video} has fewer than {count} frames"
    return frames


def write_video(
    path: Path,
    frames: list[np.ndarray],
    *,
    fps: int = 25,
    pts_ms: list[int] | None = None,
    rotation: float | None = None,
    faststart: bool = False,
) -> Path:
    """Encode RGB frames into an MP4.

    pts_ms: presentation times in milliseconds (a variable frame rate), else a
    constant `fps`. rotation: degrees of display-matrix side data (as phones
    write for portrait recordings); the stored pixels stay as given.
    faststart: the index (moov) first, so that a truncated file still opens.
    """
    options = {"movflags": "+faststart"} if faststart else {}
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream(VIDEO_CODEC, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for n, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[n], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An MP4 holding one AAC audio stream (a 440 Hz tone) and no video stream."""
    rate = 44100
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        t = np.arange(int(rate * seconds)) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            chunk = tone[start : start + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def truncate(src: Path, dst: Path, fraction: float) -> Path:
    """Copy the first `fraction` of the bytes of `src` to `dst` (a download cut mid-stream)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame as PyAV decodes it (RGB, display rotation NOT applied): an independent reference."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
