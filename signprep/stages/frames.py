"""Frames stage: the decoded frames at a training size.

Requires: `rgb`. Adds: `frames` (H, W, 3) uint8, fitted by `FrameFit` (see
signprep/kernels/frame_fit.py; the fit is in the sample attribute `frames_fit`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from signprep.kernels.frame_fit import FitMode, FrameFit
from signprep.video.decode import VideoInfo


class TrainingFrames:
    name = "frames"
    requires = ("rgb",)
    adds = ("frames",)

    def __init__(self, *, size: tuple[int, int] = (112, 112), fit: FitMode = "pad") -> None:
        self.size, self.mode = tuple(size), fit
        self.fit: FrameFit | None = None

    def open(self, video: VideoInfo) -> None:
        self.fit = FrameFit(video.height, video.width, *self.size, mode=self.mode)

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        return {"frames": self.fit.apply_cached(frame)}

    def close(self) -> None:
        self.fit = None

    def attrs(self) -> dict[str, Any]:
        return {"frames_fit": json.dumps({"mode": self.mode, "size": list(self.size)})}
