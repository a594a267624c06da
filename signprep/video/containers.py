"""How many frames a sample's source holds, and whether it is whole, without decoding it.

- MP4/MOV: the sample count of the video track in the `moov` index (`video.mp4`); truncation
  shows in the top-level box sizes (`video.decode.not_a_whole_video`).
- WebM, MKV, AVI and every other container: PyAV (FFmpeg's demuxer) counts the video packets,
  reading the file but decoding nothing. OpenCV's `CAP_PROP_FRAME_COUNT` is duration x fps for
  these, wrong for variable frame rates and for files cut short: a WebM of 62 frames cut in half
  still "has" 62 (measured). A file is truncated when its packets end well before the duration
  its header declares (WebM/MKV Segment duration) or fall short of its declared frame count (AVI).
- A frame folder: its frame files (`video.frame_folder`).

Counts are cached per (path, size, modification time): How2Sign cuts tens of sentences out of
one long video, and the video is demuxed once per process, not once per sentence.
"""

from __future__ import annotations

import functools
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from signprep.video.frame_folder import FrameFolderError, is_frame_folder, list_frames
from signprep.video.mp4 import is_mp4, mp4_frame_count

# Packets ending this many frame durations before the declared end count as a cut file; muxers
# round durations, so a whole file can end a frame early (none of the corpus clips re-muxed here
# by PyAV ended more than 1 frame short).
TRUNCATION_SLACK_FRAMES = 2


@dataclass(frozen=True)
class SourceFrames:
    """What a source says of its frames. `fps` is 0.0 when the source does not say (frame folders)."""

    frames: int
    fps: float
    counted_by: str  # "mp4 index", "packets" or "frame files"
    problem: str | None = None  # why the source is not whole (truncated), if it is not


def source_frames(path: str | Path) -> SourceFrames | None:
    """The frame count of a video file or frame folder; None when it cannot be read at all."""
    path = str(path)
    if is_frame_folder(path):
        try:
            return SourceFrames(len(list_frames(path)), 0.0, "frame files")
        except FrameFolderError:
            return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _file_frames(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _file_frames(path: str, size: int, mtime_ns: int) -> SourceFrames | None:
    del size, mtime_ns  # cache key only: a rewritten file is counted again
    try:
        found = mp4_frame_count(path) if is_mp4(path) else None
    except (OSError, struct.error):
        found = None
    if found is not None and found[0] > 0:
        return SourceFrames(found[0], found[1], "mp4 index")
    return _demuxed_frames(path)


def _demuxed_frames(path: str) -> SourceFrames | None:
    import av  # PyAV: FFmpeg's demuxers, no decoding

    try:
        with av.open(path) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            count, end = 0, 0.0
            try:
                for packet in container.demux(stream):
                    if packet.size == 0:  # the flush packet at the end
                        continue
                    count += 1
                    if packet.pts is not None and packet.time_base is not None:
                        end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            except av.FFmpegError as e:
                return SourceFrames(count, fps, "packets", f"damaged or truncated file (demuxing stopped: {e})")
            declared_seconds = container.duration / av.time_base if container.duration else None
            return SourceFrames(count, fps, "packets", _cut_short(count, end, stream.frames, declared_seconds, fps))
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None


def _cut_short(count: int, end: float, declared_frames: int, declared_seconds: float | None, fps: float) -> str | None:
    slack = TRUNCATION_SLACK_FRAMES
    if declared_frames > 0 and count + slack < declared_frames:
        return f"truncated: {count} video packets where the header declares {declared_frames} frames"
    if declared_seconds and fps > 0 and end + slack / fps < declared_seconds:
        return f"truncated: the video packets end at {end:.2f} s where the header declares {declared_seconds:.2f} s"
    return None
