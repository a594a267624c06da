"""Keypoint quality of a sample: how much of the signer MediaPipe found, and how steadily.

Computed here only, from a sample's stored arrays (`keypoint_present`,
`keypoint_confidence`, `keypoints`, `frame_indices`): by the extraction into the
sample attribute `keypoint_quality` and the index entry's `quality`, and by
`signprep inspect`/`report` and `ShardReader.quality` for shards written before
the figures existed. docs/shards.md ("Keypoint quality") defines each figure;
`FIGURES` holds the same definitions in one line each.

Frames are the stored frames (after the frame range and any fps resampling);
"present" is `keypoint_present`, which MediaPipe sets for a whole component
(pose, face, a hand) at once; left and right are the signer's.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from signprep.kernels.keypoint_layout import KeypointLayout

LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12  # MediaPipe pose indices

# name -> definition (units); the order is the order `inspect` and `report` show them in
FIGURES: dict[str, str] = {
    "dominant_hand": "the hand present in more frames, 'left' or 'right' (a tie: 'right')",
    "dominant_hand_fraction": "fraction of frames with the dominant hand",
    "left_hand_fraction": "fraction of frames with the left hand",
    "right_hand_fraction": "fraction of frames with the right hand",
    "face_fraction": "fraction of frames with the face mesh",
    "pose_fraction": "fraction of frames with the pose",
    "upper_body_visibility": "mean pose visibility of the 11 upper-body points, over all frames (no pose: 0)",
    "dominant_hand_longest_gap": "longest run of consecutive frames without the dominant hand (frames)",
    "left_hand_longest_gap": "longest run of consecutive frames without the left hand (frames)",
    "right_hand_longest_gap": "longest run of consecutive frames without the right hand (frames)",
    "shoulder_jitter_px": (
        "median frame-to-frame displacement of the two shoulders, stored-frame pixels, over consecutive "
        "frames of different source frames with both shoulders in both (none: null)"
    ),
}
NUMERIC = tuple(name for name in FIGURES if name != "dominant_hand")


def longest_gap(present: np.ndarray) -> int:
    """Longest run of False in a (T,) bool array (frames)."""
    longest = run = 0
    for p in present:
        run = 0 if p else run + 1
        longest = max(longest, run)
    return longest


def shoulder_jitter_px(keypoints: np.ndarray, present: np.ndarray, frame_indices: np.ndarray) -> float | None:
    """Median displacement of the shoulders between consecutive stored frames (pixels), or None.

    Pairs whose frames are one source frame repeated (fps resampling up) are left out: they
    move by exactly 0 and would hide the jitter.
    """
    shoulders = [LEFT_SHOULDER, RIGHT_SHOULDER]
    both = present[:, shoulders].all(1)
    pairs = both[1:] & both[:-1] & (np.diff(frame_indices) != 0)
    if not pairs.any():
        return None
    xy = keypoints[:, shoulders, :2].astype(np.float64)
    steps = np.linalg.norm(xy[1:] - xy[:-1], axis=-1)[pairs]  # (pairs, 2 shoulders)
    return float(np.median(steps))


def keypoint_quality(
    present: np.ndarray, confidence: np.ndarray, keypoints: np.ndarray, frame_indices: np.ndarray
) -> dict[str, Any]:
    """The figures of `FIGURES` for one sample. present, confidence: (T, K); keypoints (T, K, 3)
    stored-frame pixels; frame_indices (T,) 0-based source frames."""
    present = np.asarray(present, bool)
    layout = KeypointLayout.of_points(present.shape[1])
    t = present.shape[0]

    def frames_with(component: str) -> np.ndarray:
        return present[:, layout.slice(component)].any(1)

    left, right = frames_with("left_hand"), frames_with("right_hand")
    dominant, dominant_frames = ("left", left) if left.sum() > right.sum() else ("right", right)
    upper = layout.subset("upper_body")
    visibility = np.where(present[:, upper], np.asarray(confidence)[:, upper], 0.0)
    jitter = shoulder_jitter_px(np.asarray(keypoints), present, np.asarray(frame_indices))

    def fraction(frames: np.ndarray) -> float:
        return round(float(frames.mean()), 4) if t else 0.0

    return {
        "dominant_hand": dominant,
        "dominant_hand_fraction": fraction(dominant_frames),
        "left_hand_fraction": fraction(left),
        "right_hand_fraction": fraction(right),
        "face_fraction": fraction(frames_with("face")),
        "pose_fraction": fraction(frames_with("pose")),
        "upper_body_visibility": round(float(visibility.mean()), 4) if t else 0.0,
        "dominant_hand_longest_gap": longest_gap(dominant_frames),
        "left_hand_longest_gap": longest_gap(left),
        "right_hand_longest_gap": longest_gap(right),
        "shoulder_jitter_px": None if jitter is None else round(jitter, 3),
    }


def quality_of_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, Any] | None:
    """`keypoint_quality` of a sample's arrays by dataset name; None when it stores no keypoints."""
    if "keypoint_present" not in arrays:
        return None
    return keypoint_quality(
        arrays["keypoint_present"], arrays["keypoint_confidence"], arrays["keypoints"], arrays["frame_indices"]
    )


def summarise_figures(qualities: Iterable[Mapping[str, Any] | None]) -> dict[str, dict[str, float]]:
    """min, median, mean and max of each numeric figure over the samples that have it."""
    values: dict[str, list[float]] = {name: [] for name in NUMERIC}
    for quality in qualities:
        for name in NUMERIC:
            if quality and quality.get(name) is not None:
                values[name].append(float(quality[name]))
    return {
        name: {
            "min": round(min(v), 4),
            "median": round(statistics.median(v), 4),
            "mean": round(statistics.fmean(v), 4),
            "max": round(max(v), 4),
        }
        for name, v in values.items()
        if v
    }


def check_figures(bounds: Mapping[str, float] | None, what: str) -> dict[str, float]:
    """`bounds` ({figure: value}) with every name a numeric figure; ValueError naming the bad one."""
    bounds = dict(bounds or {})
    for name, value in bounds.items():
        if name not in NUMERIC:
            raise ValueError(f"{what}: unknown quality figure {name!r}; known: {', '.join(NUMERIC)}")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{what}[{name!r}] must be a number, not {value!r}")
    return bounds


def passes(
    quality: Mapping[str, Any] | None, min_quality: Mapping[str, float], max_quality: Mapping[str, float]
) -> bool:
    """Whether a sample's figures meet every bound (value >= min, value <= max). A figure that is
    null (no shoulder pair for the jitter) or missing (no keypoints) fails any bound on it."""
    if not min_quality and not max_quality:
        return True
    quality = quality or {}
    for name, bound in min_quality.items():
        if quality.get(name) is None or quality[name] < bound:
            return False
    for name, bound in max_quality.items():
        if quality.get(name) is None or quality[name] > bound:
            return False
    return True
