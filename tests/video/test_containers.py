"""Frame counts and truncation of WebM, MKV and AVI from PyAV's demuxer, and time ranges in seconds."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from signprep.video.containers import source_frames
from signprep.video.decode import DecodeError, DecodeOptions, SampleFrames

# (extension, codec) as these containers are usually filled: VP9 in WebM, H.264 in MKV, MPEG-4 in AVI
CONTAINERS = [(".webm", "libvpx-vp9"), (".mkv", "libx264"), (".avi", "mpeg4")]


@pytest.fixture(scope="module")
def clip_frames(wlasl_root: Path) -> list[np.ndarray]:
    """Every frame of corpus clip 90012 (62 real frames), RGB."""
    cap = cv2.VideoCapture(str(wlasl_root / "videos" / "90012.mp4"))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(frames) == 62
    return frames


def encode(path: Path, frames: list[np.ndarray], codec: str, fps: int = 25) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def opencv_header_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


@pytest.mark.parametrize("ext,codec", CONTAINERS, ids=[e for e, _ in CONTAINERS])
def test_counts_are_the_real_frames_and_a_cut_file_is_found(tmp_path: Path, clip_frames, ext: str, codec: str):
    whole = encode(tmp_path / f"football{ext}", clip_frames, codec)
    found = source_frames(whole)
    assert (found.frames, found.fps, found.counted_by, found.problem) == (62, 25.0, "packets", None)
    frames = list(next(SampleFrames(whole, DecodeOptions()).attempts())[1])
    assert len(frames) == found.frames

    cut = tmp_path / f"cut{ext}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    counted = source_frames(cut)
    assert counted.problem is not None and "truncated" in counted.problem, counted
    assert counted.frames < 62
    # OpenCV's header count still claims the whole clip: it is not a frame count for these containers
    assert opencv_header_count(cut) == 62
    with pytest.raises(DecodeError) as failed:
        SampleFrames(cut, DecodeOptions())
    assert "truncated" in str(failed.value) and str(cut) in str(failed.value)


def test_mp4_counts_come_from_its_index(wlasl_root: Path):
    found = source_frames(wlasl_root / "videos" / "90012.mp4")
    assert (found.frames, found.counted_by) == (64, "mp4 index")  # the header's 64; 62 decode (docs: decord pads)
    assert found.fps == pytest.approx(29.97, abs=0.6)  # clips.csv: 29.97; 64 declared frames over 62 frames of time


def test_a_time_range_selects_the_frames_whose_timestamps_fall_inside(tmp_path: Path, clip_frames):
    video = encode(tmp_path / "clip.mkv", clip_frames, "libx264", fps=25)
    # 0.4 s .. 1.0 s at 25 fps: frames i with 0.4 <= i / 25 < 1.0, i.e. 10..24
    sample = SampleFrames(video, DecodeOptions(), time_start=0.4, time_end=1.0)
    _, frames = next(sample.attempts())
    assert [f.index for f in frames] == list(range(10, 25))
    by_frames = SampleFrames(video, DecodeOptions(), frame_start=11, frame_end=25)
    _, same = next(by_frames.attempts())
    assert [f.index for f in same] == list(range(10, 25))
    # 2.4 s is frame 60 exactly (2.4 * 25 = 60.000000000000007 in floating point)
    _, tail = next(SampleFrames(video, DecodeOptions(), time_start=2.4).attempts())
    assert [f.index for f in tail] == [60, 61]
    with pytest.raises(DecodeError, match="no frames in time range 5.0..6.0 s"):
        list(next(SampleFrames(video, DecodeOptions(), time_start=5.0, time_end=6.0).attempts())[1])
