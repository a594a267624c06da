"""FrameFit: every image modality and the keypoints land on the same pixels."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.kernels.frame_fit import FrameFit


def _centroid(image: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    w = image.astype(np.float64)
    return np.array([(w * (xs + 0.5)).sum() / w.sum(), (w * (ys + 0.5)).sum() / w.sum()])


@pytest.mark.parametrize("mode", ["pad", "crop", "stretch"])
@pytest.mark.parametrize("out", [(64, 64), (112, 200), (720, 1280)])
def test_warped_image_lands_where_map_points_puts_the_point(mode: str, out: tuple[int, int]):
    image = np.zeros((360, 640), np.uint8)
    image[100:110, 300:310] = 255  # a block centred on (305, 105), continuous coordinates
    fit = FrameFit(360, 640, *out, mode=mode)
    warped = fit.apply(image)
    assert warped.shape == out
    np.testing.assert_allclose(_centroid(warped), fit.map_points(np.array([305.0, 105.0])), atol=0.1)


def test_pad_keeps_the_aspect_and_letterboxes():
    fit = FrameFit(360, 640, 64, 64, mode="pad")
    assert fit.scales == (0.1, 0.1) and fit.offsets == (0.0, 14.0)
    out = fit.apply(np.full((360, 640, 3), 200, np.uint8))
    assert (out[:14] == 0).all() and (out[50:] == 0).all() and (out[15:49] == 200).all()


def test_crop_fills_the_frame_and_stretch_ignores_the_aspect():
    crop = FrameFit(360, 640, 64, 64, mode="crop")
    assert crop.scales[0] == pytest.approx(64 / 360) and crop.offsets[1] == 0
    assert (crop.apply(np.full((360, 640), 9, np.uint8)) == 9).all()
    stretch = FrameFit(360, 640, 64, 64, mode="stretch")
    assert stretch.scales == (0.1, 64 / 360) and stretch.offsets == (0, 0)
