"""Real corpus frames for building the published dataset layouts in tmp_path (never committed)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest


@cache
def _decoded(video: Path, count: int) -> tuple[np.ndarray, ...]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    try:
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(bgr)
    finally:
        cap.release()
    assert len(frames) == count, f"{video} has fewer than {count} frames"
    return tuple(frames)


def _fit(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize: the signer stays undistorted."""
    h, w = bgr.shape[:2]
    if w * height > h * width:
        crop = round(h * width / height)
        bgr = bgr[:, (w - crop) // 2 : (w - crop) // 2 + crop]
    else:
        crop = round(w * height / width)
        bgr = bgr[(h - crop) // 2 : (h - crop) // 2 + crop]
    return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def write_frames(wlasl_root: Path):
    """write_frames(folder, clip, first, count, size, name="images{:04d}.png", start=1) writes
    frames first..first+count-1 (0-based) of corpus clip `clip` as image files of `size`
    (width, height), numbered from `start`; returns the paths. The extension picks PNG or JPEG."""

    def write(folder: Path, clip: str, first: int, count: int, size: tuple[int, int], name="images{:04d}.png", start=1):
        frames = _decoded(wlasl_root / "videos" / f"{clip}.mp4", first + count)[first:]
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for n, bgr in enumerate(frames):
            path = folder / name.format(start + n)
            assert cv2.imwrite(str(path), _fit(bgr, *size)), path
            paths.append(path)
        return paths

    return write
