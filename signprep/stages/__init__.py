"""Stages: what runs on each decoded frame of a sample, one module per stage.

`STAGES` is the one list of them, in the order they run on every frame. The
pipeline schema (the keys under `stages:`), the runner's `build_stages`,
`signprep plan` and the contact sheet all iterate it, so adding a stage is its
module (what it declares: signprep/stages/contract.py) and a line here.
"""

from __future__ import annotations

from typing import Any

from signprep.stages import frames, hand_crops, heatmaps, keypoints, optical_flow, person_mask
from signprep.stages.contract import StageConfig, StageSpec

STAGES: tuple[StageSpec, ...] = (
    keypoints.SPEC,
    frames.SPEC,
    heatmaps.SPEC,
    optical_flow.SPEC,
    person_mask.SPEC,
    hand_crops.SPEC,
)


def enabled_stages(section: Any) -> list[tuple[StageSpec, StageConfig]]:
    """(spec, configuration) of each stage a pipeline's `stages` section turns on, in run order."""
    return [(spec, config) for spec in STAGES if (config := getattr(section, spec.name)) is not None]
