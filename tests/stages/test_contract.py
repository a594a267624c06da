"""The stage list: its order, and what every stage declares holding together."""

from __future__ import annotations

from signprep.extraction.pipeline import StagesConfig, parse_pipeline
from signprep.extraction.sample import build_stages
from signprep.shards import ShardReader
from signprep.stages import STAGES
from signprep.stages.contract import DECODER_ENTRIES, Measured
from signprep.stages.keypoints import KeypointsConfig


def test_stages_run_in_this_order_and_name_the_pipeline_keys():
    names = ["keypoints", "frames", "heatmaps", "flow", "person_mask", "hand_crops"]
    assert [spec.name for spec in STAGES] == names
    assert list(StagesConfig.model_fields) == names
    assert StagesConfig().keypoints == KeypointsConfig()  # on by default, at its defaults
    assert [spec.name for spec in STAGES if getattr(StagesConfig(), spec.name) is None] == names[1:]


def test_every_entry_a_stage_reads_is_added_earlier():
    available = set(DECODER_ENTRIES)
    for spec in STAGES:
        assert set(spec.config_type().requires()) <= available, spec.name
        available |= set(spec.adds)


def test_each_stage_is_built_from_its_configuration_under_its_name(all_stages_config):
    pipeline = parse_pipeline({"name": "all", "stages": all_stages_config})
    stages = build_stages(pipeline)
    assert [stage.name for stage in stages] == [spec.name for spec in STAGES]
    for stage, spec in zip(stages, STAGES):
        assert set(stage.adds) <= set(spec.adds), spec.name
    frames, flow = stages[1], stages[3]
    assert frames.size == (96, 96) and flow.size == (96, 96) and flow.adds == ("flow", "flow_rgb")


def test_measured_figures_scale_by_the_pixel_ratio():
    measured = Measured(1.0, 100.0, (64, 32))
    assert measured.pixel_ratio((128, 32)) == 2.0 and measured.pixel_ratio(32) == 0.5


def test_a_sample_without_a_stages_datasets_gets_no_row_of_it(reference_run, render_input):
    out, _, _ = reference_run  # the keypoints pipeline
    with ShardReader(out) as reader:
        view = render_input(reader["90029"], [0, 1])
        rows = {spec.name: spec.render_rows(view) for spec in STAGES}
    assert [label for label, _ in rows.pop("keypoints")] == ["frame + keypoints"]
    assert rows == dict.fromkeys(rows, [])
