"""Smoke test of experiments/dsft_synthetic.py: a tiny configuration trains with and without DSFT."""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "dsft_synthetic.py"


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location("dsft_synthetic", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    # tiny matrices: extra intra-op threads only contend (30x slower on a loaded 2-core box)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield module
    torch.set_num_threads(threads)


def test_tiny_experiment_trains_both_variants(experiment):
    cfg = replace(
        experiment.Config(),
        num_classes=4,
        n_train=192,
        n_test=128,
        batch_size=32,
        epochs=5,
        lr=1e-2,
        bank_size=64,
        ranks=(8,),
        seeds=(0,),
        n_val=128,
    )
    results = experiment.run_experiment(cfg, log=lambda *_: None)
    assert set(results) == {"no-dsft", "dsft r=8"}
    chance = 1.0 / cfg.num_classes
    for per_seed in results.values():
        res = per_seed[0]
        assert len(res.losses) == cfg.epochs
        assert all(math.isfinite(x) for x in res.losses)
        assert set(res.acc) == set(res.val_acc) == {"source", "target1(30deg)", "target2(60deg)"}
        assert res.acc["source"] > chance + 0.3 and res.val_acc["source"] > chance + 0.3  # 4 separable blobs
    summary = experiment.summarize(cfg, results)
    assert "chose dsft r=8 on val (128 samples per domain), test on test (128 per domain)" in summary
    assert "VERDICT" in summary


def test_predictions_use_the_trained_banks_only(experiment):
    """Inductive evaluation: a sample's logits do not depend on the other samples evaluated with it."""
    cfg = replace(experiment.Config(), n_train=128, n_val=64, n_test=64, batch_size=32, epochs=1, bank_size=64)
    domains = experiment.make_domains(cfg, seed=0)
    torch.manual_seed(0)
    model = experiment.Classifier(cfg, rank=4, enabled=True)
    with torch.no_grad():
        model(domains[0].x_train[:32], [d.x_train[:32] for d in domains[1:]])  # fills the banks
        model(domains[0].x_train[32:64], [d.x_train[32:64] for d in domains[1:]])
    model.eval()
    x = domains[1].x_test
    torch.testing.assert_close(model.predict(x)[:5], model.predict(x[:5]), atol=1e-5, rtol=1e-5)


def test_cli_parses_options(experiment):
    cfg = experiment.parse_args(["--seeds", "3", "4", "--epochs", "2", "--rank", "4", "16"])
    assert cfg.seeds == (3, 4) and cfg.epochs == 2 and cfg.ranks == (4, 16)
