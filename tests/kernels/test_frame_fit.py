"""FrameFit: every image modality and the keypoints land on the same pixels."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize("out", [(64, 64), (112, 112), (48, 64)])
def test_person_fit_letterboxes_its_box_and_the_image_lands_where_the_points_go(out: tuple[int, int]):
    box = (200.0, 40.0, 440.0, 280.0)  # a 240 px square in a 640x360 frame
    fit = FrameFit(360, 640, *out, mode="person", box=box)
    s = min(out[1] / 240, out[0] / 240)
    assert fit.scales == (s, s)
    # the box's corners go to the letterboxed square: top-left at the padding, bottom-right at the far side
    corners = fit.map_points(np.array([[200.0, 40.0], [440.0, 280.0]]))
    pad_x, pad_y = (out[1] - 240 * s) / 2, (out[0] - 240 * s) / 2
    np.testing.assert_allclose(corners, [[pad_x, pad_y], [out[1] - pad_x, out[0] - pad_y]], atol=1e-4)
    image = np.zeros((360, 640), np.uint8)
    image[150:160, 300:310] = 255  # centred on (305, 155)
    warped = fit.apply(image)
    assert warped.shape == out
    np.testing.assert_allclose(_centroid(warped), fit.map_points(np.array([305.0, 155.0])), atol=0.1)


def test_person_fit_needs_a_box_inside_the_frame_and_only_it_takes_one():
    with pytest.raises(ValueError, match="person"):
        FrameFit(360, 640, 64, 64, mode="person")
    with pytest.raises(ValueError, match="leaves the 640x360 frame"):
        FrameFit(360, 640, 64, 64, mode="person", box=(-1.0, 0.0, 100.0, 100.0))
    with pytest.raises(ValueError):
        FrameFit(360, 640, 64, 64, mode="pad", box=(0.0, 0.0, 100.0, 100.0))


def test_fits_round_trip_through_their_attribute():
    for fit in (
        FrameFit(360, 640, 64, 64, "pad"),
        FrameFit(360, 640, 112, 112, "person", box=(10.0, 5.0, 300.0, 295.0)),
    ):
        attr = json.loads(json.dumps(fit.to_attr()))
        assert FrameFit.from_attr(attr, 360, 640) == fit
    assert "box" not in FrameFit(360, 640, 64, 64, "pad").to_attr()
