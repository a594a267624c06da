"""Optical-flow stage: flow from the previous frame to this one.

Requires: `rgb`. Adds: `flow` (H, W, 2): uint8 bounded encoding (default;
`decode_flow_uint8(x, flow_bound)` restores pixels/frame) or float16, in
pixels of the fitted output frame; optionally `flow_rgb` (H, W, 3) uint8 colour
images. Frame 0 has no predecessor: its flow is zero motion.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from signprep.kernels.flow_encoding import decode_flow_uint8, encode_flow_uint8, flow_to_rgb
from signprep.kernels.frame_fit import FitMode, FrameFit, fit_for
from signprep.stages.contract import Measured, RenderInput, Row, Size, StageConfig, StageCost, StageSpec
from signprep.stages.flow_methods import DisFlow, FarnebackFlow, RaftFlow
from signprep.video.decode import VideoInfo

# At 112x112, uint8. Bytes: docs/shards.md ("Derived modalities"), 4 corpus clips. DIS ultrafast
# and RAFT were not measured: the plan takes the nearest figure (`measured_cost`).
FLOW_COSTS = {
    "dis-fast": Measured(3.01, 849.0, (112, 112)),
    "dis-medium": Measured(4.63, 849.0, (112, 112)),
    "farneback": Measured(5.05, 849.0, (112, 112)),
}
# fit: person stores more motion (the signer is larger): DIS fast over the whole sample corpus (37 clips,
# 4828 frames) in the shipped multimodal pipeline stored 1090 B/frame, against the 849 letterboxed above
PERSON_FIT_BYTES_FACTOR = 1090 / 849
# DIS cost grew 1.6x from 112x112 to 256x256 (5.2x the pixels): mostly fixed per-frame work
CPU_GROWTH_PER_PIXEL_RATIO = 0.15


class FlowConfig(StageConfig):
    method: Literal["dis", "farneback", "raft"] = "dis"
    preset: Literal["ultrafast", "fast", "medium"] = "fast"  # DIS's
    size: Size = (112, 112)
    fit: FitMode = "pad"
    dtype: Literal["uint8", "float16"] = "uint8"
    bound: float = Field(default=20.0, gt=0)  # pixels/frame the uint8 encoding spans
    rgb_images: bool = False
    raft_weights: str | None = None  # a local torchvision RAFT weights file; never downloaded


class OpticalFlow:
    name = "flow"
    adds = ("flow", "flow_rgb")

    def __init__(self, config: FlowConfig) -> None:
        self.method, self.preset, self.size, self.mode = config.method, config.preset, tuple(config.size), config.fit
        self.dtype, self.bound, self.rgb_images = config.dtype, config.bound, config.rgb_images
        if self.method == "dis":
            self._flow = DisFlow(self.preset)
        elif self.method == "farneback":
            self._flow = FarnebackFlow()
        else:
            self._flow = RaftFlow(config.raft_weights)
        self._wants_rgb = getattr(self._flow, "wants_rgb", False)
        self.adds = ("flow", "flow_rgb") if self.rgb_images else ("flow",)
        self.fit: FrameFit | None = None
        self._prev: np.ndarray | None = None

    def open(self, video: VideoInfo) -> None:
        self.fit = fit_for(video, self.size, self.mode)
        self._prev = None

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        image = self.fit.apply_cached(frame)
        current = image if self._wants_rgb else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if self._prev is None:
            flow = np.zeros(self.size + (2,), np.float32)
        else:
            flow = self._flow(self._prev, current)
        self._prev = current
        stored = encode_flow_uint8(flow, self.bound) if self.dtype == "uint8" else flow.astype(np.float16)
        out = {"flow": stored}
        if self.rgb_images:
            out["flow_rgb"] = flow_to_rgb(flow, self.bound)
        return out

    def close(self) -> None:
        self._prev = None

    def attrs(self) -> dict[str, Any]:
        return {
            "flow_method": self.method if self.method != "dis" else f"dis-{self.preset}",
            "flow_encoding": self.dtype,
            "flow_bound": self.bound,
            "flow_fit": json.dumps(self.fit.to_attr() if self.fit else {"mode": self.mode, "size": list(self.size)}),
            "flow_units": "output pixels per frame, from the previous frame to this one (frame 0: zero)",
        }


def measured_cost(config: FlowConfig) -> Measured:
    """The measured figure of the method, or of the nearest measured one."""
    if config.method == "farneback":
        return FLOW_COSTS["farneback"]
    if config.method == "dis":
        return FLOW_COSTS.get(f"dis-{config.preset}", FLOW_COSTS["dis-fast"])
    return FLOW_COSTS["dis-medium"]


def cost(config: FlowConfig) -> StageCost:
    measured = measured_cost(config)
    pixels = measured.pixel_ratio(config.size)
    cpu_ms = measured.cpu_ms * (1 + CPU_GROWTH_PER_PIXEL_RATIO * (pixels - 1))
    stored = measured.bytes * pixels * (2 if config.dtype == "float16" else 1)
    stored *= PERSON_FIT_BYTES_FACTOR if config.fit == "person" else 1
    return StageCost(f"flow ({config.method})", cpu_ms, (("flow", stored),))


def render_rows(view: RenderInput) -> list[Row]:
    """The flow in colour, full colour at the shown frames' own top speed (at least 2 px/frame)."""
    sample = view.sample
    if "flow" not in sample.datasets:
        return []
    flow, bound = sample["flow"], float(sample.attrs.get("flow_bound", 20.0))
    fields = [flow[t] for t in view.positions]
    fields = [decode_flow_uint8(f, bound) if f.dtype == np.uint8 else f.astype(np.float32) for f in fields]
    # colour scale from the shown frames' own motion: sign motion is often a few pixels per frame
    speed = max(2.0, float(np.percentile(np.hypot(*np.moveaxis(np.stack(fields), -1, 0)), 99.5)))
    return [(f"optical flow (full colour = {speed:.1f} px/frame)", [flow_to_rgb(f, speed) for f in fields])]


SPEC = StageSpec(OpticalFlow, FlowConfig, cost, render_rows)
