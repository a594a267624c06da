"""Gaussian keypoint heatmaps: renderers against the definition (the stage: tests/stages/test_heatmaps.py)."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.kernels.gaussian_heatmaps import (
    dequantize_heatmaps,
    naive_heatmaps_np,
    quantize_heatmaps,
    render_heatmaps_np,
    render_heatmaps_torch,
    render_limbs_np,
)

FRAME = (360, 640)  # (H, W) of the source frame: FOOTBALL's geometry
SIZE = (48, 64)  # (H, W) of the heatmap: non-square, and a different scale per axis
SX, SY = SIZE[1] / FRAME[1], SIZE[0] / FRAME[0]  # heatmap pixels per frame pixel


def random_keypoints(shape: tuple[int, ...], seed: int = 0):
    """xy (..., K, 2) in frame pixels at non-integer positions, confidence, present."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform([-20, -20], [FRAME[1] + 20, FRAME[0] + 20], shape + (2,))  # some just off the frame
    confidence = rng.uniform(0.1, 1.0, shape)
    present = rng.uniform(size=shape) > 0.2
    return xy, confidence, present


def formula(x: float, y: float, c: float, i: int, j: int, sigma: float) -> float:
    """The definition at heatmap pixel (row i, column j), written out once more by hand."""
    u, v = x * SX, y * SY  # keypoint in heatmap pixels
    return c * np.exp(-(((j + 0.5) - u) ** 2 + ((i + 0.5) - v) ** 2) / (2 * sigma**2))


# ------------------------------------------------------------------- definition
def test_values_at_nearest_pixel_centres_match_the_formula_and_peak_is_at_the_keypoint():
    sigma = 1.5
    xy = np.array([[301.37, 177.81], [123.9, 40.26], [500.02, 300.55]])
    conf = np.array([1.0, 0.7, 0.35])
    h = render_heatmaps_np(xy, conf, size=SIZE, sigma=sigma, frame_size=FRAME, dtype=np.float64)
    assert h.shape == (3, *SIZE)
    rows, cols = np.mgrid[: SIZE[0], : SIZE[1]] + 0.5  # pixel centres, heatmap pixels
    for k, ((x, y), c) in enumerate(zip(xy, conf)):
        u, v = x * SX, y * SY
        # the four pixel centres around the keypoint hold the formula's values
        for i in (int(np.floor(v - 0.5)), int(np.floor(v - 0.5)) + 1):
            for j in (int(np.floor(u - 0.5)), int(np.floor(u - 0.5)) + 1):
                assert h[k, i, j] == pytest.approx(formula(x, y, c, i, j, sigma), rel=1e-12)
        # the argmax is the pixel whose centre is nearest the keypoint (within half a pixel)
        i, j = np.unravel_index(np.argmax(h[k]), SIZE)
        assert abs(cols[i, j] - u) <= 0.5 and abs(rows[i, j] - v) <= 0.5
        # sub-pixel: a sampled Gaussian's centroid is its centre (to ~exp(-2 pi^2 sigma^2))
        total = h[k].sum()
        assert (h[k] * cols).sum() / total == pytest.approx(u, abs=1e-3)
        assert (h[k] * rows).sum() / total == pytest.approx(v, abs=1e-3)
        assert h[k].max() <= c


def test_pixel_centre_convention():
    # 640 -> 64: heatmap column j covers frame x in [10 j, 10 j + 10), its centre is 10 j + 5
    h = render_heatmaps_np([[10 * 7 + 5, 10 * 3 + 5]], size=(64, 64), sigma=2.0, frame_size=(640, 640))
    assert h[0, 3, 7] == 1.0
    # the frame centre (W/2, H/2) is the heatmap centre: symmetric under both flips
    h = render_heatmaps_np([[320, 180]], size=SIZE, sigma=2.0, frame_size=FRAME, dtype=np.float64)
    np.testing.assert_allclose(h, h[:, ::-1, ::-1], atol=1e-15)


def test_separable_equals_naive_reference():
    xy, conf, present = random_keypoints((3, 79))
    xy[0, 5] = np.nan  # an absent keypoint whose coordinates are garbage
    present[0, 5] = False
    kwargs = dict(size=SIZE, sigma=2.0, frame_size=FRAME)
    naive = naive_heatmaps_np(xy, conf, present, **kwargs)
    for dtype, atol in ((np.float64, 1e-12), (np.float32, 1e-6), (np.float16, 5e-4)):
        fast = render_heatmaps_np(xy, conf, present, dtype=dtype, **kwargs)
        assert fast.dtype == dtype and fast.shape == (3, 79, *SIZE)
        np.testing.assert_allclose(fast.astype(np.float64), naive, rtol=0, atol=atol)
    # batched over T is the per-frame render stacked
    per_frame = np.stack([render_heatmaps_np(xy[t], conf[t], present[t], **kwargs) for t in range(3)])
    np.testing.assert_array_equal(per_frame, render_heatmaps_np(xy, conf, present, **kwargs))


def test_absent_keypoints_give_zero_channels():
    xy, _, _ = random_keypoints((4,))
    xy[3] = np.nan
    h = render_heatmaps_np(xy, [1.0, 0.0, 1.0, 1.0], [True, True, False, False], size=SIZE, sigma=2.0, frame_size=FRAME)
    assert h[0].max() > 0
    assert not h[1:].any()  # confidence 0, present False, present False with NaN coordinates
    assert np.isfinite(h).all()


def test_confidence_scales_the_channel():
    xy, _, _ = random_keypoints((5,), seed=1)
    kwargs = dict(size=SIZE, sigma=3.0, frame_size=FRAME, dtype=np.float64)
    conf = np.array([1.0, 0.5, 0.25, 0.9, 0.01])
    np.testing.assert_allclose(
        render_heatmaps_np(xy, conf, **kwargs), conf[:, None, None] * render_heatmaps_np(xy, **kwargs), rtol=1e-14
    )


