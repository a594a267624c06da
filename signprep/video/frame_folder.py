"""A folder of images as a video: PHOENIX-2014(T), CSL-Daily and most continuous-sign corpora
ship their samples as folders of PNG or JPEG frames, not as video files.

The frames are the folder's image files (`IMAGE_EXTENSIONS`, any case) in natural order
(`images2.png` before `images10.png`; zero-padded names sort the same either way), or those
matching a glob pattern (PHOENIX-2014's corpus names `.../1/*.png`). Other files (a
`Thumbs.db`, a README) are not frames and are ignored. The frame rate is not in the files:
it comes from the metadata (PHOENIX: 25 fps), else `DEFAULT_FOLDER_FPS` is assumed and said.

Bad input fails the sample with a `DecodeError` naming the file: an empty folder, a file
that is not an image or cannot be decoded, a truncated PNG or JPEG (OpenCV decodes a JPEG
cut short into a grey-filled frame with only a warning on stderr, so the end markers are
checked), frames of different sizes.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from signprep.checksums import files_sha256

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_FOLDER_FPS = 25.0  # PHOENIX-2014(T)'s rate; used (and noted) when the metadata gives none

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC: the last 8 bytes of every PNG
_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"


class FrameFolderError(RuntimeError):
    """The folder cannot be read as frames; the message names the folder or the file."""


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs by value: frame2 < frame10."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def split_pattern(path: str | Path) -> tuple[Path, str | None]:
    """(folder, glob pattern or None) of a frame-folder source: `dir` or `dir/*.png`."""
    path = Path(path)
    if any(c in path.name for c in "*?["):
        return path.parent, path.name
    return path, None


def is_frame_folder(path: str | Path) -> bool:
    folder, pattern = split_pattern(path)
    return pattern is not None or folder.is_dir()


def list_frames(path: str | Path) -> list[Path]:
    """The frame files of a folder source, in order; FrameFolderError if there are none."""
    folder, pattern = split_pattern(path)
    try:
        names = [e.name for e in os.scandir(folder) if e.is_file()]
    except FileNotFoundError:
        raise FrameFolderError(f"frame folder not found: {folder}") from None
    except OSError as e:
        raise FrameFolderError(f"cannot list frame folder {folder}: {e.strerror}") from None
    if pattern is not None:
        frames = [n for n in names if fnmatch.fnmatch(n, pattern)]
    else:
        frames = [n for n in names if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS]
    if not frames:
        what = f"no file matching {pattern!r}" if pattern else f"no image files ({', '.join(IMAGE_EXTENSIONS)})"
        raise FrameFolderError(f"empty frame folder {folder}: {what}")
    return [folder / n for n in sorted(frames, key=natural_key)]


def _truncated(data: bytes) -> str | None:
    """Why an encoded PNG/JPEG is cut short, from its end marker; None if complete (or another format)."""
    if data.startswith(_PNG_MAGIC) and not data.endswith(_PNG_END):
        return "truncated PNG (no IEND chunk at the end)"
    # a JPEG ends with EOI (FF D9); some writers pad after it with zero bytes
    if data.startswith(_JPEG_MAGIC) and not data.rstrip(b"\x00").endswith(_JPEG_END):
        return "truncated JPEG (no end-of-image marker)"
    return None


def read_frame(path: Path) -> np.ndarray:
    """One frame file -> H x W x 3 uint8 RGB; FrameFolderError naming the file if it is not a whole image."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FrameFolderError(f"cannot read frame {path}: {e.strerror}") from None
    problem = _truncated(data)
    if problem:
        raise FrameFolderError(f"{problem}: {path}")
    # IMREAD_COLOR_RGB (OpenCV >= 4.10): decoded straight to RGB, no conversion pass
    rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    if rgb is None:
        raise FrameFolderError(f"not a readable image: {path}")
    return rgb


def read_frames(frames: list[Path]) -> Iterator[np.ndarray]:
    """The frames in order; a frame whose size differs from the first is an error naming it."""
    size = None
    for path in frames:
        rgb = read_frame(path)
        if size is None:
            size = rgb.shape[:2]
        elif rgb.shape[:2] != size:
            raise FrameFolderError(
                f"frame {path.name} is {rgb.shape[1]}x{rgb.shape[0]} but the folder's first frame "
                f"{frames[0].name} is {size[1]}x{size[0]}: {path.parent}"
            )
        yield rgb


def frame_folder_sha256(path: str | Path) -> str:
    """sha256 over the frame files' names and bytes, in order: a folder's content checksum."""
    return files_sha256(list_frames(path))
