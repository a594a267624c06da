"""Pipeline configuration: which decode options and stages a run applies.

Pipelines are YAML files (see `pipelines/`), validated here so that a typo or
a wrong type is a clear error naming the file and the key, not a silent
default. The content hash covers everything that changes the stored data
(decode and stages), not storage knobs such as compression or shard size, so
re-packing never invalidates finished samples.

Each key under `stages:` holds that stage's own configuration model, defined
with the stage (signprep/stages/<stage>.py); the section itself is derived
from the stage list `signprep.stages.STAGES`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, create_model, model_validator

from signprep.config_models import StrictConfig
from signprep.configs import PIPELINES, ConfigError, format_validation_error
from signprep.stages import STAGES, enabled_stages
from signprep.stages.contract import DECODER_ENTRIES


class DecodeConfig(StrictConfig):
    decoder: Literal["decord", "opencv"] = "decord"
    crop_to_bbox: bool = False
    resize_short_side: int | None = Field(default=None, gt=0)
    fps: float | None = Field(default=None, gt=0)


class _StagesSection(StrictConfig):
    """What `StagesConfig` adds to the stages' own keys: every entry a stage reads is added
    by the decoder or by an earlier stage."""

    @model_validator(mode="after")
    def _inputs_are_made_earlier(self) -> _StagesSection:
        available = set(DECODER_ENTRIES)
        for spec, config in enabled_stages(self):
            for entry in config.requires():
                if entry not in available:
                    makers = [s.name for s in STAGES if entry in s.adds]
                    hint = f" ({config.requirement_hint})" if config.requirement_hint else ""
                    maker = f"the {makers[0]} stage" if makers else f"a stage that adds {entry!r}"
                    raise ValueError(f"stage {spec.name!r} needs {maker}{hint}")
            available.update(spec.adds)
        return self


# The `stages:` section: one optional key per stage of STAGES, in run order, holding the stage's
# own configuration model (the keypoint stage on by default, every other off).
StagesConfig = create_model(
    "StagesConfig",
    __base__=_StagesSection,
    __doc__="Stages run in this order on every frame; a null or absent stage is skipped.",
    **{spec.name: (spec.config_type | None, spec.config_type() if spec.on_by_default else None) for spec in STAGES},
)


class StorageConfig(StrictConfig):
    # gzip level 1 with shuffle, one frame per chunk for image frames: chosen by measurement for
    # training reads (docs/shards.md, "Compression"): readable by any HDF5 library; against gzip 4
    # in 64-frame chunks, stored heatmap clips read 7.5x faster, frames 2.4x and flow 2.8x, for 3%
    # more bytes on keypoints and frames, 20% on heatmaps, 40% on flow
    compression: Literal["gzip", "lzf", "none"] = "gzip"
    compression_level: int = Field(default=1, ge=0, le=9)
    chunk_frames: int = Field(default=64, gt=0)
    # most KiB of raw data per chunk: frames that pass it get fewer frames per chunk
    chunk_kib: float = Field(default=1024, gt=0)
    # frames of more KiB than this (image modalities; keypoints are 6.5 KB a frame) get one frame per
    # chunk, so a clip decompresses its own frames only; null: chunk them like the rest
    one_frame_chunks_above_kib: float | None = Field(default=8, gt=0)
    max_shard_mb: float = Field(default=256, gt=0)


class PipelineConfig(StrictConfig):
    name: str
    description: str = ""
    decode: DecodeConfig = DecodeConfig()
    stages: StagesConfig = StagesConfig()
    storage: StorageConfig = StorageConfig()

    def content_hash(self) -> str:
        """sha256 (16 hex) of what determines the stored sample data."""
        # exclude_none: adding an optional stage to the schema leaves existing hashes alone
        content = self.model_dump(include={"decode", "stages"}, exclude_none=True)
        blob = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), sort_keys=True)


def parse_pipeline(data: object, source: str = "<config>") -> PipelineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"invalid pipeline configuration {source}: expected a mapping at the top level")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error("pipeline", source, e)) from None


def shipped_pipelines() -> list[str]:
    return PIPELINES.names()


def load_pipeline(name_or_path: str | Path) -> PipelineConfig:
    """Load a pipeline by file path, or by the name of a shipped one (`keypoints`)."""
    path = PIPELINES.find(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"pipeline {path} is not valid YAML: {e}") from None
    return parse_pipeline(data, str(path))
