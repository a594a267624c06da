"""Frame decode: a video file -> a stream of RGB frames of one sample.

decord is the primary decoder; OpenCV is the fallback when decord cannot open
the file, fails mid-stream, or yields a different number of frames than the
container declares, or pads the stream (WLASL clip 90012 declares 64 frames:
decord yields 64 by repeating the last real frame twice, OpenCV the 62 that
are really there; the repeats are detected and trimmed). Frames are streamed, never held as a
whole video, so memory stays flat on long 1080p clips. Reads are sequential:
decord's `get_batch` over all frames measured ~5x slower than `next()` here.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from signprep.checksums import file_sha256
from signprep.video.containers import source_frames
from signprep.video.frame_folder import (
    DEFAULT_FOLDER_FPS,
    FrameFolderError,
    frame_folder_sha256,
    is_frame_folder,
    list_frames,
    read_frames,
)
from signprep.video.mp4 import is_mp4, top_level_box, top_level_headers, tracks

log = logging.getLogger(__name__)

DecoderName = Literal["decord", "opencv"]


class DecodeError(RuntimeError):
    """The video cannot be decoded; the message names the file and the reason."""


NO_VIDEO_STREAM = "no video stream (audio-only or not a video file)"
# FFmpeg's "no stream of the wanted type" as decord reports it (video_reader.cc, decord 0.6)
_DECORD_NO_VIDEO = "cannot find video stream"


@dataclass(frozen=True)
class DecodeOptions:
    """What to do with decoded frames (all optional)."""

    decoder: DecoderName = "decord"
    crop_to_bbox: bool = False  # crop to the manifest bbox [x1, y1, x2, y2] (source pixels)
    resize_short_side: int | None = None  # resize so the shorter side has this many pixels
    fps: float | None = None  # resample to this frame rate (nearest source frame)


@dataclass
class VideoInfo:
    """What the decoder learned about the source and the frames it yields."""

    path: str
    source_fps: float
    declared_frames: int  # from the container header; may be wrong
    source_width: int
    source_height: int
    decoder: str = ""
    decoder_note: str = ""
    decoded_frames: int = 0  # frames actually decoded from the source
    reached_end: bool = False  # the decoder ran to the end of the stream
    trailing_repeats: int = 0  # frames at the end identical to the one before (decord pads so)
    crop_box: tuple[int, int, int, int] | None = None  # applied crop, source pixels
    width: int = 0  # of the yielded frames
    height: int = 0

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) yielded pixels per source pixel, after the crop (they differ by rounding)."""
        x1, y1, x2, y2 = self.crop_box or (0, 0, self.source_width, self.source_height)
        return (self.width / (x2 - x1) if x2 > x1 else 1.0, self.height / (y2 - y1) if y2 > y1 else 1.0)


# ---------------------------------------------------------------- raw readers
def _decord_frames(path: str, info: VideoInfo) -> Iterator[np.ndarray]:
    import decord

    try:
        # num_threads=0: FFmpeg picks, as OpenCV's reader does (measured here: 1 thread 443 fps,
        # auto 653 fps, OpenCV 725 fps); decode is ~2% of a worker's CPU beside Holistic
        vr = decord.VideoReader(path, num_threads=0)
    except Exception as e:  # decord raises its own DECORDError, RuntimeError...
        if _DECORD_NO_VIDEO in str(e):
            # decord's text is a failed C++ CHECK with its source path and line: say what it means
            raise DecodeError(f"{path}: {NO_VIDEO_STREAM}") from None
        raise DecodeError(f"decord cannot open {path}: {_first_line(e)}") from None
    info.declared_frames = len(vr)
    info.source_fps = float(vr.get_avg_fps() or 0.0)
    index = 0
    while True:
        try:
            frame = vr.next()
        except StopIteration:
            return
        except Exception as e:
            raise DecodeError(f"decord failed at frame {index} of {path}: {_first_line(e)}") from None
        index += 1
        yield _shared_numpy(frame)


class _DLPackFrame:
    """A decord NDArray seen through the DLPack protocol, so numpy can share its memory."""

    __slots__ = ("nd",)

    def __init__(self, nd) -> None:
        self.nd = nd

    def __dlpack__(self, stream=None):
        return self.nd.to_dlpack()

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)  # kDLCPU, device 0


