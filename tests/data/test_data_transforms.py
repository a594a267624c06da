"""signprep.data.transforms on synthetic inputs (real shards: test_shard_dataset.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signprep.data.transforms import (
    CropBox,
    HeatmapBatchTransform,
    crop_keypoints,
    crop_sample,
    normalised_fit,
    normalize_keypoints,
    random_crop_box,
)
from signprep.kernels.frame_fit import FrameFit
from signprep.kernels.gaussian_heatmaps import render_heatmaps_np

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def test_normalize_keypoints_centres_on_shoulders_and_scales_by_width():
    kp = np.zeros((2, 33, 3), np.float32)
    present = np.zeros((2, 33), bool)
    kp[:, 11, :2], kp[:, 12, :2] = (100, 50), (60, 50)  # shoulder width 40, midpoint (80, 50)
    kp[:, 0] = (120, 90, 20)
    present[:, [0, 11, 12]] = True
    kp[1, 5] = (7, 7, 7)  # coordinates of an absent point must not leak
    out = normalize_keypoints(kp, present, (360, 640))
    np.testing.assert_allclose(out[:, 0], [[1.0, 1.0, 0.5]] * 2)
    np.testing.assert_allclose(out[:, 11, :2], [[0.5, 0]] * 2)
    assert not out[~present].any()


def test_normalize_keypoints_without_shoulders_uses_the_frame():
    kp = np.full((1, 33, 3), 320, np.float32)
    present = np.ones((1, 33), bool)
    present[:, 11] = False
    out = normalize_keypoints(kp, present, (360, 640))
    np.testing.assert_allclose(out[0, 0], [0, (320 - 180) / 640, 0.5])


def _blob(size, centre, sigma=1.5):
    """(H, W) float image of a Gaussian at continuous pixel position centre (x, y)."""
    ys, xs = np.mgrid[: size[0], : size[1]] + 0.5
    return np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))


def _centroid(image):
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]] + 0.5
    w = np.where(image > 0.3 * image.max(), image, 0)
    return np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])


@pytest.mark.parametrize("seed", range(4))
def test_crop_moves_image_content_with_the_keypoints(seed):
    rng = np.random.default_rng(seed)
    frame_h, frame_w = 360, 640  # landscape video letterboxed into square modalities
    kp_xy = np.array([[300.0, 170.0], [350.0, 200.0]])
    fit_frames, fit_hm = FrameFit(frame_h, frame_w, 96, 96, "pad"), FrameFit(frame_h, frame_w, 48, 48, "pad")
    frames = np.zeros((1, 96, 96, 3), np.uint8)
    frames[0, ..., 1] = np.round(255 * _blob((96, 96), fit_frames.map_points(kp_xy[:1])[0], 2.0))
    heatmaps = np.stack([_blob((48, 48), p) for p in fit_hm.map_points(kp_xy)])[None].astype(np.float32)
    keypoints = np.concatenate([kp_xy, np.ones((2, 1))], 1)[None].astype(np.float32)
    box = random_crop_box(rng, (0.7, 0.9))
    fit = normalised_fit(frame_h, frame_w, "pad")
    out = crop_sample({"frames": frames, "heatmaps": heatmaps, "keypoints": keypoints}, box, fit)
    assert out["frames"].shape == frames.shape and out["frames"].dtype == np.uint8
    new_xy = out["keypoints"][0, :, :2]
    np.testing.assert_allclose(out["keypoints"][0, :, 2], 1)  # z untouched
    expected = fit_frames.map_points(new_xy[:1])[0]
    assert np.abs(_centroid(out["frames"][0, ..., 1].astype(float)) - expected).max() < 0.3
    for k in range(2):
        assert np.abs(_centroid(out["heatmaps"][0, k]) - fit_hm.map_points(new_xy[k : k + 1])[0]).max() < 0.2


def test_crop_keypoints_identity_box_and_flow_scaling():
    fit = normalised_fit(360, 640, "pad")
    xy = np.array([[10.0, 20.0], [600.0, 300.0]])
    np.testing.assert_allclose(crop_keypoints(xy, CropBox(0, 0, 1), fit), xy, atol=1e-4)
    flow = np.ones((1, 8, 8, 2), np.float32)
    out = crop_sample({"flow": flow}, CropBox(0.25, 0.25, 0.5), fit)
    np.testing.assert_allclose(out["flow"][0, 2:6, 2:6], 2.0, rtol=1e-5)  # zoom x2: displacements double


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fit", ["pad", "stretch"])
def test_heatmap_batch_transform_matches_numpy_per_frame(device, fit):
    rng = np.random.default_rng(0)
    b, t, k = 2, 3, 6
    frame_sizes = np.array([[360, 640], [240, 320]])
    kp = rng.uniform(0, 1, (b, t, k, 3)).astype(np.float32) * np.array([640, 360, 1], np.float32)
    conf = rng.uniform(0.2, 1, (b, t, k)).astype(np.float32)
    present = rng.uniform(size=(b, t, k)) > 0.2
    batch = {
        "keypoints": torch.from_numpy(kp).to(device),
        "keypoint_confidence": torch.from_numpy(conf).to(device),
        "keypoint_present": torch.from_numpy(present).to(device),
        "frame_size": torch.from_numpy(frame_sizes),
    }
    subset = [1, 3, 4]
    out = HeatmapBatchTransform(subset, size=(24, 32), sigma=1.5, fit=fit)(batch)
    hm = out["heatmaps"]
    assert hm.shape == (b, t, 3, 24, 32) and hm.device.type == device
    for i in range(b):
        frame_fit = FrameFit(*frame_sizes[i], 24, 32, fit)
        for j in range(t):
            xy = frame_fit.map_points(kp[i, j, subset, :2].astype(np.float64))
            ref = render_heatmaps_np(xy, conf[i, j, subset], present[i, j, subset], size=(24, 32), sigma=1.5)
            np.testing.assert_allclose(hm[i, j].cpu().numpy(), ref, atol=1e-5)
