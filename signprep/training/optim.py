"""Optimizer and schedule from a `TrainConfig` (docs/methods.md: Adam + cosine annealing)."""

from __future__ import annotations

import torch

from signprep.training.config import TrainConfig

__all__ = ["build_optimizer", "build_scheduler"]


def build_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam with the config's lr, (L2) weight decay and betas."""
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: cosine annealing over `t_max` epochs (default: all epochs), or constant."""
    s = config.scheduler
    if s.name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _epoch: 1.0)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s.t_max or config.epochs, eta_min=s.eta_min)
