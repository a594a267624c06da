"""Reading MP4/MOV box structure (ISO/IEC 14496-12) without decoding: the container's own index.

A box is a 32-bit big-endian size (1: a 64-bit size follows; 0: to the end of the data),
a four-letter kind, then its payload. Used for frame counts from the `moov` index
(`signprep.video.containers`) and for telling an audio-only file from a video (`signprep.video.decode`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def top_level_headers(f: BinaryIO, file_size: int) -> Iterator[tuple[int, bytes, int, int]]:
    """(offset, kind, size, header length) of each top-level box of the open file `f`, in order.

    A size of 0 ("to the end of the file") is given as the rest of the file; a 64-bit size whose
    8 bytes are cut off stays 1. Sizes are not judged here: a box whose size is below its header
    length is yielded, and the walk stops after it (it cannot advance).
    """
    offset = 0
    while offset + 8 <= file_size:
        f.seek(offset)
        head = f.read(16)
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1 and len(head) == 16:
            size, header = struct.unpack(">Q", head[8:])[0], 16
        elif size == 0:
            size = file_size - offset
        yield offset, kind, size, header
        if size < header:
            return
        offset += size


def top_level_box(path: str | Path, wanted: bytes) -> bytes | None:
    """The payload of the first top-level box `wanted` of an MP4/MOV file; None if the file is
    not MP4/MOV (no leading `ftyp`), has no such box, or its box sizes are malformed.
    Reads box headers and that box only, never the media data."""
    with open(path, "rb") as f:
        if f.read(8)[4:8] != b"ftyp":
            return None
        for offset, kind, size, header in top_level_headers(f, os.fstat(f.fileno()).st_size):
            if size < header:
                return None
            if kind == wanted:
                f.seek(offset + header)
                return f.read(size - header)
    return None


def boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(kind, payload) of each box in `data`, stopping at the first malformed size."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1 and offset + 16 <= len(data):
            size, header = struct.unpack_from(">Q", data, offset + 8)[0], 16
        elif size == 0:
            size = len(data) - offset
        if size < header:
            return
        yield kind, data[offset + header : offset + size]
        offset += size


def child(data: bytes, *path: bytes) -> bytes | None:
    """The payload at `path` (kinds, outermost first) below `data`; None if any step is missing."""
    for kind in path:
        found = next((payload for k, payload in boxes(data) if k == kind), None)
        if found is None:
            return None
        data = found
    return data


def tracks(moov: bytes) -> Iterator[tuple[bytes | None, bytes]]:
    """(handler type, trak payload) of each track of a `moov` payload: `vide`, `soun`, ..., or None
    when the track has no readable trak/mdia/hdlr (version + flags, pre-defined, handler type)."""
    for kind, trak in boxes(moov):
        if kind == b"trak":
            hdlr = child(trak, b"mdia", b"hdlr")
            yield (hdlr[8:12] if hdlr is not None and len(hdlr) >= 12 else None), trak


def is_mp4(path: str | Path) -> bool:
    """True when the file starts like an ISO media file (MP4, MOV, M4V, 3GP): an `ftyp` box first."""
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"ftyp"


def mp4_frame_count(path: str | Path) -> tuple[int, float] | None:
    """(frames, fps) of the first video track of an MP4/MOV file, from its `moov` box; None if not found.

    Reads the top-level box headers and the `moov` box only (tens of kB), never the media data.
    """
    moov = top_level_box(path, b"moov")
    return None if moov is None else _video_track_frames(moov)


def _video_track_frames(moov: bytes) -> tuple[int, float] | None:
    for handler, trak in tracks(moov):
        if handler != b"vide":
            continue
        stbl = child(trak, b"mdia", b"minf", b"stbl")
        mdhd = child(trak, b"mdia", b"mdhd")
        if stbl is None or mdhd is None:
            return None
        stsz = child(stbl, b"stsz")
        stz2 = child(stbl, b"stz2")
        if stsz is not None:
            frames = struct.unpack_from(">I", stsz, 8)[0]
        elif stz2 is not None:
            frames = struct.unpack_from(">I", stz2, 8)[0]
        else:
            return None
        if mdhd[0] == 1:  # version 1: 64-bit times
            timescale, duration = struct.unpack_from(">IQ", mdhd, 20)
        else:
            timescale, duration = struct.unpack_from(">II", mdhd, 12)
        fps = frames * timescale / duration if duration and timescale else 0.0
        return frames, fps
    return None
