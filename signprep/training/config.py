"""Training configuration shared by every model's YAML file in `models/`.

Model configs subclass `TrainConfig` and add their own keys; unknown keys are
errors (a typo must never become a silent default), and every error names the
file and the key, like pipeline configs (`signprep.extraction.pipeline`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from signprep.configs import ConfigError, format_validation_error

__all__ = ["ConfigError", "SchedulerConfig", "TrainConfig", "load_train_config"]


class SchedulerConfig(BaseModel):
    """Learning-rate schedule, stepped once per epoch (so `t_max` counts epochs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["cosine", "constant"] = "cosine"
    t_max: int | None = Field(default=None, gt=0)  # None: the number of epochs
    eta_min: float = Field(default=0.0, ge=0)


class TrainConfig(BaseModel):
    """Keys every trainer understands; defaults follow docs/methods.md (VKNet on WLASL2000)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    epochs: int = Field(default=100, gt=0)
    batch_size: int = Field(default=10, gt=0)  # per process under DDP
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-3, ge=0)
    betas: tuple[float, float] = (0.9, 0.998)
    scheduler: SchedulerConfig = SchedulerConfig()
    amp: bool = True  # float16 autocast + GradScaler; only ever used on CUDA
    grad_clip: float | None = Field(default=None, gt=0)  # max global L2 norm of the gradients
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_workers: int = Field(default=0, ge=0)
    log_every: int = Field(default=10, gt=0)  # steps
    checkpoint_every: int | None = Field(default=None, gt=0)  # steps; `last.pt` is also written after every epoch
    progress: bool = True  # tqdm bar per epoch (rank 0 only)

    @model_validator(mode="after")
    def _betas_in_range(self) -> TrainConfig:
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")
        return self


C = TypeVar("C", bound=TrainConfig)


def parse_train_config(data: object, cls: type[C] = TrainConfig, source: str = "<config>") -> C:
    """Validate a mapping (e.g. parsed YAML) as `cls`; raises `ConfigError` naming `source` and the keys."""
    if data is None:
        data = {}  # an empty file means "all defaults"
    if not isinstance(data, dict):
        raise ConfigError(f"invalid training configuration {source}: expected a mapping at the top level")
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error("training", source, e)) from None


def load_train_config(path: str | Path, cls: type[C] = TrainConfig) -> C:
    """Read a YAML model config from `path` and validate it as `cls` (a `TrainConfig` subclass)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"training configuration {path} cannot be read: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"training configuration {path} is not valid YAML: {e}") from None
    return parse_train_config(data, cls, str(path))
