"""The person box: the signer's points over the clip, robust to outlier frames, squared, clamped."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.kernels.frame_fit import FrameFit
from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.kernels.person_box import (
    outside_fraction,
    person_box,
    signer_fraction,
    signer_points,
    to_source_pixels,
    to_stored_pixels,
)

LAYOUT = KeypointLayout()
NOSE, LEFT_SHOULDER, RIGHT_HIP = 0, 11, 24
RIGHT_HAND = LAYOUT.components["right_hand"][0]


def _clip(frames: int = 100):
    """A clip whose signer is only two pose points: the nose at (300, 100), a shoulder at (340, 180)."""
    k = LAYOUT.num_points
    kp = np.zeros((frames, k, 3), np.float32)
    conf = np.zeros((frames, k), np.float32)
    present = np.zeros((frames, k), bool)
    kp[:, NOSE, :2], kp[:, LEFT_SHOULDER, :2] = (300, 100), (340, 180)
    present[:, [NOSE, LEFT_SHOULDER]] = True
    conf[:, [NOSE, LEFT_SHOULDER]] = 0.9
    return kp, conf, present


def test_the_box_is_the_square_on_the_signer_with_the_margin():
    kp, conf, present = _clip()
    box = person_box(kp, conf, present, (360, 640), margin=0.1, outlier_frames=0.0, min_visibility=0.5)
    # extent x 300..340, y 100..180: side max(40, 80) * 1.2 = 96 around the centre (320, 140)
    assert box.basis == "keypoints"
    np.testing.assert_allclose(box.box, (272, 92, 368, 188))


def test_hips_and_barely_visible_points_do_not_count():
    kp, conf, present = _clip()
    kp[:, RIGHT_HIP, :2], conf[:, RIGHT_HIP] = (600, 350), 0.9  # below the upper body: never part of the box
    kp[:, 13, :2], conf[:, 13] = (10, 10), 0.2  # an elbow MediaPipe is unsure of
    present[:, [RIGHT_HIP, 13]] = True
    box = person_box(kp, conf, present, (360, 640), margin=0.0, outlier_frames=0.0, min_visibility=0.5)
    np.testing.assert_allclose(box.box, (280, 100, 360, 180))


def test_a_hand_found_for_one_frame_in_a_hundred_is_left_out_but_a_hand_held_for_many_is_in():
    kp, conf, present = _clip()
    kp[7, RIGHT_HAND : RIGHT_HAND + 21, :2] = (600, 20)  # one frame: a "hand" in the background
    present[7, RIGHT_HAND : RIGHT_HAND + 21] = True
    robust = person_box(kp, conf, present, (360, 640), margin=0.0, outlier_frames=0.02, min_visibility=0.5)
    np.testing.assert_allclose(robust.box, (280, 100, 360, 180), atol=1e-3)
    every = person_box(kp, conf, present, (360, 640), margin=0.0, outlier_frames=0.0, min_visibility=0.5)
    # stretched to the outlier: extent 300..600 x 20..180, side 300, shifted down into the frame
    np.testing.assert_allclose(every.box, (300, 0, 600, 300))
    present[5:30, RIGHT_HAND : RIGHT_HAND + 21] = True  # half the clip: a real sign
    kp[5:30, RIGHT_HAND : RIGHT_HAND + 21, :2] = (420, 160)
    held = person_box(kp, conf, present, (360, 640), margin=0.0, outlier_frames=0.02, min_visibility=0.5)
    # extent x 300..420, y 100..180: side 120 around (360, 140)
    np.testing.assert_allclose(held.box, (300, 80, 420, 200), atol=1e-3)


def test_the_box_is_shifted_into_the_frame_and_cut_where_the_frame_is_narrower():
    kp, conf, present = _clip()
    kp[:, NOSE, :2], kp[:, LEFT_SHOULDER, :2] = (20, 10), (60, 90)  # near the top-left corner
    box = person_box(kp, conf, present, (360, 640), margin=0.1, outlier_frames=0.0, min_visibility=0.5)
    np.testing.assert_allclose(box.box, (0, 2, 96, 98))  # side 96 around (40, 50), shifted right
    kp[:, NOSE, :2], kp[:, LEFT_SHOULDER, :2] = (10, 100), (350, 500)  # a portrait clip the signer fills
    box = person_box(kp, conf, present, (640, 360), margin=0.1, outlier_frames=0.0, min_visibility=0.5)
    side = 400 * 1.2
    np.testing.assert_allclose(box.box, (0, 300 - side / 2, 360, 300 + side / 2))  # the width cut to the frame's


def test_without_keypoints_the_metadata_box_then_the_whole_frame():
    kp, conf, present = _clip()
    present[:] = False
    box = person_box(kp, conf, present, (360, 640), margin=0.0, outlier_frames=0.0, min_visibility=0.5,
                     metadata_box=(100.0, 50.0, 300.0, 350.0))  # fmt: skip
    assert box.basis == "metadata bbox"
    np.testing.assert_allclose(box.box, (50, 50, 350, 350))
    box = person_box(kp, conf, present, (360, 640), margin=0.0, outlier_frames=0.0, min_visibility=0.5)
    assert box.basis == "whole frame" and box.box == (0.0, 0.0, 640.0, 360.0)


def test_source_and_stored_pixels_convert_through_the_decode_crop_and_scale():
    crop, scale = (100, 50, 740, 410), (0.5, 0.5)
    stored = to_stored_pixels((200.0, 150.0, 300.0, 250.0), crop, scale)
    assert stored == (50.0, 50.0, 100.0, 100.0)
    assert to_source_pixels(stored, crop, scale) == (200.0, 150.0, 300.0, 250.0)


def test_signer_fraction_and_cut_under_a_fit():
    kp, conf, present = _clip()
    use = signer_points(kp, conf, present, 0.5)
    pad = FrameFit(360, 640, 100, 100, "pad")  # scale 100/640: the 80 px tall signer spans 12.5 px
    assert signer_fraction(kp[..., :2], use, pad) == pytest.approx(80 / 640)
    assert outside_fraction(kp[..., :2], use, pad) == 0.0
    tight = FrameFit(360, 640, 100, 100, "person", box=(280.0, 100.0, 360.0, 140.0))  # cuts the shoulder
    assert signer_fraction(kp[..., :2], use, tight) == pytest.approx(1.0)  # 80 px tall in an 80 px box
    assert outside_fraction(kp[..., :2], use, tight) == pytest.approx(0.5)
