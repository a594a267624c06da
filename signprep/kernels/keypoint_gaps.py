"""Filling short gaps in keypoint tracks: linear in time, on request, with a mask of what was filled.

MediaPipe loses a hand or the face for a few frames (motion blur, a hand crossing the
face) and finds it again; a model that reads the keypoints then sees a point jump to 0 and
back. `fill_keypoint_gaps` replaces such a gap by the straight line between the frames
around it, in x, y, z and confidence, and marks the points it made (`filled`).

A gap is a run of consecutive frames in which a point is absent (`present` False); it is
filled when it is at most `max_gap` frames long and has a frame with the point on both
sides (no extrapolation before the first or after the last detection). For a gap of
frames a..b (0-based, inclusive) between present frames t0 = a - 1 and t1 = b + 1, frame t
gets v(t) = v(t0) + (v(t1) - v(t0)) * (t - t0) / (t1 - t0) for each of x, y, z and the
confidence, and present = True, filled = True. Only the components asked for are
filled (hands and face by default; the pose is tracked by MediaPipe itself).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from signprep.kernels.keypoint_layout import KeypointLayout

GAP_COMPONENTS = ("face", "left_hand", "right_hand")


def gap_runs(present: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """(a, b) of every fillable gap of a (T,) bool track: absent frames a..b (inclusive) with the point
    present at a - 1 and b + 1, and b - a + 1 <= max_gap."""
    absent = ~np.asarray(present, bool)
    edges = np.diff(np.concatenate([[False], absent, [False]]).astype(np.int8))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # run = starts[i] .. stops[i] - 1
    t = len(absent)
    return [(int(a), int(b) - 1) for a, b in zip(starts, stops) if a > 0 and b < t and b - a <= max_gap]


def fill_keypoint_gaps(
    keypoints: np.ndarray,
    confidence: np.ndarray,
    present: np.ndarray,
    max_gap: int,
    components: Sequence[str] = GAP_COMPONENTS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fill the gaps of up to `max_gap` frames of the points of `components`.

    keypoints (T, K, 3), confidence (T, K), present (T, K) bool, the full Holistic layout
    along K (any face size). Returns new arrays (keypoints float32, confidence float32,
    present, filled (T, K) bool: True where a value was made here); the inputs are left as
    they are. max_gap 0 fills nothing.
    """
    keypoints = np.array(keypoints, np.float32)
    confidence = np.array(confidence, np.float32)
    present = np.array(present, bool)
    filled = np.zeros(present.shape, bool)
    if max_gap <= 0 or present.shape[0] < 3:
        return keypoints, confidence, present, filled
    layout = KeypointLayout.of_points(present.shape[1])
    columns = np.concatenate([np.arange(*layout.components[c]) for c in components])
    # MediaPipe sets a whole component's presence at once: group columns by presence track, find runs once
    tracks, which = np.unique(present[:, columns].T, axis=0, return_inverse=True)
    for track_id, track in enumerate(tracks):
        cols = columns[np.ravel(which) == track_id]
        for a, b in gap_runs(track, max_gap):
            t0, t1 = a - 1, b + 1
            w = ((np.arange(a, b + 1) - t0) / (t1 - t0))[:, None]  # (gap, 1)
            before, after = keypoints[t0, cols].astype(np.float64), keypoints[t1, cols].astype(np.float64)
            keypoints[a : b + 1, cols] = (before + (after - before) * w[..., None]).astype(np.float32)
            c0, c1 = confidence[t0, cols].astype(np.float64), confidence[t1, cols].astype(np.float64)
            confidence[a : b + 1, cols] = (c0 + (c1 - c0) * w).astype(np.float32)
            present[a : b + 1, cols] = True
            filled[a : b + 1, cols] = True
    return keypoints, confidence, present, filled