def test_quantisation_round_trip():
    xy, conf, present = random_keypoints((2, 79), seed=2)
    h = render_heatmaps_np(xy, conf, present, size=SIZE, sigma=2.0, frame_size=FRAME)
    q = quantize_heatmaps(h)
    assert q.dtype == np.uint8 and q.shape == h.shape
    # 1/510 is half a step; 1e-7 allows for float32 rounding of 255 * h at a half-step tie
    assert np.abs(dequantize_heatmaps(q) - h).max() <= 1 / 510 + 1e-7
    edge_cases = np.array([np.nan, -0.1, 0.0, 0.49 / 255, 0.5 / 255, 1.0, 1.2])
    np.testing.assert_array_equal(quantize_heatmaps(edge_cases), [0, 0, 0, 0, 1, 255, 255])
    np.testing.assert_array_equal(quantize_heatmaps(dequantize_heatmaps(np.arange(256, dtype=np.uint8))), range(256))
    scratch = h.copy()
    np.testing.assert_array_equal(quantize_heatmaps(scratch, overwrite_input=True), q)


def test_output_buffer_and_float16_storage():
    xy, conf, present = random_keypoints((79,), seed=4)
    kwargs = dict(size=SIZE, sigma=2.0, frame_size=FRAME)
    expected = render_heatmaps_np(xy, conf, present, **kwargs)
    buffer = np.full((79, *SIZE), np.nan, np.float32)
    assert render_heatmaps_np(xy, conf, present, **kwargs, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, expected)
    with pytest.raises(ValueError, match="out must be"):
        render_heatmaps_np(xy, **kwargs, out=np.empty((79, 4, 4), np.float32))
    # float16 keeps no subnormals: below 6.1e-5 is 0, otherwise the float32 value rounded
    half = render_heatmaps_np(xy, conf, present, **kwargs, dtype=np.float16)
    tiny = np.finfo(np.float16).tiny
    assert not half[(half != 0) & (np.abs(half) < tiny)].any()
    np.testing.assert_array_equal(half[expected >= tiny], expected[expected >= tiny].astype(np.float16))


def test_limbs():
    xy = np.array([[100.3, 90.2], [400.7, 90.2], [250.0, 300.0]])
    kwargs = dict(size=SIZE, sigma=2.0, frame_size=FRAME, dtype=np.float64)
    limbs = render_limbs_np(xy, [1.0, 0.8, 0.5], [True, True, False], limbs=[(0, 1), (2, 2), (0, 2), (1, 1)], **kwargs)
    assert limbs.shape == (4, *SIZE)
    # a segment of zero length is the keypoint's heatmap; an absent end gives zero
    np.testing.assert_allclose(limbs[3], render_heatmaps_np(xy[1:2], [0.8], **kwargs)[0], atol=1e-6)
    assert not limbs[1].any() and not limbs[2].any()
    # the horizontal segment 0-1: weight min(1, 0.8), distance to the segment by hand
    v = xy[0, 1] * SY
    for i, j in ((2, 5), (7, 30), (9, 60), (20, 1)):
        u = np.clip(j + 0.5, xy[0, 0] * SX, xy[1, 0] * SX)
        d2 = (j + 0.5 - u) ** 2 + (i + 0.5 - v) ** 2
        assert limbs[0, i, j] == pytest.approx(0.8 * np.exp(-d2 / 8), rel=1e-5)


# ------------------------------------------------------------------------ torch
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="no CUDA")),
]


@pytest.mark.parametrize("device", DEVICES)
def test_torch_matches_numpy(device):
    torch = pytest.importorskip("torch")
    xy, conf, present = random_keypoints((2, 3, 79), seed=3)  # (B, T, K)
    xy[1, 2, 7] = np.nan
    present[1, 2, 7] = False
    kwargs = dict(size=SIZE, sigma=2.0, frame_size=FRAME)
    expected = render_heatmaps_np(xy, conf, present, **kwargs)
    t = render_heatmaps_torch(
        torch.tensor(xy, dtype=torch.float32, device=device),
        torch.tensor(conf, dtype=torch.float32, device=device),
        torch.tensor(present, device=device),
        **kwargs,
    )
    assert t.shape == (2, 3, 79, *SIZE) and t.dtype == torch.float32 and t.device.type == device
    np.testing.assert_allclose(t.cpu().numpy(), expected, rtol=0, atol=1e-5)
    half = render_heatmaps_torch(torch.tensor(xy, device=device), **kwargs, dtype=torch.float16)
    assert half.dtype == torch.float16
    np.testing.assert_allclose(half.float().cpu().numpy(), render_heatmaps_np(xy, **kwargs), rtol=0, atol=2e-3)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_gradient(device):
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    xy = (torch.rand(1, 2, 3, 2, generator=gen, dtype=torch.float64) * 30).to(device).requires_grad_()
    conf = torch.rand(1, 2, 3, generator=gen, dtype=torch.float64).to(device).requires_grad_()
    present = torch.tensor([[[True, True, False], [True, False, True]]], device=device)

    def render(xy, conf):
        return render_heatmaps_torch(xy, conf, present, size=(5, 6), sigma=1.5, frame_size=(25, 30))

    assert torch.autograd.gradcheck(render, (xy, conf))
    # the gradient moves a keypoint towards a target peak; absent keypoints get none
    render(xy, conf)[..., 2, 3].sum().backward()
    assert xy.grad.abs().sum() > 0
    assert (xy.grad[0, 0, 2] == 0).all() and (xy.grad[0, 1, 1] == 0).all()
