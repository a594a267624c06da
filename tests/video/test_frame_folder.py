"""Frame folders as videos, on real corpus frames written out as PHOENIX-sized PNG/JPEG files."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from signprep.video.decode import DecodeError, DecodeOptions, SampleFrames
from signprep.video.frame_folder import (
    DEFAULT_FOLDER_FPS,
    frame_folder_sha256,
    list_frames,
    natural_key,
)

PHOENIX_SIZE = (210, 260)  # (width, height) of PHOENIX-2014(T)'s fullFrame-210x260px


@pytest.fixture(scope="module")
def real_frames(wlasl_root: Path) -> list[np.ndarray]:
    """The first 30 frames of corpus clip 90012 (FOOTBALL), resized to 210x260 RGB."""
    cap = cv2.VideoCapture(str(wlasl_root / "videos" / "90012.mp4"))
    frames = []
    while len(frames) < 30:
        ok, bgr = cap.read()
        assert ok
        frames.append(cv2.cvtColor(cv2.resize(bgr, PHOENIX_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def write_folder(folder: Path, frames: list[np.ndarray], name="images{:04d}.png", start=1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, rgb in enumerate(frames, start):
        assert cv2.imwrite(str(folder / name.format(i)), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def decode_all(path, **kw) -> tuple[list, SampleFrames]:
    sample = SampleFrames(path, DecodeOptions(), **kw)
    (decoder, frames), *rest = list(sample.attempts())
    assert decoder == "frames" and rest == []  # no fallback decoder for a folder
    return list(frames), sample


def test_png_folder_yields_the_written_frames_in_order(tmp_path: Path, real_frames):
    folder = write_folder(tmp_path / "01April_2010_Thursday_heute-6694", real_frames)
    frames, sample = decode_all(folder, source_fps=25.0)
    assert [f.index for f in frames] == list(range(len(real_frames)))
    for got, want in zip(frames, real_frames, strict=True):
        np.testing.assert_array_equal(got.rgb, want)  # PNG is lossless: bit-equal RGB
    info = sample.info
    assert (info.width, info.height, info.source_fps, info.declared_frames) == (210, 260, 25.0, 30)
    assert info.decoder_note == ""


def test_natural_order_not_string_order(tmp_path: Path, real_frames):
    folder = write_folder(tmp_path / "clip", real_frames[:12], name="{}.png")  # 1.png ... 12.png, unpadded
    assert [p.name for p in list_frames(folder)][:3] == ["1.png", "2.png", "3.png"]
    frames, _ = decode_all(folder)
    np.testing.assert_array_equal(frames[9].rgb, real_frames[9])  # 10.png, which string order puts 2nd
    assert sorted(["images10.png", "images2.png"], key=natural_key) == ["images2.png", "images10.png"]


def test_glob_pattern_selects_frames_and_other_files_are_ignored(tmp_path: Path, real_frames):
    folder = write_folder(tmp_path / "1", real_frames[:5])
    (folder / "Thumbs.db").write_bytes(b"\x00" * 64)
    (folder / "notes.txt").write_text("frames of a weather forecast")
    frames, _ = decode_all(folder)
    assert len(frames) == 5
    write_folder(folder, real_frames[:2], name="mask{:02d}.jpg")
    assert len(decode_all(folder / "*.png")[0]) == 5  # PHOENIX-2014's `.../1/*.png`
    assert len(decode_all(folder)[0]) == 7  # without a pattern every image counts


def test_frame_range_and_fps_resampling_apply_to_folders(tmp_path: Path, real_frames):
    folder = write_folder(tmp_path / "clip", real_frames)
    frames, _ = decode_all(folder, frame_start=5, frame_end=10)
    assert [f.index for f in frames] == [4, 5, 6, 7, 8, 9]
    sample = SampleFrames(folder, DecodeOptions(fps=12.5), source_fps=25.0)
    _, stream = next(sample.attempts())
    assert [f.index for f in stream] == list(range(0, 30, 2))


def test_no_fps_in_the_metadata_assumes_the_default_and_says_so(tmp_path: Path, real_frames):
    _, sample = decode_all(write_folder(tmp_path / "clip", real_frames[:3]))
    assert sample.info.source_fps == DEFAULT_FOLDER_FPS
    assert "without an fps" in sample.info.decoder_note and "25 fps assumed" in sample.info.decoder_note


def test_jpeg_folders_decode_like_opencv(tmp_path: Path, real_frames):
    folder = write_folder(tmp_path / "csl", real_frames[:4], name="{:06d}.jpg", start=0)  # CSL-Daily names
    frames, _ = decode_all(folder)
    for got, path in zip(frames, list_frames(folder), strict=True):
        np.testing.assert_array_equal(got.rgb, cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))


def _fails(path, *needles) -> str:
    with pytest.raises(DecodeError) as failed:
        decode_all(path)
    message = str(failed.value)
    for needle in needles:
        assert needle in message, message
    return message


def test_bad_folders_fail_with_a_message_naming_the_file(tmp_path: Path, real_frames):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no frames here")
    _fails(empty, "empty frame folder", str(empty))
    _fails(tmp_path / "absent", "not found", "absent")

    truncated_png = write_folder(tmp_path / "cut-png", real_frames[:3])
    victim = truncated_png / "images0002.png"
    victim.write_bytes(victim.read_bytes()[:-200])
    _fails(truncated_png, "truncated PNG", str(victim))

    truncated_jpg = write_folder(tmp_path / "cut-jpg", real_frames[:3], name="{:06d}.jpg")
    victim = truncated_jpg / "000002.jpg"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # OpenCV would decode this into a grey-filled frame
    _fails(truncated_jpg, "truncated JPEG", str(victim))

    not_image = write_folder(tmp_path / "not-image", real_frames[:3])
    (not_image / "images0004.png").write_text("this is not a picture")
    _fails(not_image, "not a readable image", "images0004.png")

    mixed = write_folder(tmp_path / "mixed", real_frames[:3])
    small = cv2.resize(real_frames[3], (105, 130))
    cv2.imwrite(str(mixed / "images0004.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    _fails(mixed, "images0004.png is 105x130", "images0001.png is 210x260")


def test_the_folder_checksum_covers_names_and_bytes(tmp_path: Path, real_frames):
    a = write_folder(tmp_path / "a", real_frames[:3])
    b = tmp_path / "b"
    shutil.copytree(a, b)
    assert frame_folder_sha256(a) == frame_folder_sha256(b)
    (b / "images0003.png").rename(b / "images0009.png")
    assert frame_folder_sha256(a) != frame_folder_sha256(b)
