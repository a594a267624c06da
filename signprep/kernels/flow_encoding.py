"""Storage and display encodings of optical flow, shared by the flow stage, the data path and render.

Storage follows denseflow's bounded uint8: clip to [-bound, bound] and map
linearly onto 0..255 (127.5 = no motion); `decode_flow_uint8` inverts it.
Flow is (H, W, 2) float32 in output pixels per frame, (dx, dy).
"""

from __future__ import annotations

import cv2
import numpy as np


def encode_flow_uint8(flow: np.ndarray, bound: float) -> np.ndarray:
    """(..., 2) float flow -> uint8 with |flow| clipped to `bound` pixels."""
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound))
    return np.round(scaled).astype(np.uint8)


def decode_flow_uint8(encoded: np.ndarray, bound: float) -> np.ndarray:
    return encoded.astype(np.float32) * (2 * bound / 255.0) - bound


def flow_to_rgb(flow: np.ndarray, bound: float) -> np.ndarray:
    """(H, W, 2) flow -> (H, W, 3) uint8 colour image: hue = direction, brightness = speed.

    The usual Middlebury-style visualisation (and the 3-channel "flow as images"
    SignVTCL stores); speed saturates at `bound` pixels.
    """
    dx, dy = flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32)
    magnitude, angle = cv2.cartToPolar(dx, dy, angleInDegrees=True)
    hsv = np.empty(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)  # OpenCV hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude * (255.0 / bound), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
