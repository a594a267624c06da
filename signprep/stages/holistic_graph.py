"""MediaPipe Holistic with several frames in its graph at once.

`Holistic.process` puts one frame into the graph and waits until the graph is
idle, so each frame's pose model waits for the previous frame's hand and face
models: one Holistic uses ~1.4 of this machine's 2 cores. Putting a chunk of
consecutive frames in before waiting lets the graph's scheduler start the pose
of frame t+1 while the hands and face of frame t still run (measured on 12
corpus clips: 1.52 cores and 7-14% more frames/s with 16 frames a chunk). The
landmarks are the same to the bit: the graph is a data flow ordered by
timestamps, and tracking state still passes from each frame to the next
(tests/stages/test_keypoints.py checks chunks against `Holistic.process`).

This reads two internals of mediapipe 0.10.21's `SolutionBase` (pinned in
pyproject.toml): its graph (`_graph`), and the mapping its output callback
writes every packet into (`_graph_outputs[stream] = packet`), which is
replaced by one that files packets by timestamp.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

# the simulated frame interval of SolutionBase.process (30 fps); Holistic's filters see only these
FRAME_INTERVAL_US = 33333

LANDMARK_STREAMS = ("pose_landmarks", "face_landmarks", "left_hand_landmarks", "right_hand_landmarks")
SEGMENTATION_STREAM = "segmentation_mask"


def landmark_rows(landmarks: Any) -> np.ndarray:
    """A landmark list as (N, 4) float32 rows of (x, y, z, visibility), MediaPipe's normalised units."""
    return np.array([(p.x, p.y, p.z, p.visibility) for p in landmarks.landmark], np.float32)


class _PacketsByTimestamp(dict):
    """Receives SolutionBase's `outputs[stream] = packet` from the graph's threads; keeps the
    non-empty packets per timestamp (empty ones only announce a stream's timestamp bound)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._by_timestamp: dict[int, dict[str, Any]] = {}

    def __setitem__(self, stream: str, packet: Any) -> None:
        if packet.is_empty():
            return
        with self._lock:
            self._by_timestamp.setdefault(packet.timestamp.value, {})[stream] = packet

    def pop_frame(self, timestamp: int) -> dict[str, Any]:
        with self._lock:
            return self._by_timestamp.pop(timestamp, {})

    def clear(self) -> None:
        with self._lock:
            self._by_timestamp.clear()


class HolisticGraph:
    """Holistic in tracking mode; `run` takes consecutive frames of one video and returns each
    frame's landmark lists (None where a part was not found) and segmentation mask."""

    def __init__(self, **holistic_options: Any) -> None:
        from mediapipe.python import packet_creator, packet_getter
        from mediapipe.python._framework_bindings.image_frame import ImageFormat
        from mediapipe.python.solutions import holistic

        self._create_image, self._get_proto, self._get_image = (
            packet_creator.create_image_frame,
            packet_getter.get_proto,
            packet_getter.get_image_frame,
        )
        self._srgb = ImageFormat.SRGB
        self._solution = holistic.Holistic(static_image_mode=False, **holistic_options)
        self._outputs = _PacketsByTimestamp()
        self._solution._graph_outputs = self._outputs
        self._timestamp = 0

    def reset(self) -> None:
        """Start a new video: a fresh run of the graph, with no tracking or filter state left.
        A no-op when no frame went in since the last reset.

        The restart returns in ~5 ms; the graph's calculators then load their models on the
        graph's own threads (~100 ms of CPU), which the first frame waits for. Resetting as soon
        as a video ends lets that overlap with whatever the caller does before the next video."""
        if self._timestamp == 0:
            return
        self._solution.reset()
        self._outputs.clear()
        self._timestamp = 0  # as a newly built graph: the next video runs exactly as in a fresh one

    def run(self, images: list[np.ndarray]) -> list[dict[str, Any]]:
        graph = self._solution._graph
        stamps = []
        for rgb in images:
            if rgb.ndim != 3 or rgb.shape[2] != 3:
                raise ValueError(f"Holistic needs H x W x 3 RGB frames, got shape {rgb.shape}")
            self._timestamp += FRAME_INTERVAL_US
            # the packet holds its own copy of the pixels, so the caller's frame may be released
            packet = self._create_image(rgb, image_format=self._srgb).at(self._timestamp)
            graph.add_packet_to_input_stream(stream="image", packet=packet)
            stamps.append(self._timestamp)
        graph.wait_until_idle()  # raises the graph's error, if a calculator failed
        results = []
        for stamp in stamps:
            packets = self._outputs.pop_frame(stamp)
            frame: dict[str, Any] = {s: self._get_proto(packets[s]) if s in packets else None for s in LANDMARK_STREAMS}
            mask = packets.get(SEGMENTATION_STREAM)
            # a copy: the view would outlive the packet that owns the pixels
            frame[SEGMENTATION_STREAM] = None if mask is None else np.array(self._get_image(mask).numpy_view())
            results.append(frame)
        return results
