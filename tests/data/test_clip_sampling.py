"""signprep.data.clips: which stored frames a clip takes."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.data.clips import MIN_CLIP_FRAMES, sample_clip_indices


def test_uniform_covers_the_whole_video_evenly():
    idx = sample_clip_indices(100, 25)
    assert idx.shape == (25,) and idx.dtype == np.int64
    assert idx[0] <= 2 and idx[-1] >= 97  # first and last segment
    steps = np.diff(idx)
    assert steps.min() >= 3 and steps.max() <= 5  # T / clip_len = 4 frames per clip frame
    np.testing.assert_array_equal(sample_clip_indices(64, 32), np.arange(0, 64, 2) + 1)  # segment middles


def test_uniform_equal_length_is_identity():
    np.testing.assert_array_equal(sample_clip_indices(32, 32), np.arange(32))


@pytest.mark.parametrize(
    "pad, expected", [("loop", [0, 1, 2, 3, 4, 0, 1, 2]), ("repeat_last", [0, 1, 2, 3, 4, 4, 4, 4])]
)
def test_short_video_is_looped_or_padded(pad, expected):
    np.testing.assert_array_equal(sample_clip_indices(5, 8, pad=pad), expected)


def test_short_video_reaches_dsft_minimum():
    idx = sample_clip_indices(9, MIN_CLIP_FRAMES)
    assert len(idx) == 25 and idx.min() >= 0 and idx.max() <= 8


def test_speed_half_covers_half_the_span_centred():
    idx = sample_clip_indices(100, 25, speed=0.5)
    span = idx[-1] - idx[0] + 1
    assert 48 <= span <= 52
    assert abs((idx[0] + idx[-1]) / 2 - 49.5) <= 2  # centred


def test_speed_above_one_runs_past_the_end_and_pads():
    idx = sample_clip_indices(40, 40, speed=1.5, pad="repeat_last")
    assert (idx == 39).sum() > 1 and np.all(np.diff(idx) >= 0)
    looped = sample_clip_indices(40, 40, speed=1.5, pad="loop")
    assert looped.max() < 40 and (np.diff(looped) < 0).any()  # wrapped to the start


def test_random_mode_stays_in_range_is_seeded_and_varies():
    rng = np.random.default_rng(0)
    draws = [
        sample_clip_indices(200, 16, "random", rng, pad="repeat_last", speed=s)
        for s in (0.5, 1.0, 1.5)
        for _ in range(20)
    ]
    assert all(d.min() >= 0 and d.max() < 200 and np.all(np.diff(d) >= 0) for d in draws)
    assert len({tuple(d) for d in draws}) > 50
    a = sample_clip_indices(200, 16, "random", np.random.default_rng(3))
    b = sample_clip_indices(200, 16, "random", np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    # each random index stays within its uniform segment of 12.5 frames
    assert np.all(np.abs(a - sample_clip_indices(200, 16)) <= 13)


@pytest.mark.parametrize(
    "kwargs", [{"num_frames": 0}, {"clip_len": 0}, {"speed": 0}, {"mode": "dense"}, {"pad": "zero"}]
)
def test_bad_arguments(kwargs):
    args = {"num_frames": 10, "clip_len": 4, **kwargs}
    with pytest.raises(ValueError):
        sample_clip_indices(**args)
