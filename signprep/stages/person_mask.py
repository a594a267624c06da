"""Background removal: a per-frame person mask and background-removed frames.

Requires: `rgb`, and `_segmentation` when `source="holistic"` (Holistic's own
segmentation output, computed in the keypoint pass; `source="selfie"` runs
MediaPipe's Selfie Segmentation here instead).
Adds: `person_mask` (H, W) uint8, 0..255 = probability of person, and, unless
disabled, `background_removed` (H, W, 3) uint8: the frame with the background
replaced by a constant colour or a strong blur of itself. Both at the fitted
training size (64 x 64 by default, the disentangled encoders' input).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
from pydantic import Field

from signprep.kernels.frame_fit import FitMode, FrameFit, fit_for
from signprep.stages.contract import Measured, RenderInput, Row, Size, StageConfig, StageCost, StageSpec
from signprep.stages.keypoints import SEGMENTATION_ENTRY
from signprep.video.decode import VideoInfo

# Bytes: the whole sample corpus (37 clips, 4828 frames) extracted with keypoints + person_mask
# (holistic, 64x64, frames) + hand_crops (64). Bytes scale with the pixels.
MASK_COST = Measured(3.59, 361.0, (64, 64))
SELFIE_COST = Measured(11.18, 361.0, (64, 64))  # the Selfie Segmentation model; the same mask bytes
HOLISTIC_SEGMENTATION_COST = Measured(12.6, 0.0)  # what segmentation adds to the Holistic pass
BACKGROUND_REMOVED_COST = Measured(0.0, 1464.0, (64, 64))  # made in the mask's time
# fit: person (the signer fills the image and compresses less): bytes per frame stored by the shipped
# disentangle pipeline over the whole sample corpus (37 clips, 4828 frames)
PERSON_FIT_BYTES = {"person_mask": 624.1, "background_removed": 2902.7}


class PersonMaskConfig(StageConfig):
    # holistic: Holistic's own segmentation, from the keypoint pass; selfie: a separate model
    source: Literal["holistic", "selfie"] = "holistic"
    size: Size = (64, 64)  # the disentangled encoders' input
    fit: FitMode = "pad"
    background: Literal["constant", "blur"] = "constant"
    background_value: int = Field(default=0, ge=0, le=255)
    frames: bool = True  # also store `background_removed`

    requirement_hint: ClassVar[str] = "with source 'holistic'; or source: selfie"

    def requires(self) -> tuple[str, ...]:
        return ("rgb", SEGMENTATION_ENTRY) if self.source == "holistic" else ("rgb",)


class PersonMask:
    name = "person_mask"
    adds = ("person_mask", "background_removed")

    def __init__(self, config: PersonMaskConfig) -> None:
        self.source, self.size, self.mode = config.source, tuple(config.size), config.fit
        self.background, self.background_value, self.frames = config.background, config.background_value, config.frames
        self.adds = ("person_mask", "background_removed") if self.frames else ("person_mask",)
        self._selfie = None
        if self.source == "selfie":
            from mediapipe.python.solutions import selfie_segmentation

            # model 0: the 256x256 "general" model (model 1 is for landscape 144x256 input)
            self._selfie = selfie_segmentation.SelfieSegmentation(model_selection=0)
        self.fit: FrameFit | None = None

    def open(self, video: VideoInfo) -> None:
        self.fit = fit_for(video, self.size, self.mode)

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        rgb = frame["rgb"]
        if self._selfie is not None:
            soft = self._selfie.process(rgb).segmentation_mask
        else:
            soft = frame[SEGMENTATION_ENTRY]
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
            "person_mask_fit": json.dumps(
                self.fit.to_attr() if self.fit else {"mode": self.mode, "size": list(self.size)}
            ),
            "background": self.background if self.background == "blur" else f"constant {self.background_value}",
        }


def cost(config: PersonMaskConfig) -> StageCost:
    if config.source == "holistic":
        label, cpu_ms = "person_mask", HOLISTIC_SEGMENTATION_COST.cpu_ms + MASK_COST.cpu_ms
    else:
        label, cpu_ms = "person_mask (selfie)", SELFIE_COST.cpu_ms
    measured = {"person_mask": MASK_COST, "background_removed": BACKGROUND_REMOVED_COST}
    names = ["person_mask"] + (["background_removed"] if config.frames else [])
    stored = []
    for name in names:
        per_frame = PERSON_FIT_BYTES[name] if config.fit == "person" else measured[name].bytes
        stored.append((name, per_frame * measured[name].pixel_ratio(config.size)))
    return StageCost(label, cpu_ms, tuple(stored))


def render_rows(view: RenderInput) -> list[Row]:
    sample, rows = view.sample, []
    if "person_mask" in sample.datasets:
        rows.append(("person mask", [sample["person_mask"][t] for t in view.positions]))
    if "background_removed" in sample.datasets:
        rows.append(("background removed", [sample["background_removed"][t] for t in view.positions]))
    return rows


SPEC = StageSpec(PersonMask, PersonMaskConfig, cost, render_rows)
