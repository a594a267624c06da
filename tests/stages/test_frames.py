"""The frames stage: stored frames are the decoded ones through the configured fit; its plan cost and row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signprep.kernels.frame_fit import FrameFit
from signprep.shards import ShardReader
from signprep.stages.frames import FRAMES_COST, FramesConfig, TrainingFrames
from signprep.stages.frames import cost as frames_cost
from signprep.stages.frames import render_rows as frames_rows
from signprep.video.decode import SampleFrames


def test_frames_are_the_decoded_frames_through_the_configured_fit(records):
    sample = SampleFrames(records["90012"].video_path)  # 640x360
    _, frames = next(sample.attempts())
    rgbs = [f.rgb for _, f in zip(range(3), frames)]
    stage = TrainingFrames(FramesConfig(size=(48, 64), fit="crop"))
    stage.open(sample.info)
    out = [stage.process({"rgb": rgb})["frames"] for rgb in rgbs]
    fit = FrameFit(360, 640, 48, 64, mode="crop")
    for rgb, stored in zip(rgbs, out):
        assert stored.shape == (48, 64, 3) and stored.dtype == np.uint8
        np.testing.assert_array_equal(stored, fit.apply(rgb))
    # the whole map since fit: person (docs/shards.md): crop scales 640x360 by max(64/640, 48/360)
    s = 48 / 360
    stored_fit = json.loads(stage.attrs()["frames_fit"])
    assert stored_fit == {"mode": "crop", "size": [48, 64], "scale": [s, s], "offset": [(64 - 640 * s) / 2, 0.0]}
    assert FrameFit.from_attr(stored_fit, 360, 640) == fit
    assert FramesConfig() == FramesConfig(size=(112, 112), fit="pad")


def test_cost_scales_with_the_pixels():
    measured = frames_cost(FramesConfig())
    assert (measured.label, measured.cpu_ms, measured.stored) == ("frames", 2.69, (("frames", 10774.0),))
    double = frames_cost(FramesConfig(size=(224, 224)))  # 4x the measured 112x112
    assert double.cpu_ms == pytest.approx(4 * FRAMES_COST.cpu_ms)
    assert double.stored == (("frames", pytest.approx(4 * 10774.0)),)


def test_the_contact_sheet_row_shows_the_stored_frames(all_stages_run, render_input):
    out, _ = all_stages_run
    with ShardReader(out) as reader:
        sample = reader["90029"]
        ((label, images),) = frames_rows(render_input(sample, [3, 30]))
        assert label == "training frame"
        for t, image in zip([3, 30], images):
            np.testing.assert_array_equal(image, sample.read("frames")[t])
