"""Keypoint quality figures against hand-computed values, and their bounds."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.kernels.keypoint_quality import (
    FIGURES,
    check_figures,
    keypoint_quality,
    longest_gap,
    passes,
    summarise_figures,
)

LAYOUT = KeypointLayout()


def _sample(t: int = 10):
    k = LAYOUT.num_points
    return np.zeros((t, k), bool), np.zeros((t, k), np.float32), np.zeros((t, k, 3), np.float32), np.arange(t)


def test_fractions_gaps_and_the_dominant_hand():
    present, conf, kp, frames = _sample()
    present[:, LAYOUT.slice("pose")] = True
    present[[0, 1, 2, 6], LAYOUT.slice("left_hand")] = True  # 4 of 10, longest gap frames 3-5 or 7-9: 3
    present[[0, 9], LAYOUT.slice("right_hand")] = True  # 2 of 10, gap 1..8: 8
    present[:5, LAYOUT.slice("face")] = True
    conf[:, LAYOUT.subset("upper_body")] = 0.5
    conf[:3, LAYOUT.subset("upper_body")] = 1.0
    q = keypoint_quality(present, conf, kp, frames)
    assert (q["left_hand_fraction"], q["right_hand_fraction"], q["face_fraction"], q["pose_fraction"]) == (
        0.4, 0.2, 0.5, 1.0
    )  # fmt: skip
    assert q["dominant_hand"] == "left" and q["dominant_hand_fraction"] == 0.4
    assert (q["left_hand_longest_gap"], q["right_hand_longest_gap"], q["dominant_hand_longest_gap"]) == (3, 8, 3)
    assert q["upper_body_visibility"] == pytest.approx((3 * 1.0 + 7 * 0.5) / 10)
    assert q["shoulder_jitter_px"] == 0.0  # the shoulders never move
    assert set(q) == set(FIGURES)


def test_a_tie_makes_the_right_hand_dominant_and_absent_pose_counts_zero_visibility():
    present, conf, kp, frames = _sample()
    present[:5, LAYOUT.subset("upper_body")] = True
    conf[:, LAYOUT.subset("upper_body")] = 0.8  # stored where absent too: presence decides
    q = keypoint_quality(present, conf, kp, frames)
    assert q["dominant_hand"] == "right" and q["dominant_hand_fraction"] == 0.0 and q["dominant_hand_longest_gap"] == 10
    assert q["upper_body_visibility"] == pytest.approx(0.4)


def test_jitter_is_the_median_shoulder_step_and_skips_repeated_source_frames():
    present, conf, kp, _ = _sample(6)
    present[:, [11, 12]] = True
    kp[:, 11, 0] = [0, 1, 1, 4, 4, 6]  # left shoulder steps 1, 0, 3, 0, 2
    kp[:, 12, 1] = [0, 0, 0, 0, 0, 0]  # right shoulder still
    frames = np.array([0, 1, 1, 2, 3, 4])  # stored frames 1 and 2 are one source frame (fps resampling)
    q = keypoint_quality(present, conf, kp, frames)
    # pairs (0,1) (2,3) (3,4) (4,5): left 1, 3, 0, 2; right 0, 0, 0, 0 -> median of 8 steps = 0
    assert q["shoulder_jitter_px"] == 0.0
    kp[:, 12, 1] = [0, 2, 2, 4, 6, 8]  # right steps 2, 2, 2, 2 on those pairs
    assert keypoint_quality(present, conf, kp, frames)["shoulder_jitter_px"] == pytest.approx(2.0)
    present[:, 12] = False
    assert keypoint_quality(present, conf, kp, frames)["shoulder_jitter_px"] is None


def test_longest_gap():
    assert longest_gap(np.array([True, False, False, True, False])) == 2
    assert longest_gap(np.array([], bool)) == 0


def test_bounds_name_known_figures_and_a_missing_figure_fails():
    with pytest.raises(ValueError, match="unknown quality figure 'hand'"):
        check_figures({"hand": 0.5}, "min_quality")
    with pytest.raises(ValueError, match="must be a number"):
        check_figures({"face_fraction": "high"}, "min_quality")
    q = {"dominant_hand_fraction": 0.6, "shoulder_jitter_px": None}
    assert passes(q, {"dominant_hand_fraction": 0.5}, {})
    assert not passes(q, {"dominant_hand_fraction": 0.7}, {})
    assert not passes(q, {}, {"shoulder_jitter_px": 5})  # null jitter: not measurable, not passed
    assert not passes(None, {"dominant_hand_fraction": 0.0}, {})
    assert passes(None, {}, {})


def test_summary_over_samples():
    s = summarise_figures([{"face_fraction": 0.2}, {"face_fraction": 0.6}, {"face_fraction": 1.0}, None])
    assert s == {"face_fraction": {"min": 0.2, "median": 0.6, "mean": 0.6, "max": 1.0}}
