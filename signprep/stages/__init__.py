"""Stages: what runs on each decoded frame of a sample.

The contract (after mmaction2's "Required keys / Added keys"): a stage reads
named entries of the frame record (`requires`), returns new per-frame arrays
(`adds`), and keeps any per-video state between `open` and `close`. The runner
stacks each added entry over time into a (T, ...) dataset of the sample, so a
stage never sees files, shards or other samples.

The runner hands frames over in chunks of consecutive frames. A stage that is
faster seeing several at once (Holistic, which overlaps frames in its graph)
also defines `process_many(frames) -> list of outputs`, which must give what
`process` gives frame by frame; other stages get `process` per frame
(`process_frames`).

Frame record keys provided by the decoder: `rgb` (H x W x 3 uint8, the stored
frame geometry; read-only, as it may share the decoder's buffer: copy before
drawing on it) and `index` (0-based source frame index). Entries whose names
start with "_" are shared with later stages but never stored (Holistic's
`_segmentation`, `FrameFit.apply_cached`'s `_fitted`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from signprep.video.decode import VideoInfo


class FrameStage(Protocol):
    name: str
    requires: tuple[str, ...]
    adds: tuple[str, ...]

    def open(self, video: VideoInfo) -> None:
        """Start a new sample (reset tracking state)."""

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        """Per-frame outputs, one array per name in `adds`."""

    def close(self) -> None:
        """Release per-sample state; the stage object is reused for the next sample."""

    def attrs(self) -> dict[str, Any]:
        """Sample attributes describing the stage's outputs (layout, units)."""


def process_frames(stage: FrameStage, frames: list[dict[str, Any]]) -> list[dict[str, np.ndarray]]:
    """The stage's outputs for consecutive frames of the open sample, in order."""
    process_many = getattr(stage, "process_many", None)
    if process_many is not None:
        return process_many(frames)
    return [stage.process(frame) for frame in frames]
