"""Keypoints drawn onto frames, in the colours every report uses for the body parts.

The face is drawn as MediaPipe's own face-mesh contours (eyes, brows, lips, oval;
the irises too with the refined 478-point mesh), the edge lists of
`mediapipe.python.solutions.face_mesh_connections`, instead of 468 dots that
merge into a white mass at contact-sheet size; where the mesh is found, the
pose's own coarse face points (nose, eyes, ears, mouth) are left out so they do
not cover it.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from signprep.kernels.keypoint_layout import KeypointLayout

COLOURS = {"pose": (255, 200, 0), "face": (200, 200, 200), "left_hand": (0, 160, 255), "right_hand": (255, 60, 60)}
POSE_FACE = range(11)  # MediaPipe pose 0-10: nose, eyes, ears, mouth corners


@cache
def face_contour_edges(face_points: int = 468) -> tuple[tuple[int, int], ...]:
    """MediaPipe's face-mesh contour edges (face-mesh indices); with the refined mesh (478) the irises too."""
    connections = _face_mesh_connections()
    edges = set(connections.FACEMESH_CONTOURS)
    if face_points >= 478:
        edges |= set(connections.FACEMESH_IRISES)
    return tuple(sorted(edges))


def _face_mesh_connections():
    # The module is a file of constants, but importing it the usual way runs mediapipe/__init__, which
    # loads the whole framework (8.6-12 s measured on a loaded 2-core machine; the file alone: 50 ms).
    spec = importlib.util.find_spec("mediapipe")
    path = Path(spec.origin).parent / "python" / "solutions" / "face_mesh_connections.py" if spec else None
    if path is None or not path.is_file():
        from mediapipe.python.solutions import face_mesh_connections  # another layout: the usual import

        return face_mesh_connections
    module_spec = importlib.util.spec_from_file_location("signprep_face_mesh_connections", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def draw_keypoints(rgb: np.ndarray, xy: np.ndarray, present: np.ndarray, layout: KeypointLayout) -> np.ndarray:
    """Draw skeleton, face contours and points (xy in pixels of `rgb`) onto a copy of the frame."""
    out = rgb.copy()
    thick = max(1, round(min(rgb.shape[:2]) / 240))
    shift = 4  # sub-pixel drawing: OpenCV takes fixed-point coordinates
    p = np.round(xy * (1 << shift)).astype(np.int64)

    def line(a: int, b: int, colour, width: int = thick) -> None:
        if present[a] and present[b]:
            cv2.line(out, tuple(p[a]), tuple(p[b]), colour, width, cv2.LINE_AA, shift)

    face0, face1 = layout.components["face"]
    for a, b in face_contour_edges(face1 - face0):
        line(face0 + a, face0 + b, COLOURS["face"], max(1, thick // 2))
    pose0 = layout.components["pose"][0]
    hidden = {pose0 + i for i in POSE_FACE} if present[face0:face1].any() else set()
    component_of = {i: name for name, (start, stop) in layout.components.items() for i in range(start, stop)}
    for a, b in layout.skeleton():
        if a not in hidden and b not in hidden:
            line(a, b, COLOURS[component_of[a]])
    for component, (start, stop) in layout.components.items():
        if component == "face":
            continue  # its contours say more than its 468 points
        for i in range(start, stop):
            if present[i] and i not in hidden:
                cv2.circle(out, tuple(p[i]), (2 * thick) << shift, COLOURS[component], -1, cv2.LINE_AA, shift)
    return out
