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

from signprep.kernels.flow_encoding import encode_flow_uint8, flow_to_rgb
from signprep.kernels.frame_fit import FitMode, FrameFit
from signprep.stages.flow_methods import DisFlow, FarnebackFlow, RaftFlow
from signprep.video.decode import VideoInfo


class OpticalFlow:
    name = "flow"
    requires = ("rgb",)

    def __init__(
        self,
        *,
        method: Literal["dis", "farneback", "raft"] = "dis",
        preset: str = "fast",
        size: tuple[int, int] = (112, 112),
        fit: FitMode = "pad",
        dtype: Literal["uint8", "float16"] = "uint8",
        bound: float = 20.0,
        rgb_images: bool = False,
        raft_weights: str | None = None,
    ) -> None:
        self.method, self.preset, self.size, self.mode = method, preset, tuple(size), fit
        self.dtype, self.bound, self.rgb_images = dtype, bound, rgb_images
        if method == "dis":
            self._flow = DisFlow(preset)
        elif method == "farneback":
            self._flow = FarnebackFlow()
        else:
            self._flow = RaftFlow(raft_weights)
        self._wants_rgb = getattr(self._flow, "wants_rgb", False)
        self.adds = ("flow", "flow_rgb") if rgb_images else ("flow",)
        self.fit: FrameFit | None = None
        self._prev: np.ndarray | None = None

    def open(self, video: VideoInfo) -> None:
        self.fit = FrameFit(video.height, video.width, *self.size, mode=self.mode)
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
            "flow_fit": json.dumps({"mode": self.mode, "size": list(self.size)}),
            "flow_units": "output pixels per frame, from the previous frame to this one (frame 0: zero)",
        }
