"""Fitting a stored frame into a fixed training size, and mapping points with it.

Every stage that writes images at a training size (frames, background-removed
frames, masks, flow, heatmaps) uses one `FrameFit`, so the modalities of a
sample stay pixel-aligned with each other and with its keypoints.

Modes: `pad` keeps the aspect ratio and letterboxes (nothing of the signer is
cut; the default), `crop` keeps the aspect ratio and cuts the centre (no
borders, may cut hands at the sides of landscape video), `stretch` ignores
the aspect ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

FitMode = Literal["pad", "crop", "stretch"]


@dataclass(frozen=True)
class FrameFit:
    """Affine map from stored-frame pixels to output pixels: out = in * scale + offset.

    Coordinates are continuous, pixel i spanning [i, i + 1) (MediaPipe's x * width
    and `cv2.resize` follow this), so the map is a pure scale and offset.
    """

    src_h: int
    src_w: int
    out_h: int
    out_w: int
    mode: FitMode = "pad"

    @property
    def scales(self) -> tuple[float, float]:
        sx, sy = self.out_w / self.src_w, self.out_h / self.src_h
        if self.mode == "pad":
            s = min(sx, sy)
            return s, s
        if self.mode == "crop":
            s = max(sx, sy)
            return s, s
        return sx, sy

    @property
    def offsets(self) -> tuple[float, float]:
        sx, sy = self.scales
        return (self.out_w - self.src_w * sx) / 2, (self.out_h - self.src_h * sy) / 2

    def apply(self, image: np.ndarray, *, border: int = 0) -> np.ndarray:
        """Warp an (H, W[, C]) image of the stored frame to (out_h, out_w[, C]).

        Shrinking goes through `cv2.resize(INTER_AREA)` first (warpAffine alone
        would alias), then a linear warp does the exact remainder, so the image
        lands exactly where `map_points` puts the keypoints.
        """
        (sx, sy), (ox, oy) = self.scales, self.offsets
        src, fx, fy = image, 1.0, 1.0
        if sx < 1 or sy < 1:
            w, h = max(1, round(self.src_w * min(sx, 1))), max(1, round(self.src_h * min(sy, 1)))
            src = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
            fx, fy = w / self.src_w, h / self.src_h
        rx, ry = sx / fx, sy / fy
        # continuous coordinates (pixel i spans [i, i+1]) to warpAffine's pixel-centre indices
        m = np.array([[rx, 0, ox + 0.5 * rx - 0.5], [0, ry, oy + 0.5 * ry - 0.5]], np.float64)
        return cv2.warpAffine(
            src, m, (self.out_w, self.out_h), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=border,
        )  # fmt: skip

    def apply_cached(self, frame: dict) -> np.ndarray:
        """`apply` to `frame["rgb"]`, computed once per frame record for each distinct fit.

        Stages at the same size and mode (frames and flow at 112 px, say) then share
        one resize of a full-resolution frame, the costliest step beside the models.
        """
        cache = frame.setdefault("_fitted", {})
        key = (self.src_h, self.src_w, self.out_h, self.out_w, self.mode)
        if key not in cache:
            cache[key] = self.apply(frame["rgb"])
        return cache[key]

    def map_points(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) stored-frame pixels -> output pixels."""
        (sx, sy), (ox, oy) = self.scales, self.offsets
        return xy * np.array([sx, sy], np.float32) + np.array([ox, oy], np.float32)

    def to_attr(self) -> dict:
        return {"mode": self.mode, "size": [self.out_h, self.out_w], "scale": list(self.scales),
                "offset": list(self.offsets)}  # fmt: skip
