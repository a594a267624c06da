"""Which source frames a sample keeps: its frame range, resampled to a frame rate by nearest frame.

One rule for every source of frames: the decoder applies it to a video's frames as they stream
(`signprep.video.decode.SampleFrames`), an import to the frames of a pose file
(`signprep.imports.pose_format`), so a sample's `frame_indices` mean the same whichever it came from.

Frame ranges follow WLASL: `frame_start` is 1-based, `frame_end` inclusive, -1 = to the end.
With a target `fps` below the source's, frame t of the output is the source frame nearest to
`frame_start - 1 + t * source_fps / fps`; above it, source frames repeat.
"""

from __future__ import annotations


class FrameSelection:
    """Ask `skip_before`, `past_end` and `repeats` for increasing 0-based source indices."""

    def __init__(self, frame_start: int = 1, frame_end: int = -1, fps: float | None = None) -> None:
        self.first = frame_start - 1  # 0-based
        self.last = None if frame_end == -1 else frame_end - 1  # 0-based, inclusive
        self.fps = fps
        self._wanted: float | None = None  # the next output frame's time, in source frames

    def skip_before(self, index: int) -> bool:
        return index < self.first

    def past_end(self, index: int) -> bool:
        return self.last is not None and index > self.last

    def repeats(self, index: int, source_fps: float) -> int:
        """How many output frames source frame `index` (within the range) gives: 0 (dropped), 1, or more
        (the target rate is above the source's). Without a target fps, or a source without one, 1."""
        if not self.fps or source_fps <= 0:
            return 1
        step = source_fps / self.fps
        if self._wanted is None:
            self._wanted = float(self.first)
        count = 0
        while round(self._wanted) <= index:  # round(): nearest source frame
            count += round(self._wanted) == index
            self._wanted += step
        return count

    def indices(self, num_frames: int, source_fps: float) -> list[int]:
        """The kept 0-based source indices of a source whose `num_frames` frames are all known."""
        kept: list[int] = []
        for index in range(max(self.first, 0), num_frames):
            if self.past_end(index):
                break
            kept += [index] * self.repeats(index, source_fps)
        return kept
