"""Pipeline configuration: which decode options and stages a run applies.

Pipelines are YAML files (see `pipelines/`), validated here so that a typo or
a wrong type is a clear error naming the file and the key, not a silent
default. The content hash covers everything that changes the stored data
(decode and stages), not storage knobs such as compression or shard size, so
re-packing never invalidates finished samples.

Each key under `stages:` holds that stage's own configuration model, defined
with the stage (signprep/stages/<stage>.py); the section itself is derived
from the stage list `signprep.stages.STAGES`. `person_box:` configures the box
that image stages with `fit: person` letterbox (signprep/extraction/person_fit.py);
it is filled with its defaults when a stage uses it and absent otherwise.

`source` says where a sample's data comes from: its video (decoded; every
stage runs), or a pose-format `.pose` file of its keypoints (`signprep
import`): the file's keypoints stand for the keypoint stage's outputs, and only
stages that read keypoints alone run on them (`check_pose_source`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, create_model, field_validator, model_validator

from signprep.config_models import StrictConfig
from signprep.configs import PIPELINES, ConfigError, format_validation_error
from signprep.extraction.person_fit import PersonBoxConfig, person_fit_stages
from signprep.shards.codecs import load_plugin
from signprep.stages import STAGES, enabled_stages
from signprep.stages.contract import DECODER_ENTRIES
from signprep.stages.keypoints import KEYPOINT_ENTRIES

Source = Literal["video", "pose"]
# what a frame record holds before any stage runs, by source: a pose file gives the keypoint stage's outputs
SOURCE_ENTRIES: dict[str, tuple[str, ...]] = {"video": DECODER_ENTRIES, "pose": ("index", *KEYPOINT_ENTRIES)}
KEYPOINT_STAGE = "keypoints"  # the stage a pose file stands for


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
    # in 64-frame chunks, stored heatmap clips read 11x faster, frames 2.8x and flow 3.1x, for 3-4%
    # more bytes on keypoints and frames, 20% on heatmaps, 32% on flow
    # lz4 (opt-in, hdf5plugin): image clips read 1.5-2.1x faster than gzip 1 at 1.0-1.8x its bytes,
    # but plain h5py and other HDF5 libraries need its filter plugin to read them
    compression: Literal["gzip", "lzf", "lz4", "none"] = "gzip"
    compression_level: int = Field(default=1, ge=0, le=9)
    chunk_frames: int = Field(default=64, gt=0)
    # most KiB of raw data per chunk: frames that pass it get fewer frames per chunk
    chunk_kib: float = Field(default=1024, gt=0)
    # frames of more KiB than this (image modalities; keypoints are 6.5 KB a frame) get one frame per
    # chunk, so a clip decompresses its own frames only; null: chunk them like the rest
    one_frame_chunks_above_kib: float | None = Field(default=8, gt=0)
    max_shard_mb: float = Field(default=256, gt=0)

    @field_validator("compression")
    @classmethod
    def _codec_installed(cls, codec: str) -> str:
        load_plugin(codec)  # at load time, not at each sample's write: raises with what to install
        return codec


class PipelineConfig(StrictConfig):
    name: str
    description: str = ""
    # "video": a record's video_path is a video; "pose": a pose-format .pose file of its keypoints
    source: Source = "video"
    decode: DecodeConfig = DecodeConfig()
    stages: StagesConfig = StagesConfig()
    person_box: PersonBoxConfig | None = None  # set (to its defaults at least) iff a stage has fit: person
    storage: StorageConfig = StorageConfig()

    @model_validator(mode="before")
    @classmethod
    def _person_box_iff_a_stage_fits_to_it(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        fitted = [name for name, section in _sections(data.get("stages")) if _fit_of(section) == "person"]
        if not fitted and data.get("person_box") is not None:
            raise ValueError("person_box is set but no stage has fit: person (it would change nothing)")
        if fitted and data.get("person_box") is None:
            data = {**data, "person_box": {}}  # its defaults, written out: they are part of the content hash
        return data

    @model_validator(mode="after")
    def _person_fit_needs_keypoints(self) -> PipelineConfig:
        fitted = person_fit_stages(enabled_stages(self.stages))
        if fitted and self.stages.keypoints is None:
            raise ValueError(f"fit: person ({', '.join(fitted)}) needs the keypoints stage: the box is the signer's")
        return self

    def content_hash(self) -> str:
        """sha256 (16 hex) of what determines the stored sample data."""
        # exclude_none: adding an optional stage (or person_box) to the schema leaves existing hashes alone
        content = self.model_dump(include={"decode", "stages", "person_box"}, exclude_none=True)
        if self.source != "video":  # hashes of video pipelines stay what they were before `source`
            content["source"] = self.source
        blob = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        # the dump every shard held before `source` and `person_box` existed, unless they are used
        unused = {"source"} if self.source == "video" else set()
        if self.person_box is None:
            unused.add("person_box")
        return json.dumps(self.model_dump(exclude=unused or None), sort_keys=True)


def _sections(stages: object) -> list[tuple[str, object]]:
    """(name, section) of a `stages:` value before validation: a mapping, or a StagesConfig."""
    if isinstance(stages, dict):
        return list(stages.items())
    if isinstance(stages, StrictConfig):
        return [(name, getattr(stages, name)) for name in type(stages).model_fields]
    return []


def _fit_of(section: object) -> object:
    return section.get("fit") if isinstance(section, dict) else getattr(section, "fit", None)


def parse_pipeline(data: object, source: str = "<config>") -> PipelineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"invalid pipeline configuration {source}: expected a mapping at the top level")
    try:
        pipeline = PipelineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error("pipeline", source, e)) from None
    check_pose_source(pipeline, source)
    return pipeline


def check_pose_source(pipeline: PipelineConfig, where: str = "") -> None:
    """Raise ConfigError, naming the stage or decode key, unless the pipeline can run on .pose files:
    a pose file holds keypoints, not frames, so every stage must read only keypoints (heatmaps) or
    what such a stage adds, and the decode options that change frames do not apply. A no-op for a
    video pipeline."""
    if pipeline.source != "pose":
        return
    name = f"pipeline {pipeline.name!r}" + (f" ({where})" if where and where != "<config>" else "")
    for key in ("crop_to_bbox", "resize_short_side"):
        if getattr(pipeline.decode, key):
            raise ConfigError(
                f"{name}: decode.{key} changes video frames; a pose file's keypoints are stored in its own "
                "pixels (remove the key to import)"
            )
    enabled = enabled_stages(pipeline.stages)
    if not any(spec.name == KEYPOINT_STAGE for spec, _ in enabled):
        raise ConfigError(f"{name}: the {KEYPOINT_STAGE} stage is off; a pose file's keypoints stand for its outputs")
    available = set(SOURCE_ENTRIES["pose"])
    for spec, config in enabled:
        if spec.name == KEYPOINT_STAGE:
            continue
        needs = [entry for entry in config.requires() if entry not in available]
        if needs:
            raise ConfigError(
                f"{name}: stage {spec.name!r} needs {', '.join(map(repr, needs))} from the video, which a .pose "
                "file does not hold; on pose files only stages that read keypoints run (heatmaps). Remove the "
                f"stage, or extract from the videos"
            )
        available.update(spec.adds)


def on_pose_files(pipeline: PipelineConfig) -> PipelineConfig:
    """The same pipeline with `source: pose` (what `signprep import` runs); ConfigError as check_pose_source."""
    pose = pipeline.model_copy(update={"source": "pose"})
    check_pose_source(pose)
    return pose


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
