"""Optimizers and per-epoch schedules from a config.

- `build_optimizer` / `build_scheduler`: Adam + cosine annealing or constant, from the shared
  `TrainConfig` keys (docs/methods.md).
- `SGDRConfig` / `build_sgd_warm_restarts`: SGD with Nesterov momentum (or AdamW) on cosine
  warm restarts (thesis 3.1.2), the schedule of both hand models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import Field, model_validator

from signprep.training.config import TrainConfig

__all__ = ["SGDRConfig", "build_optimizer", "build_scheduler", "build_sgd_warm_restarts", "warm_restart_factor"]


def build_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam with the config's lr, (L2) weight decay and betas."""
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: cosine annealing over `t_max` epochs (default: all epochs), or constant."""
    s = config.scheduler
    if s.name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _epoch: 1.0)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s.t_max or config.epochs, eta_min=s.eta_min)


class SGDRConfig(TrainConfig):
    """SGD with Nesterov momentum and cosine warm restarts (thesis 3.1.2), for both hand models.

    Replaces the shared Adam keys: `betas` and `scheduler` do not apply and are refused.
    """

    optimizer: Literal["sgd", "adamw"] = "sgd"  # sgd: the thesis's, with Nesterov momentum
    lr: float = Field(default=0.1, gt=0)  # eta_+ of each cycle
    lr_min: float = Field(default=1e-4, ge=0)  # eta_- at the end of each cycle
    restarts: tuple[int, ...] = (5, 10)  # epochs at which the lr jumps back to `lr`
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(default=1e-4, ge=0)  # decoupled (AdamW) with optimizer adamw

    @model_validator(mode="after")
    def _sgd_keys_only(self) -> SGDRConfig:
        for key in ("betas", "scheduler"):
            if key in self.model_fields_set and getattr(self, key) != type(self).model_fields[key].default:
                raise ValueError(f"`{key}` does not apply: this model trains with warm restarts (optimizer, lr, "
                                 "lr_min, restarts, momentum, nesterov)")  # fmt: skip
        if list(self.restarts) != sorted(set(self.restarts)) or any(r <= 0 for r in self.restarts):
            raise ValueError(f"restarts must be increasing positive epochs, got {list(self.restarts)}")
        return self


def warm_restart_factor(epoch: int, epochs: int, restarts: Sequence[int], lr: float, lr_min: float) -> float:
    """lr(epoch) / lr: a half cosine from lr to lr_min within each cycle [restart_k, restart_k+1)."""
    bounds = [0, *[r for r in restarts if r < epochs], epochs]
    for start, end in zip(bounds, bounds[1:]):
        if start <= epoch < end:
            t = (epoch - start) / (end - start)
            return (lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * t))) / lr
    return lr_min / lr


def build_sgd_warm_restarts(params, config: SGDRConfig):
    """(optimizer, per-epoch LambdaLR with warm restarts) for `config`: SGD with Nesterov momentum
    (the thesis's), or AdamW with the same schedule."""
    if config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
        )
    factor = lambda e: warm_restart_factor(e, config.epochs, config.restarts, config.lr, config.lr_min)  # noqa: E731
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
