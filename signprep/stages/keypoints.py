"""Keypoint stage: MediaPipe Holistic pose 33, face 468/478, hands 2x21.

Requires: `rgb`. Adds: `keypoints` (K, 3) float32 in pixels of the stored
frame (x right, y down; z is MediaPipe's relative depth scaled by the frame
width, so it shares x's units), `keypoint_confidence` (K,) float32 (pose:
MediaPipe visibility; face and hands: 1.0 when detected) and `keypoint_present`
(K,) bool. Parts MediaPipe did not find are absent: present=False, confidence 0
and coordinates 0, never NaN. The layout of K is `KeypointLayout`.

With `enable_segmentation`, also adds the transient `_segmentation` (H, W)
float32 person probability (or None) for the person_mask stage.

Holistic runs in tracking mode within a video (static_image_mode=False), and
its graph is reset between samples so no state leaks between videos.
The runner hands it chunks of frames (`process_many`), which it puts into
Holistic's graph together (signprep/stages/holistic_graph.py).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.stages.holistic_graph import HolisticGraph, landmark_rows  # mediapipe loads in HolisticGraph()
from signprep.video.decode import VideoInfo


class HolisticKeypoints:
    name = "keypoints"
    requires = ("rgb",)
    adds = ("keypoints", "keypoint_confidence", "keypoint_present")

    def __init__(
        self,
        *,
        model_complexity: int = 1,
        refine_face_landmarks: bool = False,
        smooth_landmarks: bool = True,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        enable_segmentation: bool = False,
    ) -> None:
        # Before importing mediapipe: keep its TensorFlow Lite chatter quieter.
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

        self.layout = KeypointLayout(478 if refine_face_landmarks else 468)
        self._holistic = HolisticGraph(
            model_complexity=model_complexity,
            smooth_landmarks=smooth_landmarks,
            refine_face_landmarks=refine_face_landmarks,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
            enable_segmentation=enable_segmentation,
        )
        self.segmentation = enable_segmentation
        if enable_segmentation:
            self.adds = self.adds + ("_segmentation",)

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
            out["_segmentation"] = result["segmentation_mask"]
        return out

    def close(self) -> None:
        # now rather than at the next open(): the graph reloads its models on its own threads while
        # the worker writes this sample and opens the next video (~80 ms less wall time per video)
        self._holistic.reset()

    def attrs(self) -> dict[str, Any]:
        import json

        return {
            "keypoint_layout": json.dumps(self.layout.to_attr()),
            "keypoint_units": "pixels of the stored frame; z = MediaPipe depth x frame width",
        }
