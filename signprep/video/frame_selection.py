"""Which source frames a sample keeps: its frame range, resampled to a frame rate by nearest frame.

One rule for every source of frames: the decoder applies it to a video's frames as they stream
(`signprep.video.decode.SampleFrames`), an import to the frames of a pose file
(`signprep.imports.pose_format`), so a sample's `frame_indices` mean the same whichever it came from.

Frame ranges follow WLASL: `frame_start` is 1-based, `frame_end` inclusive, -1 = to the end.
A time range (seconds, How2Sign's sentences) instead keeps the frames whose timestamps
t = i / source_fps (i 0-based) satisfy time_start <= t < time_end; it is located once the
source's rate is known (`locate`). With a target `fps` below the source's, frame t of the output
is the source frame nearest to `first + t * source_fps / fps`; above it, source frames repeat.
"""

from __future__ import annotations

import math


class NoFrameRate(ValueError):
    """A time range asked of a source that declares no frame rate."""


class FrameSelection:
    """Ask `skip_before`, `past_end` and `repeats` for increasing 0-based source indices."""

    def __init__(
        self,
        frame_start: int = 1,
        frame_end: int = -1,
        fps: float | None = None,
        *,
        time_start: float | None = None,
        time_end: float | None = None,
    ) -> None:
        self.first = frame_start - 1  # 0-based
        self.last = None if frame_end == -1 else frame_end - 1  # 0-based, inclusive
        self.fps = fps
        self.time_start, self.time_end = time_start, time_end
        self._wanted: float | None = None  # the next output frame's time, in source frames

    @property
    def timed(self) -> bool:
        return self.time_start is not None or self.time_end is not None

    def locate(self, source_fps: float) -> None:
        """Turn a time range into source frames once the source's rate is known (no-op without one);
        raises NoFrameRate when the source declares none."""
        if not self.timed:
            return
        if not source_fps > 0:
            raise NoFrameRate("the source declares no frame rate, so a time range cannot be located")
        self.first = math.ceil((self.time_start or 0.0) * source_fps - 1e-6)  # 1e-6: 2.4 s at 25 fps is frame 60
        self.last = None if self.time_end is None else math.ceil(self.time_end * source_fps - 1e-6) - 1

    def describe(self) -> str:
        """The wanted range, for messages: 'range 3..40' or 'time range 2.4..5.0 s'."""
        if self.timed:
            return f"time range {self.time_start}..{self.time_end} s"
        return f"range {self.first + 1}..{-1 if self.last is None else self.last + 1}"

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
        self.locate(source_fps)
        kept: list[int] = []
        for index in range(max(self.first, 0), num_frames):
            if self.past_end(index):
                break
            kept += [index] * self.repeats(index, source_fps)
        return kept
