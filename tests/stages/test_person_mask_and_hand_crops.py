"""Person masks cover the signer; hand crops contain the hands; absent hands are flagged."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.shards import ShardReader
from signprep.stages.hand_crops import HandCrops
from signprep.video.decode import VideoInfo

LAYOUT = KeypointLayout()


def test_the_person_mask_covers_the_signers_head_and_chest(all_stages_run):
    out, _ = all_stages_run
    with ShardReader(out) as reader:
        for sid in reader:
            s = reader[sid]
            mask, kp = s.read("person_mask"), s.read("keypoints")
            fit = s.fit("person_mask_fit")
            shoulders = kp[:, [11, 12], :2].mean(1)
            chest = shoulders + np.array([0, 0.3]) * np.abs(kp[:, 11, :1] - kp[:, 12, :1])
            for name, points in (("nose", kp[:, 0, :2]), ("chest", chest)):
                xy = np.floor(fit.map_points(points)).astype(int)
                values = mask[np.arange(len(mask)), xy[:, 1], xy[:, 0]]
                assert (values > 127).mean() >= 0.95, f"{sid}: mask misses the {name}"
            assert 0.05 < (mask > 127).mean() < 0.7  # a person, not the whole frame
            removed = s.read("background_removed")
            assert (removed[mask == 0] == 0).all()  # constant background 0 where no person


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


def _frame_keypoints():
    kp = np.zeros((LAYOUT.num_points, 3), np.float32)
    conf = np.zeros(LAYOUT.num_points, np.float32)
    present = np.zeros(LAYOUT.num_points, bool)
    return kp, conf, present


def test_absent_hands_are_flagged_and_a_missed_hand_is_estimated_from_the_arm():
    stage = HandCrops(size=32)
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
    stage = HandCrops(size=32, min_pose_confidence=0.5)
    kp, conf, present = _frame_keypoints()
    kp[13, :2], kp[15, :2] = (50, 150), (50, 100)
    conf[[13, 15]], present[[13, 15]] = 0.2, True
    out = stage.process(
        {"rgb": np.zeros((200, 200, 3), np.uint8), "keypoints": kp, "keypoint_confidence": conf,
         "keypoint_present": present}
    )  # fmt: skip
    assert not out["hand_crop_valid"].any()


@pytest.mark.parametrize("size", [32, 64])
def test_a_detected_hand_maps_into_its_crop(size: int):
    stage = HandCrops(size=size, margin=0.25)
    kp, conf, present = _frame_keypoints()
    sl = LAYOUT.slice("left_hand")
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