def _shared_numpy(nd) -> np.ndarray:
    """The frame as a read-only numpy array sharing decord's buffer (kept alive by the
    DLPack capsule). `asnumpy()` copies every frame: measured 1.3-1.7x slower decode."""
    try:
        return np.from_dlpack(_DLPackFrame(nd))
    except (AttributeError, TypeError, RuntimeError, BufferError):  # a decord or numpy without DLPack
        return nd.asnumpy()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _opencv_frames(path: str, info: VideoInfo) -> Iterator[np.ndarray]:
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise DecodeError(f"OpenCV cannot open {path} (not a video, or an unsupported codec)")
    # decord applies the container's display rotation (phone portrait clips); OpenCV 4.11's
    # FFmpeg backend does not by default, and a fallback must yield the same upright frames.
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    try:
        info.declared_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        info.source_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        info.source_width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        info.source_height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


_READERS = {"decord": _decord_frames, "opencv": _opencv_frames}
FRAME_FOLDER = "frames"  # the decoder name of a frame-folder sample


def _folder_frames(path: str, info: VideoInfo, fps: float | None) -> Iterator[np.ndarray]:
    try:
        frames = list_frames(path)
        info.declared_frames = len(frames)
        info.source_fps = fps or DEFAULT_FOLDER_FPS
        if not fps:
            info.decoder_note = f"frame folder without an fps in the metadata: {DEFAULT_FOLDER_FPS:g} fps assumed"
        yield from read_frames(frames)
    except FrameFolderError as e:
        raise DecodeError(str(e)) from None


# Still images renamed to .mp4: OpenCV's FFmpeg backend "decodes" them as a one-frame video.
_IMAGE_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def not_a_whole_video(path: str | Path) -> str | None:
    """Why the file cannot be a complete video, from its first bytes and MP4 box sizes; None if no reason.

    A download cut mid-stream with its index (moov) first still opens, and both decoders
    then yield the frames before the cut and stop as if the video ended there: a short
    sample with no error. MP4/MOV top-level boxes state their sizes, so a box that runs
    past the end of the file is proof of truncation (checked on every corpus clip: none).
    """
    with open(path, "rb") as f:
        head = f.read(16)
        for magic, kind in _IMAGE_MAGIC.items():
            if head.startswith(magic):
                return f"not a video but a {kind} image"
        if head[4:8] != b"ftyp":
            return None  # not MP4/MOV: leave it to the decoders
        file_size = os.fstat(f.fileno()).st_size
        # real files have a handful of top-level boxes
        for offset, kind, size, _ in itertools.islice(top_level_headers(f, file_size), 10_000):
            if size < 8:
                return f"damaged MP4 (box {kind!r} at byte {offset} has size {size})"
            if offset + size > file_size:
                return (
                    f"truncated MP4: box {kind.decode('latin-1')!r} at byte {offset} needs {size} bytes "
                    f"but the file ends {offset + size - file_size} bytes short (an interrupted download?)"
                )
    return None


def mp4_without_video_track(path: str | Path) -> bool:
    """True when an MP4/MOV file's index (`moov`) lists tracks and none of them is video.

    An audio-only MP4 opens in both decoders' containers and fails only at the stream
    lookup, with decoder-internal messages; its index says so without decoding. False
    whenever unsure (not MP4/MOV, no `moov` box, no tracks): the decoders then decide.
    """
    moov = top_level_box(path, b"moov")
    handlers = [] if moov is None else [handler for handler, _ in tracks(moov)]
    return bool(handlers) and b"vide" not in handlers


def source_sha256(path: str | Path) -> str:
    """Checksum of a sample's source: the video file's bytes, or a frame folder's files (names and
    bytes, in frame order); "" when it cannot be read (the decode then fails with the reason)."""
    try:
        return frame_folder_sha256(path) if is_frame_folder(path) else file_sha256(path)
    except (OSError, FrameFolderError):
        return ""


def count_frames(path: str | Path) -> int:
    """Frames OpenCV really decodes (not the header's claim); for tests and checks."""
    info = VideoInfo(str(path), 0.0, 0, 0, 0)
    return sum(1 for _ in _opencv_frames(str(path), info))


# ------------------------------------------------------------ sample frames
@dataclass
class DecodedFrame:
    index: int  # 0-based index of the frame in the source video
    rgb: np.ndarray  # H x W x 3 uint8, after crop and resize


