"""Shared training core: configs, optimizers and schedules, checkpoints, the training loop, DDP helpers.

Every `signprep train <model>` (`signprep.recipes`) builds its model, optimizer and `step_fn`,
then hands them to `Trainer` and calls `Trainer.run`; this package knows nothing about any one
model. `load_run` reads a run's checkpoint back (config, metadata, weights).
"""

from signprep.training.checkpoint import RunCheckpoint, load_checkpoint, load_run, save_checkpoint
from signprep.training.config import SchedulerConfig, TrainConfig, load_train_config
from signprep.training.loop import NonFiniteLoss, Trainer, epoch_metrics
from signprep.training.optim import SGDRConfig, build_optimizer, build_scheduler, build_sgd_warm_restarts
from signprep.training.seeding import seed_everything

__all__ = [
    "NonFiniteLoss",
    "RunCheckpoint",
    "SGDRConfig",
    "SchedulerConfig",
    "TrainConfig",
    "Trainer",
    "build_optimizer",
    "build_scheduler",
    "build_sgd_warm_restarts",
    "epoch_metrics",
    "load_checkpoint",
    "load_run",
    "load_train_config",
    "save_checkpoint",
    "seed_everything",
]
