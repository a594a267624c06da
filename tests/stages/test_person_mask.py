"""The person mask stage: the mask covers the signer; which source needs the keypoint stage; plan cost and rows."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.configs import ConfigError
from signprep.extraction.pipeline import parse_pipeline
from signprep.extraction.sample import build_stages
from signprep.shards import ShardReader
from signprep.stages.person_mask import PersonMaskConfig
from signprep.stages.person_mask import cost as person_mask_cost
from signprep.stages.person_mask import render_rows as person_mask_rows


def test_the_person_mask_covers_the_signers_head_and_chest(all_stages_run):
    out, _ = all_stages_run
    with ShardReader(out) as reader:
        for sid in reader:
            s = reader[sid]
            mask, kp = s.read("person_mask"), s.read("keypoints")
            fit = s.fit("person_mask_fit")
            shoulders = kp[:, [11, 12], :2].mean(1)
            chest = shoulders + np.array([0, 0.3]) * np.abs(kp[:, 11, :1] - kp[:, 12, :1])
            for name, points in (("nose", kp[:, 0, :2]), ("chest", chest)):
                xy = np.floor(fit.map_points(points)).astype(int)
                values = mask[np.arange(len(mask)), xy[:, 1], xy[:, 0]]
                assert (values > 127).mean() >= 0.95, f"{sid}: mask misses the {name}"
            assert 0.05 < (mask > 127).mean() < 0.7  # a person, not the whole frame
            removed = s.read("background_removed")
            assert (removed[mask == 0] == 0).all()  # constant background 0 where no person


def test_holistic_masks_need_the_keypoint_stage_and_make_it_segment():
    """The person mask's one cross-stage need, declared by its configuration: `_segmentation`."""
    assert PersonMaskConfig().requires() == ("rgb", "_segmentation")
    assert PersonMaskConfig(source="selfie").requires() == ("rgb",)
    with pytest.raises(ConfigError, match="stage 'person_mask' needs the keypoints stage .*or source: selfie"):
        parse_pipeline({"name": "x", "stages": {"keypoints": None, "person_mask": {}}})
    parse_pipeline({"name": "x", "stages": {"keypoints": None, "person_mask": {"source": "selfie"}}})

    keypoints, mask = build_stages(parse_pipeline({"name": "x", "stages": {"person_mask": {}}}))
    assert keypoints.segmentation and "_segmentation" in keypoints.adds and mask.name == "person_mask"
    (alone,) = build_stages(parse_pipeline({"name": "x"}))  # nobody reads it: Holistic does not segment
    assert not alone.segmentation and "_segmentation" not in alone.adds


def test_cost_counts_holistics_segmentation_and_scales_the_bytes():
    holistic = person_mask_cost(PersonMaskConfig())
    assert holistic.label == "person_mask" and holistic.cpu_ms == pytest.approx(12.6 + 3.59)
    assert holistic.stored == (("person_mask", 361.0), ("background_removed", 1464.0))
    selfie = person_mask_cost(PersonMaskConfig(source="selfie", size=(128, 128), frames=False))
    assert selfie.label == "person_mask (selfie)" and selfie.cpu_ms == 11.18
    assert selfie.stored == (("person_mask", pytest.approx(4 * 361.0)),)  # 4x the pixels, no frames


def test_the_contact_sheet_rows_show_the_stored_mask_and_frame(all_stages_run, render_input):
    out, _ = all_stages_run
    with ShardReader(out) as reader:
        sample = reader["90029"]
        rows = person_mask_rows(render_input(sample, [5, 35]))
        assert [label for label, _ in rows] == ["person mask", "background removed"]
        for (_, images), name in zip(rows, ("person_mask", "background_removed")):
            for t, image in zip([5, 35], images):
                np.testing.assert_array_equal(image, sample.read(name)[t])
