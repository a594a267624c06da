"""Pipeline configuration: which decode options and stages a run applies.

Pipelines are YAML files (see `pipelines/`), validated here so that a typo or
a wrong type is a clear error naming the file and the key, not a silent
default. The content hash covers everything that changes the stored data
(decode and stages), not storage knobs such as compression or shard size, so
re-packing never invalidates finished samples.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from signprep.configs import PIPELINES, ConfigError, format_validation_error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecodeConfig(_Strict):
    decoder: Literal["decord", "opencv"] = "decord"
    crop_to_bbox: bool = False
    resize_short_side: int | None = Field(default=None, gt=0)
    fps: float | None = Field(default=None, gt=0)


class KeypointsConfig(_Strict):
    model_complexity: int = 1
    refine_face_landmarks: bool = False
    smooth_landmarks: bool = True
    min_detection_confidence: float = Field(default=0.5, ge=0, le=1)
    min_tracking_confidence: float = Field(default=0.5, ge=0, le=1)

    @field_validator("model_complexity")
    @classmethod
    def _shipped_model_only(cls, v: int) -> int:
        # Only 1 (pose_landmark_full) ships inside the mediapipe 0.10.21 wheel; 0 and 2
        # make Holistic download the lite/heavy model at run time, which we never do.
        if v != 1:
            raise ValueError(
                "only 1 runs offline: mediapipe 0.10.21 ships the 'full' pose model only "
                "(0 and 2 would download the lite/heavy model at run time)"
            )
        return v


Size = tuple[int, int]
Fit = Literal["pad", "crop", "stretch"]


class FramesConfig(_Strict):
    size: Size = (112, 112)
    fit: Fit = "pad"


class HeatmapsConfig(_Strict):
    subset: str = "signvtcl79"
    size: Size = (64, 64)
    sigma: float = Field(default=2.0, gt=0)
    dtype: Literal["uint8", "float16"] = "uint8"
    fit: Fit = "pad"
    limbs: bool = False  # also `limb_heatmaps`: one channel per skeleton edge within the subset


class FlowConfig(_Strict):
    method: Literal["dis", "farneback", "raft"] = "dis"
    preset: Literal["ultrafast", "fast", "medium"] = "fast"
    size: Size = (112, 112)
    fit: Fit = "pad"
    dtype: Literal["uint8", "float16"] = "uint8"
    bound: float = Field(default=20.0, gt=0)
    rgb_images: bool = False
    raft_weights: str | None = None


class PersonMaskConfig(_Strict):
    source: Literal["holistic", "selfie"] = "holistic"
    size: Size = (64, 64)
    fit: Fit = "pad"
    background: Literal["constant", "blur"] = "constant"
    background_value: int = Field(default=0, ge=0, le=255)
    frames: bool = True


class HandCropsConfig(_Strict):
    size: int = Field(default=64, gt=0)
    margin: float = Field(default=0.25, ge=0)
    fallback: bool = True
    min_pose_confidence: float = Field(default=0.5, ge=0, le=1)


class StagesConfig(_Strict):
    """Stages run in this order on every frame; a null or absent stage is skipped."""

    keypoints: KeypointsConfig | None = KeypointsConfig()
    frames: FramesConfig | None = None
    heatmaps: HeatmapsConfig | None = None
    flow: FlowConfig | None = None
    person_mask: PersonMaskConfig | None = None
    hand_crops: HandCropsConfig | None = None

    @model_validator(mode="after")
    def _needs_keypoints(self) -> StagesConfig:
        if self.keypoints is None:
            for name in ("heatmaps", "hand_crops"):
                if getattr(self, name) is not None:
                    raise ValueError(f"stage {name!r} needs the keypoints stage")
            if self.person_mask is not None and self.person_mask.source == "holistic":
                raise ValueError("person_mask with source 'holistic' needs the keypoints stage (or source: selfie)")
        return self


class StorageConfig(_Strict):
    # gzip level 4 with shuffle: chosen by measurement (docs/shards.md)
    compression: Literal["gzip", "lzf", "none"] = "gzip"
    compression_level: int = Field(default=4, ge=0, le=9)
    chunk_frames: int = Field(default=64, gt=0)
    max_shard_mb: float = Field(default=256, gt=0)


class PipelineConfig(_Strict):
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
