"""Dense optical flow between consecutive frames: the flow stage's methods.

OpenCV DIS (default) or Farneback on grayscale frames, RAFT from torchvision
when the user supplies local weights. Flow is (H, W, 2) float32 in output
pixels per frame, (dx, dy).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowError(RuntimeError):
    """Flow cannot be computed as configured (e.g. RAFT without a weights file)."""


class DisFlow:
    def __init__(self, preset: str = "fast") -> None:
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    def __call__(self, prev_gray: np.ndarray, gray: np.ndarray) -> np.ndarray:
        return self._dis.calc(prev_gray, gray, None)


class FarnebackFlow:
    def __call__(self, prev_gray: np.ndarray, gray: np.ndarray) -> np.ndarray:
        # OpenCV's documented defaults for video: 3 levels, 15 px window
        return cv2.calcOpticalFlowFarneback(prev_gray, gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)


class RaftFlow:
    """torchvision's RAFT (small or large) from a local weights file; CUDA when present.

    Takes RGB frames (not grayscale). Nothing is downloaded: without a weights
    file, or without torchvision, this is a FlowError saying what to install.
    """

    wants_rgb = True

    def __init__(self, weights: str | Path | None, model: str = "raft_small", device: str | None = None) -> None:
        if not weights:
            raise FlowError("RAFT flow needs a local weights file (flow.raft_weights); signprep never downloads models")
        if not Path(weights).is_file():
            raise FlowError(f"RAFT weights file not found: {weights}")
        try:
            import torch
            from torchvision.models import optical_flow
        except ImportError as e:
            raise FlowError(f"RAFT flow needs torch and torchvision installed ({e})") from None
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        net = getattr(optical_flow, model)(weights=None)
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.net = net.eval().to(self.device)

    # RAFT's correlation pyramid needs inputs of at least 128 px, in multiples of 8
    MIN_SIDE = 128

    def __call__(self, prev_rgb: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        torch = self.torch
        functional = torch.nn.functional
        h, w = rgb.shape[:2]
        up = max(1.0, self.MIN_SIDE / min(h, w))
        rh, rw = (int(np.ceil(h * up / 8)) * 8, int(np.ceil(w * up / 8)) * 8)

        def prep(a: np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float().to(self.device)
            if (rh, rw) != (h, w):
                t = functional.interpolate(t, size=(rh, rw), mode="bilinear", align_corners=False)
            return t / 127.5 - 1.0  # RAFT's expected [-1, 1] input

        with torch.inference_mode():
            flow = self.net(prep(prev_rgb), prep(rgb))[-1]
            if (rh, rw) != (h, w):  # back to the frame's size and pixels
                flow = functional.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
                flow = flow * torch.tensor([w / rw, h / rh], device=flow.device).view(1, 2, 1, 1)
        return flow[0].permute(1, 2, 0).float().cpu().numpy()
