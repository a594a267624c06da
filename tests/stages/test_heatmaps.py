"""The heatmap stage: its configuration, the stage on real keypoints, its plan cost and its contact-sheet row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from signprep.configs import ConfigError
from signprep.extraction.pipeline import parse_pipeline
from signprep.kernels.gaussian_heatmaps import dequantize_heatmaps, quantize_heatmaps, render_heatmaps_np
from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.shards import ShardReader
from signprep.stages.heatmaps import FLOAT16_BYTES_FACTOR, HEATMAPS_COST, HeatmapsConfig, KeypointHeatmaps
from signprep.stages.heatmaps import cost as heatmaps_cost
from signprep.stages.heatmaps import render_rows as heatmap_rows
from signprep.video.decode import VideoInfo


def stage_over(stage: KeypointHeatmaps, keypoints, confidence, present, height: int, width: int) -> np.ndarray:
    """Drive the stage as the runner does: open, one process() per frame, close, stack."""
    stage.open(VideoInfo("", 25.0, len(keypoints), width, height, width=width, height=height))
    frames = [
        stage.process({"keypoints": k, "keypoint_confidence": c, "keypoint_present": p})["heatmaps"]
        for k, c, p in zip(keypoints, confidence, present)
    ]
    stage.close()
    return np.stack(frames)


def check_peaks(heatmaps, xy, confidence, frame, tol: float) -> int:
    """The argmax of the channel of each confident, in-frame keypoint lies within `tol` heatmap
    pixels of it; returns how many were checked. (Faint channels quantise to flat plateaus.)"""
    inside = (xy[..., 0] > 0) & (xy[..., 0] < frame[1]) & (xy[..., 1] > 0) & (xy[..., 1] < frame[0])
    t_idx, k_idx = np.nonzero(inside & (confidence > 0.5))
    size = heatmaps.shape[-2:]
    for t, k in zip(t_idx, k_idx):
        i, j = np.unravel_index(np.argmax(heatmaps[t, k]), size)
        u, v = xy[t, k, 0] * size[1] / frame[1], xy[t, k, 1] * size[0] / frame[0]
        assert abs(j + 0.5 - u) <= tol and abs(i + 0.5 - v) <= tol, (t, k)
    return len(t_idx)


def test_stage_on_real_keypoints_football(corpus: Path):
    from pose_format import Pose

    pose = Pose.read((corpus / "poses" / "pose_format" / "FOOTBALL.pose").read_bytes())
    data = pose.body.data[:, 0, :543]  # (T, 543, 3): pose 33, face 468, hands 2 x 21 in our layout order
    keypoints = np.asarray(data.filled(0), np.float32)
    present = ~np.ma.getmaskarray(data).any(-1)
    confidence = np.asarray(pose.body.confidence[:, 0, :543], np.float32) * present
    height, width = pose.header.dimensions.height, pose.header.dimensions.width

    stage = KeypointHeatmaps(HeatmapsConfig(fit="stretch"))
    heatmaps = stage_over(stage, keypoints, confidence, present, height, width)
    assert heatmaps.shape == (len(keypoints), 79, 64, 64) and heatmaps.dtype == np.uint8
    idx = KeypointLayout().subset("signvtcl79")
    # the right wrist (pose) and the right hand's wrist: the peak is where the wrist is
    for name in ("pose.right_wrist", "right_hand.wrist"):
        channel = list(idx).index(KeypointLayout().names().index(name))
        wrist = keypoints[:, idx[channel], :2] * np.array([64 / width, 64 / height])  # heatmap pixels
        for t in np.nonzero(present[:, idx[channel]])[0]:
            i, j = np.unravel_index(np.argmax(heatmaps[t, channel]), (64, 64))
            # the nearest pixel centre, give or take a uint8 tie next to a half-pixel position
            assert abs(j + 0.5 - wrist[t, 0]) <= 0.55 and abs(i + 0.5 - wrist[t, 1]) <= 0.55
            assert heatmaps[t, channel].max() >= 255 * 0.5 * confidence[t, idx[channel]]
    assert check_peaks(heatmaps, keypoints[:, idx, :2], confidence[:, idx], (height, width), 0.55) > 3000
    # absent keypoints (a hand MediaPipe missed) stay zero
    assert not heatmaps[~present[:, idx]].any()
    # the stored uint8 is the quantised float render
    rendered = render_heatmaps_np(
        keypoints[3, idx, :2], confidence[3, idx], present[3, idx], size=(64, 64), sigma=2.0, frame_size=(height, width)
    )
    np.testing.assert_array_equal(heatmaps[3], quantize_heatmaps(rendered))
    attrs = stage.attrs()
    json.dumps(attrs)
    assert attrs["heatmap_keypoint_indices"] == idx.tolist()
    assert attrs["heatmap_size"] == [64, 64] and attrs["heatmap_frame_size"] == [height, width]
    assert attrs["heatmap_scale"] == pytest.approx(1 / 255) and attrs["heatmap_dtype"] == "uint8"

    stage = KeypointHeatmaps(HeatmapsConfig(size=(32, 48), sigma=1.0, dtype="float16", fit="stretch"))
    half = stage_over(stage, keypoints[:4], confidence[:4], present[:4], height, width)
    assert half.shape == (4, 79, 32, 48) and half.dtype == np.float16


def test_stage_follows_the_refined_face_layout():
    refined = KeypointLayout(478)
    k = refined.num_points
    keypoints = np.zeros((k, 3), np.float32)
    keypoints[refined.slice("right_hand").start, :2] = (51, 21)  # right-hand wrist: heatmap centre (10.5, 25.5)
    present = np.zeros(k, bool)
    present[refined.slice("right_hand").start] = True
    stage = KeypointHeatmaps(HeatmapsConfig(size=(32, 32), dtype="float16", fit="stretch"))
    out = stage_over(stage, [keypoints], [present.astype(np.float32)], [present], 64, 64)
    channel = 11 + 26 + 21  # signvtcl79: upper body, face, left hand, then the right hand
    assert out[0, channel, 10, 25] == 1.0 and np.count_nonzero(out[0].max(axis=(1, 2))) == 1
    assert stage.attrs()["heatmap_keypoint_indices"] == refined.subset("signvtcl79").tolist()


@pytest.mark.slow
def test_stage_on_keypoints_extracted_from_a_real_clip(corpus: Path, tmp_path: Path):
    """Keypoints from `extract_sample` (MediaPipe, ~5 s) of the corpus' shortest WLASL clip."""
    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.sample import extract_sample
    from signprep.manifests import build_manifest

    records = {r.sample_id: r for r in build_manifest("wlasl", corpus / "wlasl-sample").records}
    # the manifest holds no frame counts; clips.csv has what OpenCV decoded (90029: 41 frames, 320x240)
    with open(corpus / "wlasl-sample" / "clips.csv", newline="") as f:
        frames = {row["video_id"]: int(row["frames_decoded"]) for row in csv.DictReader(f)}
    record = records[min(records, key=lambda sample_id: frames[sample_id])]
    result = extract_sample(record, load_pipeline("keypoints"), tmp_path)
    assert result.status == "done", result.error
    with h5py.File(result.part) as f:
        g = f["samples"][record.sample_id]
        keypoints, confidence, present = (g[n][()] for n in ("keypoints", "keypoint_confidence", "keypoint_present"))
        height, width = int(g.attrs["height"]), int(g.attrs["width"])
    heatmaps = stage_over(
        KeypointHeatmaps(HeatmapsConfig(fit="stretch")), keypoints, confidence, present, height, width
    )
    idx = KeypointLayout().subset("signvtcl79")
    assert heatmaps.shape == (len(keypoints), 79, 64, 64)
    assert present[:, idx].any(0).sum() >= 37  # body and face found
    assert check_peaks(heatmaps, keypoints[:, idx, :2], confidence[:, idx], (height, width), 0.55) > 1000
    assert not heatmaps[~present[:, idx]].any()


