"""Optimizers and schedules: the warm-restart schedule of the hand models and its optimizer choice
(the Adam + cosine defaults: tests/training/test_train_config.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from signprep.training.optim import SGDRConfig, build_sgd_warm_restarts, warm_restart_factor


def test_warm_restarts():
    f = [warm_restart_factor(e, 20, (5, 10), 0.1, 1e-4) for e in range(20)]
    assert f[0] == f[5] == f[10] == 1.0  # restarts
    assert all(a > b for a, b in zip(f[:4], f[1:5])) and all(a > b for a, b in zip(f[10:19], f[11:20]))
    assert f[4] < 0.2 and f[19] < 0.03 and min(f) >= 1e-4 / 0.1  # stepped per epoch: the last is 1 - 1/len


def test_optimizer_choice_keeps_the_warm_restart_schedule():
    net = nn.Linear(2, 2)
    cfg = SGDRConfig(optimizer="adamw", lr=1e-3, lr_min=1e-6, weight_decay=0.01, epochs=4, restarts=[2])
    optimizer, scheduler = build_sgd_warm_restarts(net.parameters(), cfg)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["weight_decay"] == 0.01
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == lrs[2] == pytest.approx(1e-3) and lrs[1] < lrs[0] and lrs[3] < lrs[2]
    sgd, _ = build_sgd_warm_restarts(net.parameters(), SGDRConfig())
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["nesterov"]


def test_sgdr_config_refuses_the_adam_keys_and_unordered_restarts():
    with pytest.raises(ValueError, match="`betas` does not apply"):
        SGDRConfig(betas=(0.5, 0.5))
    with pytest.raises(ValueError, match="restarts must be increasing"):
        SGDRConfig(restarts=(10, 5))
