"""Hand crops: a square crop around each hand, with its keypoints in crop pixels.

Requires: `rgb`, `keypoints`, `keypoint_confidence`, `keypoint_present`.
Adds, per frame, for the signer's left hand then right hand (axis of size 2):
  `hand_crops` (2, S, S, 3) uint8 (zeros where invalid),
  `hand_crop_valid` (2,) bool,
  `hand_crop_source` (2,) uint8: 0 none, 1 from the hand landmarks,
      2 estimated from the pose wrist and elbow (the hand model missed),
  `hand_crop_boxes` (2, 4) float32: x1, y1, x2, y2 in stored-frame pixels,
  `hand_keypoints_crop` (2, 21, 2) float32: hand landmarks in crop pixels
      (0 where the hand model missed: targets for the hand-pose network).
"""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
from pydantic import Field

from signprep.kernels.keypoint_layout import HAND_EDGES, KeypointLayout
from signprep.reports.drawing import COLOURS
from signprep.stages.contract import Measured, RenderInput, Row, StageConfig, StageCost, StageSpec
from signprep.stages.keypoints import KEYPOINT_ENTRIES
from signprep.video.decode import VideoInfo

# MediaPipe pose indices of the signer's (elbow, wrist) per hand
_ARM = {"left_hand": (13, 15), "right_hand": (14, 16)}
# Where the hand sits beyond the wrist, in forearm lengths (from hand/forearm
# proportions: the palm centre lies ~0.35 forearm past the wrist, and a hand
# with spread fingers spans ~0.8 forearm).
_HAND_CENTRE_PAST_WRIST = 0.35
_HAND_SPAN = 0.8

# Bytes: the whole sample corpus (37 clips, 4828 frames) extracted with keypoints + person_mask +
# hand_crops (64): crops 9784 + crop keypoints 144 + boxes 23 + flags. Bytes scale with the pixels.
CROPS_COST = Measured(1.39, 9952.0, (64, 64))


class HandCropsConfig(StageConfig):
    size: int = Field(default=64, gt=0)  # crop side, pixels
    margin: float = Field(default=0.25, ge=0)  # of the landmark box, on each side
    fallback: bool = True  # estimate the box from wrist and elbow when the hand model missed
    min_pose_confidence: float = Field(default=0.5, ge=0, le=1)  # of that wrist and elbow

    def requires(self) -> tuple[str, ...]:
        return ("rgb", *KEYPOINT_ENTRIES)


def square_box(centre: np.ndarray, side: float) -> np.ndarray:
    half = side / 2
    return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half], np.float32)