def test_stage_limb_channels_follow_the_skeleton_within_the_subset():
    layout = KeypointLayout()
    stage = KeypointHeatmaps(HeatmapsConfig(size=(64, 64), sigma=1.5, limbs=True, fit="stretch"))
    stage.open(VideoInfo("synthetic", 30.0, 1, 640, 640, width=640, height=640))
    kp = np.zeros((layout.num_points, 3), np.float32)
    conf = np.zeros(layout.num_points, np.float32)
    present = np.zeros(layout.num_points, bool)
    kp[11, :2], kp[13, :2] = (100, 100), (300, 100)  # left shoulder -> left elbow, a horizontal segment
    conf[[11, 13]], present[[11, 13]] = 1, True
    out = stage.process({"keypoints": kp, "keypoint_confidence": conf, "keypoint_present": present})
    limbs = layout.limbs_within(layout.subset("signvtcl79"))
    assert len(limbs) == 9 + 2 * 21  # upper-body edges inside the 11 points, and both hands
    assert out["limb_heatmaps"].shape == (len(limbs), 64, 64) and out["limb_heatmaps"].dtype == np.uint8
    sub = list(layout.subset("signvtcl79"))
    channel = limbs.index((sub.index(11), sub.index(13)))
    limb = out["limb_heatmaps"][channel]
    # the segment runs along y = 10 (heatmap px, continuous), x 10..30: rows 9 and 10 have their
    # pixel centres 0.5 px from it all along, so both carry exp(-0.5^2 / 2 sigma^2)
    expected = round(255 * np.exp(-0.25 / (2 * 1.5**2)))
    assert np.abs(limb[9:11, 10:30].astype(int) - expected).max() <= 1
    assert limb[20].max() == 0  # 10 px (6.7 sigma) off the segment: nothing
    others = np.delete(out["limb_heatmaps"], channel, axis=0)
    assert others.max() == 0  # limbs with an absent end are empty


