"""Keypoints drawn onto frames, in the colours every report uses for the body parts."""

from __future__ import annotations

import cv2
import numpy as np

from signprep.kernels.keypoint_layout import KeypointLayout

COLOURS = {"pose": (255, 200, 0), "face": (200, 200, 200), "left_hand": (0, 160, 255), "right_hand": (255, 60, 60)}


def draw_keypoints(rgb: np.ndarray, xy: np.ndarray, present: np.ndarray, layout: KeypointLayout) -> np.ndarray:
    """Draw skeleton and points (xy in pixels of `rgb`) onto a copy of the frame."""
    out = rgb.copy()
    thick = max(1, round(min(rgb.shape[:2]) / 240))
    shift = 4  # sub-pixel drawing: OpenCV takes fixed-point coordinates
    p = np.round(xy * (1 << shift)).astype(np.int64)

    def line(a: int, b: int, colour) -> None:
        if present[a] and present[b]:
            cv2.line(out, tuple(p[a]), tuple(p[b]), colour, thick, cv2.LINE_AA, shift)

    component_of = {i: name for name, (start, stop) in layout.components.items() for i in range(start, stop)}
    for a, b in layout.skeleton():
        line(a, b, COLOURS[component_of[a]])
    for component, (start, stop) in layout.components.items():
        radius = (1 if component == "face" else 2) * thick
        for i in range(start, stop):
            if present[i]:
                cv2.circle(out, tuple(p[i]), radius << shift, COLOURS[component], -1, cv2.LINE_AA, shift)
    return out
