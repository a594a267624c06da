"""Frames stage: the decoded frames at a training size.

Requires: `rgb`. Adds: `frames` (H, W, 3) uint8, fitted by `FrameFit` (see
signprep/kernels/frame_fit.py; the fit is in the sample attribute `frames_fit`;
with `fit: person` it letterboxes the sample's person box).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from signprep.kernels.frame_fit import FitMode, FrameFit, fit_for
from signprep.stages.contract import Measured, RenderInput, Row, Size, StageConfig, StageCost, StageSpec
from signprep.video.decode import VideoInfo

# Bytes: docs/shards.md ("Derived modalities"), 4 corpus clips. CPU time and bytes scale with the pixels.
FRAMES_COST = Measured(2.69, 10774.0, (112, 112))
# fit: person (the signer, no letterbox borders, compresses less): the shipped multimodal pipeline over
# the whole sample corpus (37 clips, 4828 frames); the CPU figure is the letterbox's
FRAMES_PERSON_COST = Measured(2.69, 16235.0, (112, 112))


class FramesConfig(StageConfig):
    size: Size = (112, 112)
    fit: FitMode = "pad"


class TrainingFrames:
    name = "frames"
    adds = ("frames",)

    def __init__(self, config: FramesConfig) -> None:
        self.size, self.mode = tuple(config.size), config.fit
        self.fit: FrameFit | None = None

    def open(self, video: VideoInfo) -> None:
        self.fit = fit_for(video, self.size, self.mode)

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        return {"frames": self.fit.apply_cached(frame)}

    def close(self) -> None:
        pass  # the fit stays for attrs(), which the runner asks for after close()

    def attrs(self) -> dict[str, Any]:
        return {
            "frames_fit": json.dumps(self.fit.to_attr() if self.fit else {"mode": self.mode, "size": list(self.size)})
        }


def cost(config: FramesConfig) -> StageCost:
    measured = FRAMES_PERSON_COST if config.fit == "person" else FRAMES_COST
    pixels = measured.pixel_ratio(config.size)
    return StageCost("frames", measured.cpu_ms * pixels, (("frames", measured.bytes * pixels),))


def render_rows(view: RenderInput) -> list[Row]:
    if "frames" not in view.sample.datasets:
        return []
    frames = view.sample.read("frames")
    return [("training frame", [frames[t] for t in view.positions])]


SPEC = StageSpec(TrainingFrames, FramesConfig, cost, render_rows)
