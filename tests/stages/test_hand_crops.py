"""Hand crops contain the hands; absent hands are flagged; the refined face mesh; plan cost and row."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.shards import ShardReader
from signprep.stages.contract import StageCost
from signprep.stages.hand_crops import CROPS_COST, HandCrops, HandCropsConfig
from signprep.stages.hand_crops import cost as hand_crops_cost
from signprep.stages.hand_crops import render_rows as hand_crop_rows
from signprep.video.decode import VideoInfo

LAYOUT = KeypointLayout()


def test_hand_crops_contain_their_hand_keypoints(all_stages_run):
    out, _ = all_stages_run
    with ShardReader(out) as reader:
        for sid in reader:
            s = reader[sid]
            source, valid = s.read("hand_crop_source"), s.read("hand_crop_valid")
            local, present = s.read("hand_keypoints_crop"), s.read("keypoint_present")
            size = s.read("hand_crops").shape[2]
            for h, hand in enumerate(("left_hand", "right_hand")):
                detected = present[:, LAYOUT.slice(hand)].all(1)
                assert ((source[:, h] == 1) == detected).all()
                pts = local[detected, h]
                assert pts.size and (pts >= 0).all() and (pts <= size).all(), sid
                # the margin keeps the hand off the borders
                assert (pts.min(1) > 0.05 * size).all() and (pts.max(1) < 0.95 * size).all()
            assert (valid == (source > 0)).all()
            assert (s.read("hand_crops")[~valid] == 0).all()


def _frame_keypoints(layout: KeypointLayout = LAYOUT):
    kp = np.zeros((layout.num_points, 3), np.float32)
    conf = np.zeros(layout.num_points, np.float32)
    present = np.zeros(layout.num_points, bool)
    return kp, conf, present


def test_absent_hands_are_flagged_and_a_missed_hand_is_estimated_from_the_arm():
    stage = HandCrops(HandCropsConfig(size=32))
    stage.open(VideoInfo("synthetic", 30, 1, 200, 200, width=200, height=200))
    rgb = np.full((200, 200, 3), 128, np.uint8)
    kp, conf, present = _frame_keypoints()
    out = stage.process({"rgb": rgb, "keypoints": kp, "keypoint_confidence": conf, "keypoint_present": present})
    assert not out["hand_crop_valid"].any() and (out["hand_crop_source"] == 0).all()
    assert (out["hand_crops"] == 0).all()
    # the pose found the right arm (elbow 14 -> wrist 16), the hand model did not
    kp[14, :2], kp[16, :2] = (100, 150), (100, 100)
    conf[[14, 16]], present[[14, 16]] = 0.9, True
    out = stage.process({"rgb": rgb, "keypoints": kp, "keypoint_confidence": conf, "keypoint_present": present})
    assert out["hand_crop_valid"].tolist() == [False, True]
    assert out["hand_crop_source"].tolist() == [0, 2]
    x1, y1, x2, y2 = out["hand_crop_boxes"][1]
    assert x1 < 100 < x2 and (y1 + y2) / 2 < 100 < y2  # on the forearm line, past the wrist, holding it
    assert (out["hand_keypoints_crop"][1] == 0).all()  # no landmarks to give


def test_low_confidence_arms_are_not_used():
    stage = HandCrops(HandCropsConfig(size=32, min_pose_confidence=0.5))
    kp, conf, present = _frame_keypoints()
    kp[13, :2], kp[15, :2] = (50, 150), (50, 100)
    conf[[13, 15]], present[[13, 15]] = 0.2, True
    out = stage.process(
        {"rgb": np.zeros((200, 200, 3), np.uint8), "keypoints": kp, "keypoint_confidence": conf,
         "keypoint_present": present}
    )  # fmt: skip
    assert not out["hand_crop_valid"].any()


@pytest.mark.parametrize("size, face_points", [(32, 468), (64, 468), (32, 478)])
def test_a_detected_hand_maps_into_its_crop(size: int, face_points: int):
    """With the refined face mesh (478 points) too: the stage follows the K it is given."""
    stage = HandCrops(HandCropsConfig(size=size, margin=0.25))
    layout = KeypointLayout(face_points)
    kp, conf, present = _frame_keypoints(layout)
    sl = layout.slice("left_hand")
    rng = np.random.default_rng(3)
    kp[sl, :2] = rng.uniform([40, 60], [80, 90], size=(21, 2))
    conf[sl], present[sl] = 1, True
    rgb = np.zeros((200, 200, 3), np.uint8)
    rgb[60:90, 40:80] = 255  # the hand's box is white
    out = stage.process({"rgb": rgb, "keypoints": kp, "keypoint_confidence": conf, "keypoint_present": present})
    box = out["hand_crop_boxes"][0]
    expected = (kp[sl, :2] - box[:2]) * size / (box[2] - box[0])
    np.testing.assert_allclose(out["hand_keypoints_crop"][0], expected, atol=1e-4)
    crop = out["hand_crops"][0]
    assert crop[size // 2, size // 2].min() > 200  # the hand region is in the middle
    assert out["hand_crop_source"].tolist() == [1, 0]


def test_cost_scales_the_bytes_with_the_crop_pixels():
    assert hand_crops_cost(HandCropsConfig()) == StageCost("hand_crops", 1.39, (("hand_crops", 9952.0),))
    big = hand_crops_cost(HandCropsConfig(size=128))
    assert big.cpu_ms == CROPS_COST.cpu_ms and big.stored == (("hand_crops", pytest.approx(4 * 9952.0)),)


def test_the_contact_sheet_row_shows_both_crops_marked_by_their_source(all_stages_run, render_input):
    out, _ = all_stages_run
    with ShardReader(out) as reader:
        sample = reader["90012"]
        source = sample.read("hand_crop_source")
        positions = list(range(sample.num_frames))
        ((label, images),) = hand_crop_rows(render_input(sample, positions))
        assert label == "hand crops (L, R)"
        crops = sample.read("hand_crops")
        drawn = 0
        for t, image in zip(positions, images):
            assert image.shape == (128, 256, 3)  # two crops at half a 256 px tile
            for h in range(2):
                half = image[:, 128 * h : 128 * (h + 1)]
                plain = cv2.resize(crops[t, h], (128, 128), interpolation=cv2.INTER_NEAREST)
                if source[t, h] == 1:  # landmarks drawn over the crop
                    drawn += 1
                    assert (half != plain).any(axis=-1).sum() > 50
                else:  # "none" or "est." at the top, the crop as stored below it
                    np.testing.assert_array_equal(half[24:], plain[24:])
        assert drawn > 0 and (source != 1).any()
