"""Gap filling: linear in time over short gaps with a present frame on both sides, and a mask."""

from __future__ import annotations

import numpy as np

from signprep.kernels.keypoint_gaps import fill_keypoint_gaps, gap_runs
from signprep.kernels.keypoint_layout import KeypointLayout

LAYOUT = KeypointLayout()
HAND = LAYOUT.slice("right_hand")
WRIST = LAYOUT.components["right_hand"][0]


def _track(present_frames: list[int], t: int = 10):
    k = LAYOUT.num_points
    kp = np.zeros((t, k, 3), np.float32)
    conf = np.zeros((t, k), np.float32)
    present = np.zeros((t, k), bool)
    for f in present_frames:
        present[f, HAND] = True
        conf[f, HAND] = 1.0
        kp[f, HAND] = (10.0 * f, 100.0 - f, 0.5 * f)  # a hand moving right and up
    return kp, conf, present


def test_gap_runs():
    track = np.array([True, False, False, True, False, True, False, False, False, True, False])
    assert gap_runs(track, 3) == [(1, 2), (4, 4), (6, 8)]
    assert gap_runs(track, 2) == [(1, 2), (4, 4)]  # 6..8 is 3 long; 10 has no present frame after it


def test_a_short_gap_is_the_line_between_its_neighbours():
    kp, conf, present = _track([0, 1, 4, 5, 9])
    before = (kp.copy(), conf.copy(), present.copy())
    out, out_conf, out_present, filled = fill_keypoint_gaps(kp, conf, present, max_gap=2)
    # frames 2, 3 between 1 (10, 99, 0.5) and 4 (40, 96, 2): 1/3 and 2/3 of the way
    np.testing.assert_allclose(out[2, WRIST], (20.0, 98.0, 1.0), atol=1e-5)
    np.testing.assert_allclose(out[3, WRIST], (30.0, 97.0, 1.5), atol=1e-5)
    assert out_present[2:4, HAND].all() and filled[2:4, HAND].all() and (out_conf[2:4, HAND] == 1.0).all()
    # frames 6-8 are 3 long: left absent, zeros kept
    assert not out_present[6:9, HAND].any() and not filled[6:9].any() and (out[6:9, WRIST] == 0).all()
    assert filled.sum() == 2 * 21  # two frames of one hand, nothing else
    for a, b in zip(before, (kp, conf, present)):
        np.testing.assert_array_equal(a, b)  # the inputs are untouched


def test_no_extrapolation_and_max_gap_zero_fills_nothing():
    kp, conf, present = _track([3, 4])
    _, _, out_present, filled = fill_keypoint_gaps(kp, conf, present, max_gap=5)
    assert not filled.any() and (out_present == present).all()
    kp, conf, present = _track([0, 2])
    assert not fill_keypoint_gaps(kp, conf, present, max_gap=0)[3].any()


def test_only_the_asked_components_are_filled():
    kp, conf, present = _track([0, 2])
    pose = LAYOUT.slice("pose")
    present[[0, 2], pose] = True
    _, _, out_present, filled = fill_keypoint_gaps(kp, conf, present, max_gap=1)
    assert filled[1, HAND].all() and not filled[1, pose].any() and not out_present[1, pose].any()
    _, _, _, filled = fill_keypoint_gaps(kp, conf, present, max_gap=1, components=("pose",))
    assert filled[1, pose].all() and not filled[1, HAND].any()
