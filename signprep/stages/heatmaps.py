"""Heatmap stage: Gaussian heatmaps of a keypoint subset, one channel per keypoint.

Requires: `keypoints` (K, 3) float32 frame pixels, `keypoint_confidence` (K,),
`keypoint_present` (K,) bool (the keypoint stage's outputs). Adds: `heatmaps`
(K_subset, H, W), uint8 by default (value = stored * `heatmap_scale`, i.e.
/255, rounded to nearest) or float16 (`heatmap_scale` 1; values below 6.1e-5 stored
as 0). The runner stacks them to (T, K_subset, H, W).

Channel k is confidence_k * exp(-d^2 / (2 sigma^2)), d in heatmap pixels, the
keypoints mapped from frame pixels onto the heatmap grid by the configured
`FrameFit` (sample attribute `heatmap_fit`: out = frame * scale + offset, in
continuous coordinates, pixel n spanning [n, n + 1); see
`signprep.kernels.gaussian_heatmaps`). With the default fit "pad" that is the
frames stage's letterbox; "person" letterboxes the sample's person box, as the
frames stage with the same fit does; with "stretch", heatmap pixel (i, j) has its centre at
frame pixel ((j + 0.5) * W_frame / W, (i + 0.5) * H_frame / H). Absent keypoints
give all-zero channels. The frame size comes from the VideoInfo of the sample.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from signprep.kernels.frame_fit import FitMode, FrameFit, fit_for
from signprep.kernels.gaussian_heatmaps import (
    UINT8_SCALE,
    dequantize_heatmaps,
    quantize_heatmaps,
    render_heatmaps_np,
    render_limbs_np,
)
from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.stages.contract import Measured, RenderInput, Row, Size, StageConfig, StageCost, StageSpec
from signprep.stages.keypoints import KEYPOINT_ENTRIES
from signprep.video.decode import VideoInfo

# 79 channels (signvtcl79), uint8. Bytes: docs/shards.md ("Derived modalities"), 4 corpus clips;
# float16 stored 38310 B/frame beside them. CPU time and bytes scale with the pixels.
HEATMAPS_COST = Measured(0.58, 10886.0, (64, 64))
# fit: person: the shipped multimodal pipeline over the whole sample corpus (37 clips, 4828 frames)
HEATMAPS_PERSON_COST = Measured(0.58, 8802.0, (64, 64))
FLOAT16_BYTES_FACTOR = 38310 / 10886


class HeatmapsConfig(StageConfig):
    subset: str = "signvtcl79"  # a `KeypointLayout.subset` name
    size: Size = (64, 64)  # (H, W) heatmap pixels
    sigma: float = Field(default=2.0, gt=0)  # heatmap pixels
    dtype: Literal["uint8", "float16"] = "uint8"  # uint8: quantised, /255
    # How the frame maps onto the heatmap grid (`FrameFit`). "pad" is the frames stage's default,
    # so heatmaps stay pixel-aligned with the stored frames, and what every pipeline ran with
    # (the stage class once had "stretch" as its own default, used only by tests and benchmarks).
    fit: FitMode = "pad"
    limbs: bool = False  # also `limb_heatmaps`: one channel per skeleton edge within the subset

    @field_validator("subset")
    @classmethod
    def _known_subset(cls, v: str) -> str:
        try:
            KeypointLayout().subset(v)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
        return v

    def requires(self) -> tuple[str, ...]:
        return KEYPOINT_ENTRIES


class KeypointHeatmaps:
    name = "heatmaps"
    adds = ("heatmaps", "limb_heatmaps")

    def __init__(self, config: HeatmapsConfig) -> None:
        self.subset = config.subset
        self.size = (int(config.size[0]), int(config.size[1]))
        self.sigma = float(config.sigma)
        self.dtype = config.dtype
        self.fit = config.fit
        self.limbs = config.limbs
        self.adds = ("heatmaps", "limb_heatmaps") if self.limbs else ("heatmaps",)
        self._fit: FrameFit | None = None
        self._layout = KeypointLayout()
        self._indices = self._layout.subset(self.subset)
        self._frame_size: tuple[int, int] | None = None
        self._scratch: np.ndarray | None = None  # (K_subset, H, W) float32, reused across frames

    def open(self, video: VideoInfo) -> None:
        if video.width <= 0 or video.height <= 0:
            raise ValueError(f"heatmaps need the frame size; the decoder reported {video.width}x{video.height}")
        self._frame_size = (video.height, video.width)
        self._fit = fit_for(video, self.size, self.fit)

    def _subset_indices(self, num_points: int) -> np.ndarray:
        # the refined face mesh (478 points) shifts the hands: follow the K actually stored
        if num_points != self._layout.num_points:
            self._layout = KeypointLayout.of_points(num_points)
            self._indices = self._layout.subset(self.subset)
        return self._indices

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        if self._frame_size is None:
            raise RuntimeError("KeypointHeatmaps.process called before open()")
        keypoints = frame["keypoints"]
        idx = self._subset_indices(keypoints.shape[0])
        xy = self._fit.map_points(keypoints[idx, :2])  # frame pixels -> heatmap pixels
        args = (xy, frame["keypoint_confidence"][idx], frame["keypoint_present"][idx])
        geometry = dict(size=self.size, sigma=self.sigma, frame_size=None)
        out = {}
        if self.dtype == "float16":
            out["heatmaps"] = render_heatmaps_np(*args, **geometry, dtype=np.float16)
        else:
            if self._scratch is None or self._scratch.shape[0] != len(idx):
                self._scratch = np.empty((len(idx), *self.size), np.float32)
            # Render into one reused float32 buffer and return only the (kept) uint8 array:
            # fresh float32 temporaries per frame measured ~5x slower, in page faults.
            rendered = render_heatmaps_np(*args, **geometry, out=self._scratch)
            out["heatmaps"] = quantize_heatmaps(rendered, overwrite_input=True)
        if self.limbs:
            limbs = render_limbs_np(*args, limbs=self._layout.limbs_within(self._indices), **geometry)
            out["limb_heatmaps"] = limbs.astype(np.float16) if self.dtype == "float16" else quantize_heatmaps(limbs)
        return out

    def close(self) -> None:
        # Keep the frame size: the runner asks for attrs() after close().
        pass

    def attrs(self) -> dict[str, Any]:
        frame_size = list(self._frame_size) if self._frame_size else []
        # prefixed: sample attributes already hold `scale`, `width`, `height`
        return {
            "heatmap_keypoint_subset": self.subset,
            "heatmap_keypoint_indices": [int(i) for i in self._indices],
            "heatmap_size": list(self.size),
            "heatmap_sigma": self.sigma,
            "heatmap_dtype": self.dtype,
            "heatmap_scale": UINT8_SCALE if self.dtype == "uint8" else 1.0,
            "heatmap_frame_size": frame_size,
            "heatmap_fit": json.dumps(self._fit.to_attr()) if self._fit else "",
            "heatmap_limbs": json.dumps(self._layout.limbs_within(self._indices)) if self.limbs else "",
            "heatmap_units": (
                "stored value * heatmap_scale = confidence * exp(-d^2 / (2 sigma^2)), d and sigma in heatmap "
                "pixels; keypoints mapped to heatmap pixels by heatmap_fit (out = frame * scale + offset, "
                "continuous coordinates, pixel n spans [n, n + 1))"
            ),
        }


def cost(config: HeatmapsConfig) -> StageCost:
    measured = HEATMAPS_PERSON_COST if config.fit == "person" else HEATMAPS_COST
    pixels = measured.pixel_ratio(config.size)
    factor = FLOAT16_BYTES_FACTOR if config.dtype == "float16" else 1.0
    return StageCost("heatmaps", measured.cpu_ms * pixels, (("heatmaps", measured.bytes * pixels * factor),))


def render_rows(view: RenderInput) -> list[Row]:
    """The max over keypoints in colour, over the dimmed training frame when the sample has one."""
    sample = view.sample
    if "heatmaps" not in sample.datasets:
        return []
    heat = sample["heatmaps"]
    frames = sample["frames"] if "frames" in sample.datasets else None
    images = []
    for t in view.positions:
        h = heat[t]
        h = dequantize_heatmaps(h) if h.dtype == np.uint8 else h.astype(np.float32)
        peak = h.max(0)  # the max reads better than the sum where face points crowd
        colour = cv2.applyColorMap((peak * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
        if frames is not None:  # over the dimmed training frame, where both share a fit
            under = cv2.resize(frames[t], colour.shape[1::-1], interpolation=cv2.INTER_AREA) // 3
            alpha = np.clip(peak * 3, 0, 1)[..., None]
            colour = (colour * alpha + under * (1 - alpha)).astype(np.uint8)
        images.append(colour)
    return [("heatmaps (max over keypoints)", images)]


SPEC = StageSpec(KeypointHeatmaps, HeatmapsConfig, cost, render_rows)
