"""The person box of a sample: one square around the signer over the whole clip.

`fit: person` (signprep/kernels/frame_fit.py) letterboxes this box instead of the
whole frame into every image modality of the sample, so the signer fills the
stored images and keypoints stay pixel-aligned with them (the box is in each
`*_fit` attribute).

The box, in stored-frame pixels (continuous coordinates, x right, y down):
1. The signer's points of each frame: the pose's upper body (MediaPipe pose
   0-22: face, shoulders, elbows, wrists and the pose's hand points) where their
   visibility is at least `min_visibility`, the face mesh and both hands where
   present.
2. Their extent over the clip, robust to outlier frames: per frame, the
   smallest and largest x and y of its points; over the frames with any point,
   the `outlier_frames` quantile of the smallest and the 1 - `outlier_frames`
   quantile of the largest (a hand found in the background for a frame or two
   does not stretch the box).
3. A square on the centre of that extent, of side max(width, height) x (1 + 2
   `margin`) (`margin`: a fraction of the extent's side, on each side), at
   least a tenth of the frame's short side.
4. Clamped to the frame: shifted inside it, and cut to it along an axis the
   frame is shorter than the square (a portrait clip whose signer fills its
   width; the fit then letterboxes the cut box).

Without any point in the clip, the metadata's bbox (WLASL's person-detector
box, source pixels) takes the extent's place; without one, the box is the
whole frame (the fit is then the letterbox of `fit: pad`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from signprep.kernels.frame_fit import Box
from signprep.kernels.keypoint_layout import KeypointLayout

UPPER_BODY_POSE = range(23)  # MediaPipe pose 0-22: nose to thumbs; 23+ are hips, legs and feet
MIN_SIDE_OF_SHORT_SIDE = 0.1  # guards a degenerate box (one point found in one frame)

Basis = Literal["keypoints", "metadata bbox", "whole frame"]


@dataclass(frozen=True)
class PersonBox:
    box: Box  # x1, y1, x2, y2, stored-frame pixels, inside the frame
    basis: Basis  # what the box was built from


def signer_points(
    keypoints: np.ndarray, confidence: np.ndarray, present: np.ndarray, min_visibility: float
) -> np.ndarray:
    """(T, K) bool: the points of each frame that count as the signer's (step 1 above)."""
    layout = KeypointLayout.of_points(keypoints.shape[1])
    use = np.zeros(present.shape, bool)
    pose = layout.components["pose"][0] + np.asarray(UPPER_BODY_POSE)
    use[:, pose] = present[:, pose] & (confidence[:, pose] >= min_visibility)
    for component in ("face", "left_hand", "right_hand"):
        use[:, layout.slice(component)] = present[:, layout.slice(component)]
    return use


def clip_extent(xy: np.ndarray, use: np.ndarray, outlier_frames: float) -> Box | None:
    """(x1, y1, x2, y2) of the chosen points over the clip, robust to outlier frames (step 2);
    None when no frame has a point. xy: (T, K, 2) pixels, use: (T, K) bool."""
    frames = use.any(1)
    if not frames.any():
        return None
    x, y, m = xy[frames, :, 0], xy[frames, :, 1], use[frames]
    lows = np.where(m, x, np.inf).min(1), np.where(m, y, np.inf).min(1)
    highs = np.where(m, x, -np.inf).max(1), np.where(m, y, -np.inf).max(1)
    x1, y1 = (float(np.quantile(v, outlier_frames)) for v in lows)
    x2, y2 = (float(np.quantile(v, 1 - outlier_frames)) for v in highs)
    return x1, y1, x2, y2


