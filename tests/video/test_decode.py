"""Frame decode on real clips: decord -> OpenCV fallback, frame ranges, fps, geometry, bad files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from signprep.extraction.sample import decode_and_process, extract_sample
from signprep.video.decode import DecodeError, DecodeOptions, SampleFrames, count_frames


@pytest.fixture(scope="module")
def football(wlasl_root: Path) -> Path:
    """90012: declares 64 frames, holds 62; decord pads by repeating the last frame twice."""
    return wlasl_root / "videos" / "90012.mp4"


@pytest.fixture(scope="module")
def know_60fps(wlasl_root: Path) -> Path:
    """90018: 1920x1080 at 60 fps."""
    return wlasl_root / "videos" / "90018.mp4"


def _attempt(sample: SampleFrames, decoder: str) -> list:
    for name, frames in sample.attempts():
        if name == decoder:
            return list(frames)
    raise AssertionError(f"no {decoder} attempt")


def _first(sample: SampleFrames) -> list:
    name, frames = next(sample.attempts())
    assert name == sample.options.decoder
    return list(frames)


# ----------------------------------------------------------------- 90012: the padded clip
def test_decord_pads_90012_and_check_trims_to_the_real_62(football: Path):
    sample = SampleFrames(football)
    frames = _first(sample)
    assert len(frames) == 64  # decord repeats the last real frame twice
    assert [f.index for f in frames] == list(range(64))
    assert np.array_equal(frames[63].rgb, frames[61].rgb) and np.array_equal(frames[62].rgb, frames[61].rgb)
    assert sample.info.decoder == "decord" and sample.info.declared_frames == 64
    assert sample.info.reached_end and sample.info.trailing_repeats == 2
    assert sample.check() == ("trim", 62)
    note = sample.info.decoder_note
    assert "64 declared" in note and "62 real" in note and "trimmed" in note
    assert sample.info.decoded_frames == 62


def test_opencv_decodes_the_62_real_frames_of_90012(football: Path):
    sample = SampleFrames(football, DecodeOptions(decoder="opencv"))
    frames = _first(sample)
    assert len(frames) == 62 and frames[-1].index == 61
    assert sample.info.decoder == "opencv" and sample.check() == ("ok", None)
    assert (sample.info.width, sample.info.height) == (640, 360)
    assert frames[0].rgb.shape == (360, 640, 3) and frames[0].rgb.dtype == np.uint8
    # the fallback order: OpenCV second after decord, and decord second after OpenCV
    assert [name for name, _ in SampleFrames(football).attempts()] == ["decord", "opencv"]
    assert [name for name, _ in sample.attempts()] == ["opencv", "decord"]


def test_both_decoders_agree_on_the_real_frames(football: Path):
    decord_frames = _first(SampleFrames(football, frame_start=30, frame_end=32))
    opencv_frames = _first(SampleFrames(football, DecodeOptions(decoder="opencv"), frame_start=30, frame_end=32))
    assert [f.index for f in decord_frames] == [f.index for f in opencv_frames] == [29, 30, 31]
    for a, b in zip(decord_frames, opencv_frames):
        # same stream, two FFmpeg builds: the pictures match up to colour-conversion rounding
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).mean() < 3


def test_count_frames_is_the_real_count(football: Path, wlasl_root: Path):
    assert count_frames(football) == 62
    assert count_frames(wlasl_root / "videos" / "90029.mp4") == 41


def test_decode_and_process_keeps_62_frames_of_90012(records, keypoints_pipeline):
    # no stages: only the decode path and the trim
    arrays, info = decode_and_process(records["90012"], keypoints_pipeline, [])
    assert arrays["frame_indices"].tolist() == list(range(62))
    assert info.decoder == "decord" and "trimmed" in info.decoder_note


# ----------------------------------------------------------------- frame ranges
def test_frame_range_is_one_based_and_inclusive(football: Path):
    sample = SampleFrames(football, frame_start=5, frame_end=20)
    frames = _first(sample)
    assert [f.index for f in frames] == list(range(4, 20))
    assert sample.check() == ("ok", None)  # stopped early: nothing to re-check


def test_frame_end_past_the_end_is_clipped(records, football: Path, keypoints_pipeline):
    # OpenCV: clipped to the real end
    frames = _first(SampleFrames(football, DecodeOptions(decoder="opencv"), frame_start=50, frame_end=200))
    assert [f.index for f in frames] == list(range(49, 62))
    # decord runs into its padding, which the sample's processing trims again
    record = dataclasses.replace(records["90012"], frame_start=50, frame_end=200)
    arrays, _ = decode_and_process(record, keypoints_pipeline, [])
    assert arrays["frame_indices"].tolist() == list(range(49, 62))


def test_frame_end_inside_decord_padding_is_clipped_to_the_real_end(records, keypoints_pipeline):
    record = dataclasses.replace(records["90012"], frame_end=63)
    arrays, _ = decode_and_process(record, keypoints_pipeline, [])
    assert arrays["frame_indices"].tolist() == list(range(62))


def test_frame_start_past_the_end_is_a_decode_error_naming_the_file(football: Path, records, keypoints_pipeline):
    sample = SampleFrames(football, frame_start=70)
    for _, frames in sample.attempts():
        with pytest.raises(DecodeError, match=str(football)):
            list(frames)
    record = dataclasses.replace(records["90012"], frame_start=70)
    with pytest.raises(DecodeError, match=str(football)):
        decode_and_process(record, keypoints_pipeline, [])


def test_frame_start_inside_decord_padding_is_a_decode_error(records, keypoints_pipeline, tmp_path: Path):
    record = dataclasses.replace(records["90012"], frame_start=63)
    result = extract_sample(record, keypoints_pipeline, tmp_path)
    assert result.status == "failed" and result.stage == "decode"
    assert record.video_path in result.error
    assert "Traceback" not in result.error


# ----------------------------------------------------------------- fps resampling
def test_fps_resampling_60_to_15_takes_every_fourth_frame(know_60fps: Path):
    sample = SampleFrames(know_60fps, DecodeOptions(fps=15), frame_start=1, frame_end=40)
    frames = _first(sample)
    assert sample.info.source_fps == pytest.approx(60.0)
    assert [f.index for f in frames] == list(range(0, 40, 4))


def test_fps_resampling_respects_the_frame_start(know_60fps: Path):
    frames = _first(SampleFrames(know_60fps, DecodeOptions(fps=30), frame_start=11, frame_end=20))
    assert [f.index for f in frames] == [10, 12, 14, 16, 18]


def test_fps_upsampling_repeats_the_nearest_frame(football: Path):
    # 29.97 -> 60 fps: about two output frames per source frame, in order, none skipped
    frames = _first(SampleFrames(football, DecodeOptions(fps=60), frame_start=1, frame_end=10))
    indices = [f.index for f in frames]
    assert indices == sorted(indices) and set(indices) == set(range(10))
    assert 19 <= len(indices) <= 21


# ----------------------------------------------------------------- geometry
def test_resize_short_side_landscape_and_portrait(football: Path, wlasl_root: Path):
    sample = SampleFrames(football, DecodeOptions(resize_short_side=180), frame_end=2)
    frames = _first(sample)
    assert [f.rgb.shape for f in frames] == [(180, 320, 3)] * 2
    assert (sample.info.width, sample.info.height) == (320, 180)
    assert (sample.info.source_width, sample.info.source_height) == (640, 360)
    assert sample.info.scale == pytest.approx((0.5, 0.5))
    # 90013 is portrait 360x640: the short side is the width
    portrait = SampleFrames(wlasl_root / "videos" / "90013.mp4", DecodeOptions(resize_short_side=180), frame_end=1)
    assert [f.rgb.shape for f in _first(portrait)] == [(320, 180, 3)]
    assert portrait.info.scale == pytest.approx((0.5, 0.5))


def test_crop_to_bbox_then_resize(know_60fps: Path):
    options = DecodeOptions(crop_to_bbox=True, resize_short_side=256)
    sample = SampleFrames(know_60fps, options, frame_end=2, bbox=(100, 50, 1100, 850))
    frames = _first(sample)
    assert sample.info.crop_box == (100, 50, 1100, 850)
    assert [f.rgb.shape for f in frames] == [(256, 320, 3)] * 2  # 1000x800 -> 320x256
    assert sample.info.scale == pytest.approx((0.32, 0.32))
    assert (sample.info.source_width, sample.info.source_height) == (1920, 1080)


def test_crop_without_resize_is_the_source_pixels(football: Path):
    full = _first(SampleFrames(football, frame_end=1))[0].rgb
    sample = SampleFrames(football, DecodeOptions(crop_to_bbox=True), frame_end=1, bbox=(100, 20, 300, 220))
    crop = _first(sample)[0].rgb
    assert crop.shape == (200, 200, 3)
    assert np.array_equal(crop, full[20:220, 100:300])
    assert sample.info.scale == (1.0, 1.0)


def test_bbox_outside_the_frame_is_clamped(football: Path):
    sample = SampleFrames(football, DecodeOptions(crop_to_bbox=True), frame_end=1, bbox=(-50, -10, 9999, 9999))
    frames = _first(sample)
    assert sample.info.crop_box == (0, 0, 640, 360)
    assert frames[0].rgb.shape == (360, 640, 3)


def test_bbox_is_ignored_without_crop_to_bbox(football: Path):
    sample = SampleFrames(football, frame_end=1, bbox=(100, 20, 300, 220))
    assert _first(sample)[0].rgb.shape == (360, 640, 3)
    assert sample.info.crop_box is None


# ----------------------------------------------------------------- bad files
def test_missing_file_is_a_decode_error_naming_it(tmp_path: Path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(DecodeError, match="not found") as e:
        SampleFrames(path)
    assert str(path) in str(e.value)


def test_empty_file_is_a_decode_error_naming_it(tmp_path: Path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(DecodeError, match="0 bytes") as e:
        SampleFrames(path)
    assert str(path) in str(e.value)


def test_text_file_falls_through_every_decoder(tmp_path: Path, records, keypoints_pipeline):
    path = tmp_path / "not-a-video.mp4"
    path.write_text("this is not a video\n" * 50)
    sample = SampleFrames(path)
    tried = []
    for name, frames in sample.attempts():
        with pytest.raises(DecodeError) as e:
            list(frames)
        assert str(path) in str(e.value)
        tried.append(name)
    assert tried == ["decord", "opencv"]
    record = dataclasses.replace(records["90012"], sample_id="broken", video_path=str(path))
    with pytest.raises(DecodeError) as e:
        decode_and_process(record, keypoints_pipeline, [])
    assert "decord cannot open" in str(e.value) and "OpenCV cannot open" in str(e.value)


def test_extract_sample_reports_a_broken_video_without_raising(tmp_path: Path, records, keypoints_pipeline):
    path = tmp_path / "not-a-video.mp4"
    path.write_text("this is not a video\n" * 50)
    record = dataclasses.replace(records["90012"], sample_id="broken", video_path=str(path))
    result = extract_sample(record, keypoints_pipeline, tmp_path / "parts")
    assert result.status == "failed" and result.stage == "decode"
    assert str(path) in result.error
    assert result.part is None and not (tmp_path / "parts" / "broken.h5").exists()
    missing = dataclasses.replace(record, sample_id="gone", video_path=str(tmp_path / "gone.mp4"))
    result = extract_sample(missing, keypoints_pipeline, tmp_path / "parts")
    assert result.status == "failed" and result.stage == "decode" and str(tmp_path / "gone.mp4") in result.error