class SampleFrames:
    """Iterate the frames of one sample: frame or time range, optional fps resampling,
    crop and resize, with the decord -> OpenCV fallback.

    The source is a video file, or a folder of frame images (`dir` or `dir/*.png`;
    `signprep.video.frame_folder`), whose frame rate is `source_fps` (the metadata's).

    `frame_start` is 1-based and `frame_end` inclusive, -1 = end of the video
    (WLASL semantics). A frame_end past the real end is clipped to it (WLASL
    metadata often counts the header's frames); a frame_start past the end is a
    DecodeError. `time_start`/`time_end` (seconds, How2Sign's sentence ranges)
    select the frames whose timestamps t = i / fps (i 0-based) satisfy
    time_start <= t < time_end, instead of a frame range. Iterate it again to
    restart from the first frame (stages use that when a decoder is found to be
    wrong after the fact).
    """

    def __init__(
        self,
        path: str | Path,
        options: DecodeOptions = DecodeOptions(),
        *,
        frame_start: int = 1,
        frame_end: int = -1,
        time_start: float | None = None,
        time_end: float | None = None,
        bbox: tuple[int, int, int, int] | None = None,
        source_fps: float | None = None,
    ) -> None:
        self.path = str(path)
        self.options = options
        self.frame_start = frame_start
        self.frame_end = frame_end
        self.time_start, self.time_end = time_start, time_end
        self.bbox = bbox
        self.source_fps = source_fps
        self.info: VideoInfo | None = None
        self.is_folder = is_frame_folder(self.path)
        if self.is_folder:
            return  # its files are checked one by one as they are read
        if not Path(self.path).is_file():
            raise DecodeError(f"video file not found: {self.path}")
        if Path(self.path).stat().st_size == 0:
            raise DecodeError(f"video file is empty (0 bytes): {self.path}")
        problem = not_a_whole_video(self.path)
        if problem:
            raise DecodeError(f"{problem}: {self.path}")
        if mp4_without_video_track(self.path):  # before decord's C++ check failure and OpenCV's vaguer one
            raise DecodeError(f"{self.path}: {NO_VIDEO_STREAM}")
        if not is_mp4(self.path):  # WebM, MKV, AVI...: their cut shows only in their packets
            found = source_frames(self.path)
            if found is not None and found.problem:
                raise DecodeError(f"{found.problem}: {self.path}")

    def attempts(self) -> Iterator[tuple[str, Iterator[DecodedFrame]]]:
        """Yield (decoder name, frame iterator) for each decoder to try, in order."""
        if self.is_folder:
            yield FRAME_FOLDER, self._frames(FRAME_FOLDER)
            return
        order = [self.options.decoder] + [d for d in _READERS if d != self.options.decoder]
        for name in order:
            yield name, self._frames(name)

    def _frames(self, decoder: str) -> Iterator[DecodedFrame]:
        info = VideoInfo(self.path, 0.0, 0, 0, 0, decoder=decoder)
        self.info = info
        if decoder == FRAME_FOLDER:
            raw = _folder_frames(self.path, info, self.source_fps)
        else:
            raw = _READERS[decoder](self.path, info)
        start0 = self.frame_start - 1
        last0 = None if self.frame_end == -1 else self.frame_end - 1
        timed = self.time_start is not None or self.time_end is not None
        pads_with_repeats = decoder == "decord"  # what `check` looks for; image files are never padded
        wanted = None  # next source index to emit when resampling fps
        out_count = 0
        previous = None
        for index, rgb in enumerate(raw):
            if timed and index == 0:  # the reader knows the rate once it has opened the source
                start0, last0 = self._time_range_frames(info)
            info.decoded_frames = index + 1
            if pads_with_repeats:
                if _same_frame(rgb, previous):
                    info.trailing_repeats += 1
                else:
                    info.trailing_repeats = 0
                previous = rgb
            if index < start0:
                continue
            if last0 is not None and index > last0:
                break  # past the wanted range: no need to decode further
            if info.width == 0:
                self._set_geometry(info, rgb)
            repeats = 1
            if self.options.fps and info.source_fps > 0:
                step = info.source_fps / self.options.fps
                if wanted is None:
                    wanted = float(start0)
                repeats = 0
                while round(wanted) <= index:  # round(): nearest source frame
                    repeats += round(wanted) == index
                    wanted += step
            if repeats == 0:
                continue
            frame = self._transform(rgb, info)
            for _ in range(repeats):
                out_count += 1
                yield DecodedFrame(index, frame)
        else:
            info.reached_end = True
        if out_count == 0:
            total = info.decoded_frames
            if timed:
                wanted_range = f"time range {self.time_start}..{self.time_end} s"
            else:
                wanted_range = f"range {self.frame_start}..{self.frame_end}"
            raise DecodeError(f"no frames in {wanted_range} of {self.path} ({total} frames decoded)")

    def _time_range_frames(self, info: VideoInfo) -> tuple[int, int | None]:
        """(first, last) 0-based source frames of the time range: time_start <= i / fps < time_end."""
        fps = info.source_fps
        if not fps > 0:
            raise DecodeError(f"{self.path}: the video declares no frame rate, so a time range cannot be located")
        first = math.ceil((self.time_start or 0.0) * fps - 1e-6)  # 1e-6: 2.4 s at 25 fps is frame 60, not 61
        last = None if self.time_end is None else math.ceil(self.time_end * fps - 1e-6) - 1
        return first, last

    def _set_geometry(self, info: VideoInfo, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        info.source_height, info.source_width = h, w  # the frames, not the header, are the truth
        x1, y1, x2, y2 = 0, 0, w, h
        if self.options.crop_to_bbox and self.bbox is not None:
            bx1, by1, bx2, by2 = self.bbox
            x1, y1 = max(0, min(int(bx1), w - 1)), max(0, min(int(by1), h - 1))
            x2, y2 = max(x1 + 1, min(int(bx2), w)), max(y1 + 1, min(int(by2), h))
            info.crop_box = (x1, y1, x2, y2)
        cw, ch = x2 - x1, y2 - y1
        if self.options.resize_short_side:
            s = self.options.resize_short_side / min(cw, ch)
            info.width, info.height = max(1, round(cw * s)), max(1, round(ch * s))
        else:
            info.width, info.height = cw, ch

    def _transform(self, rgb: np.ndarray, info: VideoInfo) -> np.ndarray:
        if info.crop_box is not None:
            x1, y1, x2, y2 = info.crop_box
            rgb = rgb[y1:y2, x1:x2]
        if (rgb.shape[1], rgb.shape[0]) != (info.width, info.height):
            # INTER_AREA for shrinking avoids aliasing; LINEAR when enlarging
            shrink = info.width < rgb.shape[1]
            rgb = cv2.resize(
                rgb, (info.width, info.height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        return np.ascontiguousarray(rgb)

    def check(self) -> tuple[str, int | None]:
        """After a pass that reached the end: can its frames be trusted?

        Returns ("ok", None), ("trim", n) when the decoder padded the stream and
        only source frames < n are real, or ("redo", None) when another decoder
        must decode the sample again. decord pads a stream whose header claims
        more frames than it holds by repeating the last frame (90012: 64
        declared, 62 real), so repeated trailing frames or a count that differs
        from the header are checked against OpenCV's real count (one decode
        pass, cheap beside the keypoint models).
        """
        info = self.info
        if info is None or info.decoder != "decord":
            return "ok", None
        if info.trailing_repeats == 0 and (not info.reached_end or info.decoded_frames == info.declared_frames):
            return "ok", None  # (a range that ends early and ends in repeats is checked too: they may be padding)
        real = count_frames(self.path)
        if real == info.decoded_frames or (not info.reached_end and real >= info.decoded_frames):
            return "ok", None
        if real < info.decoded_frames <= real + info.trailing_repeats + (0 if info.reached_end else 1):
            info.decoder_note = (
                f"decord repeated the last frame {info.decoded_frames - real}x past the end "
                f"({info.declared_frames} declared, {real} real); trimmed"
            )
            info.decoded_frames = real
            return "trim", real
        info.decoder_note = f"decord decoded {info.decoded_frames} frames, OpenCV {real}"
        return "redo", None


def _same_frame(a: np.ndarray, b: np.ndarray | None) -> bool:
    # a sparse look first (~1500 bytes of a 1080p frame): full compares cost ~1 ms each
    if b is None or a.shape != b.shape:
        return False
    fa, fb = a.reshape(-1), b.reshape(-1)
    return np.array_equal(fa[::4099], fb[::4099]) and np.array_equal(fa, fb)
