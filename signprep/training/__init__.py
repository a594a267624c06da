"""Shared training core: configs, checkpoints, the training loop, DDP helpers.

Every `signprep train <model>` builds its model, optimizer and `step_fn`, then
hands them to `Trainer`; this package knows nothing about any one model.
"""

from signprep.training.checkpoint import load_checkpoint, save_checkpoint
from signprep.training.config import SchedulerConfig, TrainConfig, load_train_config
from signprep.training.loop import NonFiniteLoss, Trainer
from signprep.training.optim import build_optimizer, build_scheduler
from signprep.training.seeding import seed_everything

__all__ = [
    "NonFiniteLoss",
    "SchedulerConfig",
    "TrainConfig",
    "Trainer",
    "build_optimizer",
    "build_scheduler",
    "load_checkpoint",
    "load_train_config",
    "save_checkpoint",
    "seed_everything",
]