def square_in_frame(extent: Box, frame_size: tuple[int, int], margin: float) -> Box:
    """The square on `extent` with `margin`, clamped to the (height, width) frame (steps 3 and 4)."""
    h, w = frame_size
    x1, y1, x2, y2 = extent
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    side = max(side, MIN_SIDE_OF_SHORT_SIDE * min(h, w), 1.0)

    def clamp(centre: float, length: float) -> tuple[float, float]:
        if side >= length:
            return 0.0, float(length)
        start = min(max(centre - side / 2, 0.0), length - side)
        return start, start + side

    bx1, bx2 = clamp((x1 + x2) / 2, w)
    by1, by2 = clamp((y1 + y2) / 2, h)
    return bx1, by1, bx2, by2


def person_box(
    keypoints: np.ndarray,
    confidence: np.ndarray,
    present: np.ndarray,
    frame_size: tuple[int, int],
    *,
    margin: float,
    outlier_frames: float,
    min_visibility: float,
    metadata_box: Box | None = None,
) -> PersonBox:
    """The sample's person box from its stored keypoint arrays.

    keypoints (T, K, 3) stored-frame pixels, confidence (T, K), present (T, K) bool;
    frame_size (height, width) of the stored frame; metadata_box: the metadata's bbox
    already in stored-frame pixels (or None).
    """
    use = signer_points(keypoints, confidence, present, min_visibility)
    extent = clip_extent(keypoints[..., :2], use, outlier_frames)
    basis: Basis = "keypoints"
    if extent is None and metadata_box is not None:
        h, w = frame_size
        x1, y1, x2, y2 = metadata_box
        x1, x2 = max(0.0, min(x1, w)), max(0.0, min(x2, w))
        y1, y2 = max(0.0, min(y1, h)), max(0.0, min(y2, h))
        if x2 > x1 and y2 > y1:
            extent, basis = (x1, y1, x2, y2), "metadata bbox"
    if extent is None:
        h, w = frame_size
        return PersonBox((0.0, 0.0, float(w), float(h)), "whole frame")
    return PersonBox(square_in_frame(extent, frame_size, margin), basis)


def to_stored_pixels(box: Box, crop_box: tuple[int, int, int, int] | None, scale: tuple[float, float]) -> Box:
    """A source-video box (the metadata's bbox) -> stored-frame pixels, through the decode's crop and scale."""
    cx, cy = (crop_box[0], crop_box[1]) if crop_box else (0, 0)
    sx, sy = scale
    x1, y1, x2, y2 = box
    return (x1 - cx) * sx, (y1 - cy) * sy, (x2 - cx) * sx, (y2 - cy) * sy


def to_source_pixels(box: Box, crop_box: tuple[int, int, int, int] | None, scale: tuple[float, float]) -> Box:
    """A stored-frame box -> source-video pixels (the inverse of `to_stored_pixels`)."""
    cx, cy = (crop_box[0], crop_box[1]) if crop_box else (0, 0)
    sx, sy = scale
    x1, y1, x2, y2 = box
    return x1 / sx + cx, y1 / sy + cy, x2 / sx + cx, y2 / sy + cy


def signer_fraction(xy: np.ndarray, use: np.ndarray, fit) -> float | None:
    """How much of a fitted image the signer spans: the extent of the signer's points over the whole
    clip (every frame, nothing left out), mapped by `fit` (a FrameFit), as the larger of its width /
    the output width and its height / the output height; None without any point. Above 1: part of
    the signer falls outside the image. xy (T, K, 2) stored-frame pixels, use (T, K) bool
    (`signer_points`)."""
    if not use.any():
        return None
    points = fit.map_points(xy[use].astype(np.float32))
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    return float(max((x2 - x1) / fit.out_w, (y2 - y1) / fit.out_h))


def outside_fraction(xy: np.ndarray, use: np.ndarray, fit) -> float | None:
    """Fraction of the signer's points (`use`, over every frame) that `fit` maps outside its output
    image: what a fit cuts off; None without any point."""
    if not use.any():
        return None
    points = fit.map_points(xy[use].astype(np.float32))
    inside = (points[:, 0] >= 0) & (points[:, 0] <= fit.out_w) & (points[:, 1] >= 0) & (points[:, 1] <= fit.out_h)
    return float(1 - inside.mean())