def test_the_configured_default_fit_is_pad_for_the_stage_too():
    """One default: a stage built from the default configuration letterboxes (as every pipeline ran)."""
    assert HeatmapsConfig().fit == "pad"
    stage = KeypointHeatmaps(HeatmapsConfig(dtype="float16"))
    layout = KeypointLayout()
    keypoints = np.zeros((layout.num_points, 3), np.float32)
    keypoints[0, :2] = (105, 55)  # pad into 64x64: scale 0.1, offset (0, 14) -> (10.5, 19.5); stretch: y 9.8
    confidence = np.zeros(layout.num_points, np.float32)
    confidence[0] = 1
    out = stage_over(stage, [keypoints], [confidence], [confidence > 0], 360, 640)
    assert np.unravel_index(out[0, 0].argmax(), (64, 64)) == (19, 10)
    assert json.loads(stage.attrs()["heatmap_fit"])["offset"] == [0.0, 14.0]


def test_an_unknown_subset_is_a_configuration_error():
    with pytest.raises(ConfigError, match="stages.heatmaps.subset.*unknown keypoint subset 'signvtcl80'"):
        parse_pipeline({"name": "x", "stages": {"heatmaps": {"subset": "signvtcl80"}}})
    with pytest.raises(ConfigError, match="stages.heatmaps.size"):
        parse_pipeline({"name": "x", "stages": {"heatmaps": {"size": [0, 64]}}})


def test_cost_scales_with_pixels_and_float16():
    assert heatmaps_cost(HeatmapsConfig()).cpu_ms == HEATMAPS_COST.cpu_ms == 0.58
    half = heatmaps_cost(HeatmapsConfig(size=(32, 32), dtype="float16"))  # a quarter of the measured 64x64
    assert half.label == "heatmaps" and half.cpu_ms == pytest.approx(0.58 / 4)
    assert half.stored == (("heatmaps", pytest.approx(38310 / 4)),)  # the float16 figure, measured beside uint8
    assert FLOAT16_BYTES_FACTOR == pytest.approx(38310 / 10886)


def test_the_contact_sheet_row_is_the_peak_in_colour_over_the_dimmed_frame(all_stages_run, render_input):
    out, _ = all_stages_run
    with ShardReader(out) as reader:
        sample = reader["90029"]
        rows = heatmap_rows(render_input(sample, [0, 20]))
        assert [label for label, _ in rows] == ["heatmaps (max over keypoints)"]
        for t, image in zip([0, 20], rows[0][1]):
            peak = dequantize_heatmaps(sample["heatmaps"][t]).max(0)
            under = cv2.resize(sample["frames"][t], (48, 48), interpolation=cv2.INTER_AREA) // 3
            colour = cv2.applyColorMap((peak * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
            cold, hot = peak == 0, peak >= 1 / 3  # no heat: the dimmed frame; a third of the peak: all colour
            assert cold.any() and hot.any()
            np.testing.assert_array_equal(image[cold], under[cold])
            np.testing.assert_array_equal(image[hot], colour[hot])