def crop_square(rgb: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Resample the square `box` (stored-frame pixels, may leave the frame) to size x size."""
    scale = size / float(box[2] - box[0])
    # continuous coordinates to pixel-centre indices, as in FrameFit
    m = np.array([[scale, 0, -box[0] * scale + 0.5 * scale - 0.5], [0, scale, -box[1] * scale + 0.5 * scale - 0.5]])
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    if scale < 0.5:  # warpAffine does not anti-alias: pre-blur big hands
        sigma = 0.5 / scale
        x1, y1 = max(0, int(box[0]) - 1), max(0, int(box[1]) - 1)
        x2, y2 = min(rgb.shape[1], int(box[2]) + 2), min(rgb.shape[0], int(box[3]) + 2)
        if x2 > x1 and y2 > y1:
            rgb = rgb.copy()
            rgb[y1:y2, x1:x2] = cv2.GaussianBlur(rgb[y1:y2, x1:x2], (0, 0), sigma)
        interpolation = cv2.INTER_LINEAR
    return cv2.warpAffine(rgb, m, (size, size), flags=interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class HandCrops:
    name = "hand_crops"
    adds = ("hand_crops", "hand_crop_valid", "hand_crop_source", "hand_crop_boxes", "hand_keypoints_crop")

    def __init__(self, config: HandCropsConfig) -> None:
        self.size, self.margin, self.fallback = config.size, config.margin, config.fallback
        self.min_pose_confidence = config.min_pose_confidence
        self.layout = KeypointLayout()  # follows the K of the keypoints it is given

    def open(self, video: VideoInfo) -> None:
        pass

    def hand_box(self, keypoints, confidence, present, hand: str) -> tuple[np.ndarray | None, int]:
        """(box, source) for one hand; box None when neither the hand nor its arm was found."""
        sl = self.layout.slice(hand)
        if present[sl].all():
            xy = keypoints[sl, :2]
            lo, hi = xy.min(0), xy.max(0)
            side = max(hi - lo) * (1 + 2 * self.margin)
            return square_box((lo + hi) / 2, max(side, 8.0)), 1
        if not self.fallback:
            return None, 0
        elbow, wrist = _ARM[hand]
        if min(confidence[elbow], confidence[wrist]) < self.min_pose_confidence:
            return None, 0
        e, w = keypoints[elbow, :2], keypoints[wrist, :2]
        forearm = w - e
        length = float(np.hypot(*forearm))
        if length < 2:
            return None, 0
        side = _HAND_SPAN * length * (1 + 2 * self.margin)
        return square_box(w + _HAND_CENTRE_PAST_WRIST * forearm, side), 2

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        rgb, kp = frame["rgb"], frame["keypoints"]
        conf, present = frame["keypoint_confidence"], frame["keypoint_present"]
        if len(kp) != self.layout.num_points:  # the refined face mesh (478 points) shifts the hands
            self.layout = KeypointLayout.of_points(len(kp))
        s = self.size
        crops = np.zeros((2, s, s, 3), np.uint8)
        valid = np.zeros(2, bool)
        source = np.zeros(2, np.uint8)
        boxes = np.zeros((2, 4), np.float32)
        local = np.zeros((2, 21, 2), np.float32)
        for i, hand in enumerate(("left_hand", "right_hand")):
            box, how = self.hand_box(kp, conf, present, hand)
            if box is None:
                continue
            crops[i] = crop_square(rgb, box, s)
            valid[i], source[i], boxes[i] = True, how, box
            if how == 1:
                local[i] = (kp[self.layout.slice(hand), :2] - box[:2]) * (s / (box[2] - box[0]))
        return {
            "hand_crops": crops,
            "hand_crop_valid": valid,
            "hand_crop_source": source,
            "hand_crop_boxes": boxes,
            "hand_keypoints_crop": local,
        }

    def close(self) -> None:
        pass

    def attrs(self) -> dict[str, Any]:
        return {
            "hand_crops_config": json.dumps(
                {"size": self.size, "margin": self.margin, "fallback": self.fallback, "order": ["left", "right"]}
            )
        }


def cost(config: HandCropsConfig) -> StageCost:
    return StageCost(
        "hand_crops", CROPS_COST.cpu_ms, (("hand_crops", CROPS_COST.bytes * CROPS_COST.pixel_ratio(config.size)),)
    )


def render_rows(view: RenderInput) -> list[Row]:
    """Both crops side by side at half a tile each, with the hand landmarks in the signer's hand
    colours; "none" where no crop was made, "est." where the box came from the arm."""
    sample = view.sample
    if "hand_crops" not in sample.datasets:
        return []
    crops, local = sample["hand_crops"], sample["hand_keypoints_crop"]
    valid, source = sample["hand_crop_valid"], sample["hand_crop_source"]
    side = view.tile_width // 2
    images = []
    for t in view.positions:
        pair = []
        for h in range(2):
            crop = cv2.resize(crops[t, h], (side, side), interpolation=cv2.INTER_NEAREST)
            s = side / crops.shape[2]
            for a, b in HAND_EDGES:
                if source[t, h] == 1:
                    pa, pb = local[t, h, a] * s, local[t, h, b] * s
                    colour = COLOURS["left_hand" if h == 0 else "right_hand"]
                    cv2.line(crop, tuple(np.round(pa).astype(int)), tuple(np.round(pb).astype(int)), colour, 1)
            if not valid[t, h]:
                cv2.putText(crop, "none", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 80, 80), 1, cv2.LINE_AA)
            elif source[t, h] == 2:
                cv2.putText(crop, "est.", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 220, 0), 1, cv2.LINE_AA)
            pair.append(crop)
        images.append(np.hstack(pair))
    return [("hand crops (L, R)", images)]


SPEC = StageSpec(HandCrops, HandCropsConfig, cost, render_rows)
