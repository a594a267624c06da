"""Background removal: a per-frame person mask and background-removed frames.

Requires: `rgb`, and `_segmentation` when `source="holistic"` (Holistic's own
segmentation output, computed in the keypoint pass: measured +4 ms CPU per
frame there against 9 ms for a separate Selfie Segmentation model).
Adds: `person_mask` (H, W) uint8, 0..255 = probability of person, and, unless
disabled, `background_removed` (H, W, 3) uint8: the frame with the background
replaced by a constant colour or a strong blur of itself. Both at the fitted
training size (64 x 64 by default, the disentangled encoders' input).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import cv2
import numpy as np

from signprep.kernels.frame_fit import FitMode, FrameFit
from signprep.video.decode import VideoInfo


class PersonMask:
    name = "person_mask"

    def __init__(
        self,
        *,
        source: Literal["holistic", "selfie"] = "holistic",
        size: tuple[int, int] = (64, 64),
        fit: FitMode = "pad",
        background: Literal["constant", "blur"] = "constant",
        background_value: int = 0,
        frames: bool = True,
    ) -> None:
        self.source, self.size, self.mode = source, tuple(size), fit
        self.background, self.background_value, self.frames = background, background_value, frames
        self.requires = ("rgb", "_segmentation") if source == "holistic" else ("rgb",)
        self.adds = ("person_mask", "background_removed") if frames else ("person_mask",)
        self._selfie = None
        if source == "selfie":
            from mediapipe.python.solutions import selfie_segmentation

            # model 0: the 256x256 "general" model (model 1 is for landscape 144x256 input)
            self._selfie = selfie_segmentation.SelfieSegmentation(model_selection=0)
        self.fit: FrameFit | None = None

    def open(self, video: VideoInfo) -> None:
        self.fit = FrameFit(video.height, video.width, *self.size, mode=self.mode)

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        rgb = frame["rgb"]
        if self._selfie is not None:
            soft = self._selfie.process(rgb).segmentation_mask
        else:
            soft = frame["_segmentation"]
        if soft is None:  # Holistic found no person in this frame
            soft = np.zeros(rgb.shape[:2], np.float32)
        mask = self.fit.apply(np.clip(soft, 0, 1).astype(np.float32))
        out = {"person_mask": np.round(mask * 255).astype(np.uint8)}
        if self.frames:
            image = self.fit.apply_cached(frame).astype(np.float32)
            if self.background == "blur":
                k = max(3, (min(self.size) // 4) | 1)  # odd kernel, a quarter of the frame
                back = cv2.GaussianBlur(image, (k, k), 0)
            else:
                back = np.full_like(image, self.background_value)
            alpha = mask[..., None]
            out["background_removed"] = np.round(image * alpha + back * (1 - alpha)).astype(np.uint8)
        return out

    def close(self) -> None:
        pass

    def attrs(self) -> dict[str, Any]:
        return {
            "person_mask_source": self.source,
            "person_mask_fit": json.dumps({"mode": self.mode, "size": list(self.size)}),
            "background": self.background if self.background == "blur" else f"constant {self.background_value}",
        }
