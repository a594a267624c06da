"""Fitting a stored frame into a fixed training size, and mapping points with it.

Every stage that writes images at a training size (frames, background-removed
frames, masks, flow, heatmaps) uses one `FrameFit`, so the modalities of a
sample stay pixel-aligned with each other and with its keypoints.

Modes: `pad` keeps the aspect ratio and letterboxes (nothing of the signer is
cut; the default), `crop` keeps the aspect ratio and cuts the centre (no
borders, may cut hands at the sides of landscape video), `stretch` ignores
the aspect ratio, `person` letterboxes the sample's person box (a square
around the signer's keypoints over the clip, clamped to the frame:
signprep/kernels/person_box.py) instead of the whole frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

FitMode = Literal["pad", "crop", "stretch", "person"]

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in stored-frame pixels (continuous)


@dataclass(frozen=True)
class FrameFit:
    """Affine map from stored-frame pixels to output pixels: out = in * scale + offset.

    Coordinates are continuous, pixel i spanning [i, i + 1) (MediaPipe's x * width
    and `cv2.resize` follow this), so the map is a pure scale and offset.
    `box` (mode "person" only, where it is required): the region of the stored frame
    that is letterboxed into the output, x1, y1, x2, y2 in stored-frame pixels.
    """

    src_h: int
    src_w: int
    out_h: int
    out_w: int
    mode: FitMode = "pad"
    box: Box | None = None

    def __post_init__(self) -> None:
        if (self.mode == "person") != (self.box is not None):
            raise ValueError(f"FrameFit mode {self.mode!r}: a box is given with mode 'person' and only then")
        if self.box is not None:
            x1, y1, x2, y2 = self.box
            if not (0 <= x1 < x2 <= self.src_w and 0 <= y1 < y2 <= self.src_h):
                raise ValueError(f"person box {self.box} is empty or leaves the {self.src_w}x{self.src_h} frame")

    @property
    def region(self) -> Box:
        """The part of the stored frame the output shows in full (for "crop": more than it shows)."""
        return self.box if self.box is not None else (0.0, 0.0, float(self.src_w), float(self.src_h))

    @property
    def scales(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.region
        sx, sy = self.out_w / (x2 - x1), self.out_h / (y2 - y1)
        if self.mode in ("pad", "person"):
            s = min(sx, sy)
            return s, s
        if self.mode == "crop":
            s = max(sx, sy)
            return s, s
        return sx, sy

    @property
    def offsets(self) -> tuple[float, float]:
        (sx, sy), (x1, y1, x2, y2) = self.scales, self.region
        return (self.out_w - (x2 - x1) * sx) / 2 - x1 * sx, (self.out_h - (y2 - y1) * sy) / 2 - y1 * sy

    def apply(self, image: np.ndarray, *, border: int = 0) -> np.ndarray:
        """Warp an (H, W[, C]) image of the stored frame to (out_h, out_w[, C]).

        Mode "person" first cuts the whole pixels covering the box. Shrinking goes
        through `cv2.resize(INTER_AREA)` first (warpAffine alone would alias), then a
        linear warp does the exact remainder, so the image lands exactly where
        `map_points` puts the keypoints.
        """
        (sx, sy), (ox, oy) = self.scales, self.offsets
        src = image
        if self.box is not None:  # cut first: resizing the whole frame would waste the time
            x1, y1, x2, y2 = self.box
            c0, r0 = max(0, math.floor(x1)), max(0, math.floor(y1))
            c1, r1 = min(self.src_w, math.ceil(x2)), min(self.src_h, math.ceil(y2))
            src = image[r0:r1, c0:c1]
            ox, oy = ox + c0 * sx, oy + r0 * sy
        fx, fy = 1.0, 1.0
        h, w = src.shape[:2]
        if sx < 1 or sy < 1:
            rw, rh = max(1, round(w * min(sx, 1))), max(1, round(h * min(sy, 1)))
            src = cv2.resize(src, (rw, rh), interpolation=cv2.INTER_AREA)
            fx, fy = rw / w, rh / h
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
        key = (self.src_h, self.src_w, self.out_h, self.out_w, self.mode, self.box)
        if key not in cache:
            cache[key] = self.apply(frame["rgb"])
        return cache[key]

    def map_points(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) stored-frame pixels -> output pixels."""
        (sx, sy), (ox, oy) = self.scales, self.offsets
        return xy * np.array([sx, sy], np.float32) + np.array([ox, oy], np.float32)

    def normalised(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale (2,), offset (2,)): stored-frame pixels -> 0..1 of the output's width and height."""
        size = np.array([self.out_w, self.out_h], np.float64)
        return np.array(self.scales) / size, np.array(self.offsets) / size

    def to_attr(self) -> dict:
        """The `*_fit` sample attribute (docs/shards.md); "box" only for mode "person"."""
        attr = {"mode": self.mode, "size": [self.out_h, self.out_w], "scale": list(self.scales),
                "offset": list(self.offsets)}  # fmt: skip
        if self.box is not None:
            attr["box"] = [float(v) for v in self.box]
        return attr

    @classmethod
    def from_attr(cls, attr: dict, src_h: int, src_w: int) -> FrameFit:
        """The fit a `*_fit` attribute describes, for a stored frame of src_h x src_w pixels."""
        box = tuple(float(v) for v in attr["box"]) if attr.get("box") else None
        return cls(src_h, src_w, *(int(v) for v in attr["size"]), mode=attr["mode"], box=box)


def fit_for(video, size: tuple[int, int], mode: FitMode) -> FrameFit:
    """The fit of an image stage for the open sample: `video` is its VideoInfo (frame size, and
    the person box the extraction found before a "person" fit's second pass)."""
    box = None
    if mode == "person":
        box = getattr(video, "person_box", None)
        if box is None:
            raise ValueError("fit 'person' needs the sample's person box, found in the extraction's first pass")
    return FrameFit(video.height, video.width, int(size[0]), int(size[1]), mode=mode, box=box)
