"""Keypoint stage: MediaPipe Holistic pose 33, face 468/478, hands 2x21.

Requires: `rgb`. Adds: `keypoints` (K, 3) float32 in pixels of the stored
frame (x right, y down; z is MediaPipe's relative depth scaled by the frame
width, so it shares x's units), `keypoint_confidence` (K,) float32 (pose:
MediaPipe visibility; face and hands: 1.0 when detected) and `keypoint_present`
(K,) bool. Parts MediaPipe did not find are absent: present=False, confidence 0
and coordinates 0, never NaN. The layout of K is `KeypointLayout`.

When a later stage reads `_segmentation` (the person mask from Holistic), also
adds that transient (H, W) float32 person probability (or None).

Holistic runs in tracking mode within a video (static_image_mode=False), and
its graph is reset between samples so no state leaks between videos.
The runner hands it chunks of frames (`process_many`), which it puts into
Holistic's graph together (signprep/stages/holistic_graph.py).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.reports.drawing import draw_keypoints
from signprep.stages.contract import Measured, RenderInput, Row, StageConfig, StageCost, StageSpec
from signprep.stages.holistic_graph import HolisticGraph, landmark_rows  # mediapipe loads in HolisticGraph()
from signprep.video.decode import VideoInfo

# what the stage adds to each frame record, read by the stages that work on keypoints
KEYPOINT_ENTRIES = ("keypoints", "keypoint_confidence", "keypoint_present")
SEGMENTATION_ENTRY = "_segmentation"
# the sample attribute `keypoint_units` (also of samples imported from pose files)
KEYPOINT_UNITS = "pixels of the stored frame; z = MediaPipe depth x frame width"

# 65.1 ms: Holistic, model_complexity 1. Bytes: the whole sample corpus (37 clips, 4828 frames)
# extracted with keypoints + person_mask + hand_crops: keypoints 4738 + confidence 109 +
# present 4 + frame_indices 1
HOLISTIC_COST = Measured(65.1, 4852.0)


class KeypointsConfig(StageConfig):
    model_complexity: int = 1
    refine_face_landmarks: bool = False
    smooth_landmarks: bool = True
    min_detection_confidence: float = Field(default=0.5, ge=0, le=1)
    min_tracking_confidence: float = Field(default=0.5, ge=0, le=1)

    @field_validator("model_complexity")
    @classmethod
    def _shipped_model_only(cls, v: int) -> int:
        # Only 1 (pose_landmark_full) ships inside the mediapipe 0.10.21 wheel; 0 and 2
        # make Holistic download the lite/heavy model at run time, which we never do.
        if v != 1:
            raise ValueError(
                "only 1 runs offline: mediapipe 0.10.21 ships the 'full' pose model only "
                "(0 and 2 would download the lite/heavy model at run time)"
            )
        return v


class HolisticKeypoints:
    name = "keypoints"
    adds = (*KEYPOINT_ENTRIES, SEGMENTATION_ENTRY)

    def __init__(self, config: KeypointsConfig, *, segmentation: bool = False) -> None:
        """segmentation: also add Holistic's person probability as `_segmentation` (for
        the person_mask stage; the plan counts its extra CPU time there)."""
        # Before importing mediapipe: keep its TensorFlow Lite chatter quieter.
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

        self.layout = KeypointLayout(478 if config.refine_face_landmarks else 468)
        self._holistic = HolisticGraph(
            model_complexity=config.model_complexity,
            smooth_landmarks=config.smooth_landmarks,
            refine_face_landmarks=config.refine_face_landmarks,
            min_detection_confidence=config.min_detection_confidence,
            min_tracking_confidence=config.min_tracking_confidence,
            enable_segmentation=segmentation,
        )
        self.segmentation = segmentation
        self.adds = (*KEYPOINT_ENTRIES, SEGMENTATION_ENTRY) if segmentation else KEYPOINT_ENTRIES

    def open(self, video: VideoInfo) -> None:
        # A full graph restart (~100 ms of CPU). pose-format's cheaper blank white frame clears the
        # landmarks but not the pose visibility filter: confidences then depend on the previous
        # video (seen on 90029; tests/stages/test_keypoints.py checks a reused stage against a fresh one).
        # A no-op when close() already reset it; needed after a video that failed midway.
        self._holistic.reset()

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        return self.process_many([frame])[0]

    def process_many(self, frames: list[dict[str, Any]]) -> list[dict[str, np.ndarray]]:
        """Consecutive frames of the sample, in one pass of Holistic's graph."""
        results = self._holistic.run([frame["rgb"] for frame in frames])
        return [self._arrays(result, *frame["rgb"].shape[:2]) for frame, result in zip(frames, results)]

    def _arrays(self, result: dict[str, Any], h: int, w: int) -> dict[str, np.ndarray]:
        k = self.layout.num_points
        xyz = np.zeros((k, 3), np.float32)
        conf = np.zeros(k, np.float32)
        present = np.zeros(k, bool)
        parts = {
            "pose": result["pose_landmarks"],
            "face": result["face_landmarks"],
            "left_hand": result["left_hand_landmarks"],
            "right_hand": result["right_hand_landmarks"],
        }
        for component, landmarks in parts.items():
            if landmarks is None:
                continue
            sl = self.layout.slice(component)
            pts = landmark_rows(landmarks)
            xyz[sl] = pts[:, :3] * np.array([w, h, w], np.float32)
            conf[sl] = pts[:, 3] if component == "pose" else 1.0
            present[sl] = True
        out = {"keypoints": xyz, "keypoint_confidence": conf, "keypoint_present": present}
        if self.segmentation:
            # transient (not stored): the person_mask stage fits and stores it
            out[SEGMENTATION_ENTRY] = result["segmentation_mask"]
        return out

    def close(self) -> None:
        # now rather than at the next open(): the graph reloads its models on its own threads while
        # the worker writes this sample and opens the next video (~80 ms less wall time per video)
        self._holistic.reset()

    def attrs(self) -> dict[str, Any]:
        return {
            "keypoint_layout": json.dumps(self.layout.to_attr()),
            "keypoint_units": KEYPOINT_UNITS,
        }


def build(config: KeypointsConfig, read: frozenset[str]) -> HolisticKeypoints:
    # the person mask with source "holistic" reads Holistic's own segmentation, made in the pose pass
    return HolisticKeypoints(config, segmentation=SEGMENTATION_ENTRY in read)


def cost(config: KeypointsConfig) -> StageCost:
    return StageCost("keypoints (Holistic)", HOLISTIC_COST.cpu_ms, (("keypoints", HOLISTIC_COST.bytes),))


def render_rows(view: RenderInput) -> list[Row]:
    """The source frame (re-decoded; grey when the video is not here) with the keypoints drawn."""
    sample = view.sample
    if "keypoints" not in sample.datasets:
        return []
    source = view.source_frames()
    kp, present, layout = sample.read("keypoints"), sample.read("keypoint_present"), sample.layout()
    images = []
    for t in view.positions:
        frame = source.get(int(view.frame_indices[t]))
        if frame is None:
            frame = np.full((int(sample.attrs["height"]), int(sample.attrs["width"]), 3), 40, np.uint8)
        images.append(draw_keypoints(frame, kp[t, :, :2], present[t], layout))
    return [("frame + keypoints", images)]


SPEC = StageSpec(HolisticKeypoints, KeypointsConfig, cost, render_rows, builder=build, on_by_default=True)
