"""A tiny MLP classification task on synthetic data, shared by the trainer tests and the DDP worker."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from signprep.training import TrainConfig, build_optimizer, build_scheduler, seed_everything


class NoisyBlobs(Dataset):
    """n samples of 8 features in 3 classes; __getitem__ adds noise from the global torch RNG on purpose,
    so exact resume also covers the data RNG (with num_workers 0)."""

    def __init__(self, n: int = 40):
        g = torch.Generator().manual_seed(123)
        self.labels = torch.arange(n) % 3
        self.x = torch.randn(n, 8, generator=g) + self.labels[:, None].float()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.x[i] + 0.01 * torch.randn(8), self.labels[i]


def make_model() -> nn.Module:
    # dropout makes the loss depend on the torch RNG stream, which resume must restore
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def step_fn(model: nn.Module, batch) -> dict[str, torch.Tensor]:
    x, y = batch
    return {"loss": F.cross_entropy(model(x), y)}


def tiny_config(**overrides) -> TrainConfig:
    base = dict(seed=7, epochs=2, batch_size=8, lr=1e-2, device="cpu", log_every=1, progress=False)
    return TrainConfig(**{**base, **overrides})


def build(config: TrainConfig):
    """Model, optimizer and scheduler, seeded so every call builds the same initial weights."""
    seed_everything(config.seed)
    model = make_model()
    optimizer = build_optimizer(model.parameters(), config)
    return model, optimizer, build_scheduler(optimizer, config)


def read_losses(csv_path) -> dict[int, float]:
    """{step: train/loss} from a metrics.csv written with log_every=1."""
    import csv

    with open(csv_path, newline="") as f:
        return {int(r["step"]): float(r["value"]) for r in csv.DictReader(f) if r["name"] == "train/loss"}
