"""TrainConfig / load_train_config: defaults, subclassing, errors naming the file and key."""

from __future__ import annotations

import pytest

from signprep.extraction.pipeline import ConfigError
from signprep.training import TrainConfig, build_optimizer, build_scheduler, load_train_config


class DemoConfig(TrainConfig):
    hidden: int = 64


def test_defaults_follow_methods(tmp_path):
    cfg = TrainConfig()
    assert (cfg.lr, cfg.weight_decay, cfg.betas) == (1e-3, 1e-3, (0.9, 0.998))
    import torch

    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    sched = build_scheduler(opt, cfg)
    assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR) and sched.T_max == cfg.epochs


def test_model_config_extends(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text("epochs: 3\nhidden: 32\nscheduler: {t_max: 10}\n")
    cfg = load_train_config(path, DemoConfig)
    assert (cfg.epochs, cfg.hidden, cfg.scheduler.t_max) == (3, 32, 10)


@pytest.mark.parametrize(
    "text, key, what",
    [
        ("epochs: 3\nlearning_rate: 0.1\n", "learning_rate", "unknown key"),
        ("scheduler: {tmax: 5}\n", "scheduler.tmax", "unknown key"),
        ("batch_size: 0\n", "batch_size", "greater than 0"),
        ("device: tpu\n", "device", "'auto', 'cpu' or 'cuda'"),
        ("hidden: many\n", "hidden", "valid integer"),
    ],
)
def test_errors_name_file_and_key(tmp_path, text, key, what):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_train_config(path, DemoConfig)
    msg = str(e.value)
    assert str(path) in msg and f"{key}:" in msg and what in msg


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_train_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_train_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_train_config(bad)
