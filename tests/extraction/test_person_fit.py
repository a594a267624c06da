"""`fit: person`: two passes, the one-pass keypoints bit for bit, one stored box shared by every image
modality, the signer larger, and the configuration rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signprep.extraction.person_fit import (
    MASK_LEVELS_MEASURED,
    PersonBoxConfig,
    hold_entry,
    release_entry,
    sample_person_box,
    with_person_box,
)
from signprep.extraction.pipeline import ConfigError, parse_pipeline
from signprep.kernels.frame_fit import FrameFit
from signprep.kernels.person_box import person_box, signer_fraction, signer_points
from signprep.shards import ShardReader
from signprep.shards.verify import verify_dir
from signprep.video.decode import DecodeOptions, SampleFrames

IMAGE_FITS = ("frames_fit", "heatmap_fit", "flow_fit", "person_mask_fit")
KEYPOINT_DATASETS = ("keypoints", "keypoint_confidence", "keypoint_present", "frame_indices")


def test_keypoints_equal_the_one_pass_run_bit_for_bit(person_fit_run, all_stages_run):
    person, _ = person_fit_run
    one_pass, _ = all_stages_run  # the same stages with fit: pad
    assert verify_dir(person).ok
    with ShardReader(person) as a, ShardReader(one_pass) as b:
        for sample_id in ("90029", "90012"):
            for name in KEYPOINT_DATASETS:
                np.testing.assert_array_equal(a[sample_id].read(name), b[sample_id].read(name), err_msg=name)
            assert a[sample_id].datasets == b[sample_id].datasets


def test_one_box_from_the_stored_keypoints_in_every_fit_in_stored_and_source_pixels(person_fit_run):
    out, _ = person_fit_run
    with ShardReader(out) as reader:
        config = PersonBoxConfig(**reader.index.pipeline["person_box"])
        s = reader["90012"]
        h, w = int(s.attrs["height"]), int(s.attrs["width"])
        expected = person_box(s.read("keypoints"), s.read("keypoint_confidence"), s.read("keypoint_present"),
                              (h, w), margin=config.margin, outlier_frames=config.outlier_frames,
                              min_visibility=config.min_visibility)  # fmt: skip
        np.testing.assert_allclose(s.attrs["person_box"], expected.box, atol=1e-3)
        np.testing.assert_allclose(s.attrs["person_box_in_source"], expected.box, atol=1e-3)  # no decode crop
        assert s.attrs["person_box_basis"] == "keypoints"
        x1, y1, x2, y2 = s.attrs["person_box"]
        assert x2 - x1 == pytest.approx(y2 - y1, abs=1e-2) and 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h  # square
        for attr in IMAGE_FITS:
            fit = json.loads(s.attrs[attr])
            assert fit["mode"] == "person" and fit["box"] == pytest.approx(s.attrs["person_box"], abs=1e-3)


def test_the_images_are_the_decoded_frames_through_the_box_and_the_heatmaps_sit_on_the_keypoints(person_fit_run):
    out, _ = person_fit_run
    with ShardReader(out) as reader:
        s = reader["90012"]
        fit = s.fit("frames_fit")
        sf = SampleFrames(s.attrs["source_path"], DecodeOptions("decord"))
        frame = next(f for f in next(sf.attempts())[1] if f.index == 10)
        np.testing.assert_array_equal(s.read("frames", slice(10, 11))[0], fit.apply(frame.rgb))
        hm = s.read("heatmaps", slice(10, 11))[0].astype(np.float32)
        nose = s.read("keypoints", slice(10, 11))[0, 0, :2]
        peak = np.unravel_index(hm[0].argmax(), hm[0].shape)
        expected = s.fit("heatmap_fit").map_points(nose)
        assert abs(peak[1] + 0.5 - expected[0]) <= 1 and abs(peak[0] + 0.5 - expected[1]) <= 1


def test_the_signer_fills_more_of_the_image_than_letterboxed(person_fit_run, all_stages_run):
    person, _ = person_fit_run
    one_pass, _ = all_stages_run
    with ShardReader(person) as a, ShardReader(one_pass) as b:
        for sample_id in ("90029", "90012"):
            s = a[sample_id]
            kp, conf, present = s.read("keypoints"), s.read("keypoint_confidence"), s.read("keypoint_present")
            use = signer_points(kp, conf, present, 0.5)
            boxed = signer_fraction(kp[..., :2], use, s.fit("frames_fit"))
            letterboxed = signer_fraction(kp[..., :2], use, b[sample_id].fit("frames_fit"))
            # 90029: 0.70 -> 0.92, 90012: 0.43 -> 0.92 (margin 0.05: at most 1 / 1.1 = 0.909 untrimmed)
            assert boxed >= 0.9 and boxed > letterboxed * 1.25, (sample_id, boxed, letterboxed)


def test_the_failure_and_the_missing_video_of_the_run_are_on_record(person_fit_run):
    out, summary = person_fit_run
    rows = [json.loads(line) for line in (out / "extract_errors.jsonl").read_text().splitlines()]
    assert {(r["sample_id"], r["status"], r["stage"]) for r in rows} == {
        ("broken", "failed", "decode"), ("99999", "missing_video", "manifest")
    }  # fmt: skip


def test_holding_the_segmentation_between_the_passes_moves_the_mask_by_at_most_a_level(records):
    import itertools

    from signprep.stages.keypoints import HolisticKeypoints, KeypointsConfig
    from signprep.stages.person_mask import PersonMask, PersonMaskConfig

    record = records["90012"]
    sf = SampleFrames(record.video_path, DecodeOptions("decord"))
    frames = [{"rgb": f.rgb, "index": f.index} for f in itertools.islice(next(sf.attempts())[1], 16)]
    holistic = HolisticKeypoints(KeypointsConfig(), segmentation=True)
    holistic.open(sf.info)
    outputs = holistic.process_many(frames)
    arrays = {k: np.stack([o[k] for o in outputs]) for k in ("keypoints", "keypoint_confidence", "keypoint_present")}
    mask = PersonMask(PersonMaskConfig(fit="person"))
    mask.open(with_person_box(sf.info, sample_person_box(arrays, sf.info, None, PersonBoxConfig())))
    for frame, o in zip(frames, outputs):
        one_pass = mask.process({**frame, "_segmentation": o["_segmentation"]})
        two_pass = mask.process(
            {**frame, "_segmentation": release_entry(hold_entry(o["_segmentation"], frame["rgb"].shape))}
        )
        for name in one_pass:
            diff = np.abs(one_pass[name].astype(int) - two_pass[name].astype(int))
            assert diff.max() <= MASK_LEVELS_MEASURED, name


def test_the_second_pass_decodes_the_same_time_range_as_the_first(records):
    """How2Sign-style: a sentence is a time range inside a long video; pass 2 must decode the same
    frames (a decode of the whole video would differ from pass 1 and fail the sample)."""
    import dataclasses

    from signprep.extraction.sample import build_stages, decode_and_process

    pipeline = parse_pipeline({"name": "t", "stages": {"frames": {"size": [32, 32], "fit": "person"}}})
    record = dataclasses.replace(records["90033"], time_start=10.0, time_end=10.4)  # 30 fps: frames 300..311
    arrays, info = decode_and_process(record, pipeline, build_stages(pipeline))
    assert arrays["frame_indices"].tolist() == list(range(300, 312)) and arrays["frames"].shape == (12, 32, 32, 3)
    assert "second decode" not in (info.decoder_note or "")  # pass 2 succeeded with pass 1's decoder
    sf = SampleFrames(record.video_path, DecodeOptions(info.decoder))
    frame = next(f for f in next(sf.attempts())[1] if f.index == 305)
    fit = FrameFit(info.height, info.width, 32, 32, "person", box=info.person_box)
    np.testing.assert_array_equal(arrays["frames"][5], fit.apply(frame.rgb))


def test_only_frame_sized_maps_are_compressed_between_the_passes():
    keypoints = np.random.default_rng(0).uniform(0, 300, (543, 3)).astype(np.float32)
    assert hold_entry(keypoints, (360, 640, 3)) is keypoints
    segmentation = np.linspace(0, 1, 360 * 640, dtype=np.float32).reshape(360, 640)
    back = release_entry(hold_entry(segmentation, (360, 640, 3)))
    assert back.dtype == np.float32 and np.abs(back - segmentation).max() <= 0.5 / 255 + 1e-7


def test_person_box_configuration_rules():
    with pytest.raises(ConfigError, match="no stage has fit: person"):
        parse_pipeline({"name": "x", "person_box": {"margin": 0.1}})
    with pytest.raises(ConfigError, match=r"fit: person \(frames\) needs the keypoints stage"):
        parse_pipeline({"name": "x", "stages": {"keypoints": None, "frames": {"fit": "person"}}})
    with pytest.raises(ConfigError, match="margin"):
        parse_pipeline({"name": "x", "stages": {"frames": {"fit": "person"}}, "person_box": {"margin": -1}})
    defaults = parse_pipeline({"name": "x", "stages": {"frames": {"fit": "person"}}})
    explicit = parse_pipeline({"name": "x", "stages": {"frames": {"fit": "person"}}, "person_box": {"margin": 0.05}})
    wider = parse_pipeline({"name": "x", "stages": {"frames": {"fit": "person"}}, "person_box": {"margin": 0.2}})
    assert defaults.person_box == PersonBoxConfig()
    # the defaults are written out: the hash holds them, and a changed margin changes the data's hash
    assert defaults.content_hash() == explicit.content_hash() != wider.content_hash()
    assert "person_box" in json.loads(defaults.to_json())
    assert "person_box" not in json.loads(parse_pipeline({"name": "x"}).to_json())


def test_a_fit_without_its_box_says_what_is_missing():
    from signprep.kernels.frame_fit import fit_for
    from signprep.video.decode import VideoInfo

    info = VideoInfo("clip.mp4", 25.0, 10, 640, 360, width=640, height=360)
    with pytest.raises(ValueError, match="person box"):
        fit_for(info, (64, 64), "person")
    assert fit_for(info, (64, 64), "pad") == FrameFit(360, 640, 64, 64, "pad")
