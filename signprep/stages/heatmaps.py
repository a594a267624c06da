"""Heatmap stage: Gaussian heatmaps of a keypoint subset, one channel per keypoint.

Requires: `keypoints` (K, 3) float32 frame pixels, `keypoint_confidence` (K,),
`keypoint_present` (K,) bool (the keypoint stage's outputs). Adds: `heatmaps`
(K_subset, H, W), uint8 by default (value = stored * `heatmap_scale`, i.e.
/255, rounded to nearest) or float16 (`heatmap_scale` 1; values below 6.1e-5 stored
as 0). The runner stacks them to (T, K_subset, H, W).

Channel k is confidence_k * exp(-d^2 / (2 sigma^2)), d in heatmap pixels, and
heatmap pixel (i, j) has its centre at frame pixel coordinates
((j + 0.5) * W_frame / W, (i + 0.5) * H_frame / H) (continuous coordinates,
frame pixel centres at n + 0.5; see `signprep.kernels.gaussian_heatmaps`). Absent keypoints give
all-zero channels. The frame size comes from the VideoInfo of the sample.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from signprep.kernels.frame_fit import FitMode, FrameFit
from signprep.kernels.gaussian_heatmaps import UINT8_SCALE, quantize_heatmaps, render_heatmaps_np, render_limbs_np
from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.video.decode import VideoInfo

# pose 33 + left hand 21 + right hand 21; the rest of K is the face mesh
_NON_FACE_POINTS = 75


class KeypointHeatmaps:
    name = "heatmaps"
    requires = ("keypoints", "keypoint_confidence", "keypoint_present")
    adds = ("heatmaps",)

    def __init__(
        self,
        *,
        subset: str = "signvtcl79",
        size: Sequence[int] = (64, 64),
        sigma: float = 2.0,
        dtype: Literal["uint8", "float16"] = "uint8",
        fit: FitMode = "stretch",
        limbs: bool = False,
    ) -> None:
        """subset: a `KeypointLayout.subset` name. size: (H, W) heatmap pixels.
        sigma: in heatmap pixels. dtype: "uint8" (quantised, /255) or "float16".
        fit: how the frame maps onto the heatmap grid (`FrameFit`); use the
        frames stage's fit to keep heatmaps pixel-aligned with stored frames.
        limbs: also store `limb_heatmaps` (L, H, W), one channel per skeleton edge
        within the subset (PoseC3D's limb targets), same dtype and scale."""
        if dtype not in ("uint8", "float16"):
            raise ValueError(f"heatmap dtype must be 'uint8' or 'float16', got {dtype!r}")
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"heatmap size must be (H, W) > 0, got {size!r}")
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0 heatmap pixels, got {sigma}")
        self.subset = subset
        self.size = (int(size[0]), int(size[1]))
        self.sigma = float(sigma)
        self.dtype = dtype
        self.fit = fit
        self.limbs = limbs
        self.adds = ("heatmaps", "limb_heatmaps") if limbs else ("heatmaps",)
        self._fit: FrameFit | None = None
        self._indices = KeypointLayout().subset(subset)  # raises early on an unknown subset name
        self._num_points = KeypointLayout().num_points
        self._frame_size: tuple[int, int] | None = None
        self._scratch: np.ndarray | None = None  # (K_subset, H, W) float32, reused across frames

    def open(self, video: VideoInfo) -> None:
        if video.width <= 0 or video.height <= 0:
            raise ValueError(f"heatmaps need the frame size; the decoder reported {video.width}x{video.height}")
        self._frame_size = (video.height, video.width)
        self._fit = FrameFit(video.height, video.width, *self.size, mode=self.fit)

    def _subset_indices(self, num_points: int) -> np.ndarray:
        # the refined face mesh (478 points) shifts the hands: follow the K actually stored
        if num_points != self._num_points:
            layout = KeypointLayout(num_points - _NON_FACE_POINTS)
            self._indices, self._num_points = layout.subset(self.subset), layout.num_points
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
            limbs = render_limbs_np(*args, limbs=self._limbs(keypoints.shape[0]), **geometry)
            out["limb_heatmaps"] = limbs.astype(np.float16) if self.dtype == "float16" else quantize_heatmaps(limbs)
        return out

    def _limbs(self, num_points: int) -> list[tuple[int, int]]:
        return KeypointLayout(num_points - _NON_FACE_POINTS).limbs_within(self._indices)

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
            "heatmap_limbs": json.dumps(self._limbs(self._num_points)) if self.limbs else "",
            "heatmap_units": (
                "stored value * heatmap_scale = confidence * exp(-d^2 / (2 sigma^2)), d and sigma in heatmap "
                "pixels; keypoints mapped to heatmap pixels by heatmap_fit (out = frame * scale + offset, "
                "continuous coordinates, pixel n spans [n, n + 1))"
            ),
        }
