"""Atomic checkpoint writes, weights_only loading, RNG state round trip."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from signprep.training import load_checkpoint, save_checkpoint, seed_everything
from signprep.training.seeding import get_rng_state, set_rng_state


def test_round_trip_weights_only(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 5, "rng": [get_rng_state()]}
    path = save_checkpoint(tmp_path / "last.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["step"] == 5
    assert torch.equal(loaded["model"]["weight"], model.weight.detach())
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_failed_write_leaves_old_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - pickling errors differ between Python versions
        save_checkpoint(path, {"step": 2, "bad": lambda: None})  # a lambda cannot be pickled
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_weights_only_refuses_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"obj": random.Random(0)}, path)  # a pickled object, as an unsafe checkpoint would hold
    with pytest.raises(Exception, match="[Ww]eights"):
        load_checkpoint(path)


def test_rng_state_restores_every_stream(tmp_path):
    seed_everything(3)
    save_checkpoint(tmp_path / "rng.pt", {"rng": get_rng_state()})
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), random.gauss(0, 1), np.random.randn())
    seed_everything(99)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    got = (random.random(), np.random.rand(), torch.rand(1).item(), random.gauss(0, 1), np.random.randn())
    assert got == expected
