"""Low-shot prototype classifier (thesis Eqs. 3.23-3.25) and the unseen-digits check (thesis 3.2)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from signprep.models.prototypes import PrototypeClassifier, choose_prototypes

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "siamese_digits.py"


def _unit(*angles_deg: float) -> torch.Tensor:
    a = torch.tensor(angles_deg) * torch.pi / 180
    return torch.stack([torch.cos(a), torch.sin(a)], dim=1)


def test_max_and_mean_rules_on_a_toy_case():
    # class 0: one prototype right at the query, one far away; class 1: two prototypes fairly close
    protos = _unit(0, 180, 40, -40)
    labels = torch.tensor([0, 0, 1, 1])
    query = _unit(0)
    alpha, beta = 2.0, 0.0
    s_max = PrototypeClassifier(protos, labels, alpha, beta, "max").scores(query)
    s_mean = PrototypeClassifier(protos, labels, alpha, beta, "mean").scores(query)
    p = lambda deg: torch.sigmoid(torch.tensor(alpha**2 * np.cos(np.radians(deg)), dtype=torch.float32))  # noqa: E731
    assert torch.allclose(s_max, torch.stack([p(0), p(40)])[None], atol=1e-6)
    assert torch.allclose(s_mean, torch.stack([(p(0) + p(180)) / 2, p(40)])[None], atol=1e-6)
    assert PrototypeClassifier(protos, labels, alpha, beta, "max").predict(query).tolist() == [0]
    assert PrototypeClassifier(protos, labels, alpha, beta, "mean").predict(query).tolist() == [1]


def test_class_ids_need_not_be_contiguous():
    protos = _unit(0, 90, 180)
    clf = PrototypeClassifier(protos, torch.tensor([7, 3, 11]), 3.0, -1.0)
    assert clf.classes.tolist() == [3, 7, 11]
    assert clf.predict(_unit(85, 5, 175)).tolist() == [3, 7, 11]


def test_choose_prototypes():
    labels = np.array([0] * 30 + [1] * 4 + [2] * 12)
    picks = choose_prototypes(labels, 10, seed=3)
    assert np.bincount(labels[picks]).tolist() == [10, 4, 10]
    assert len(set(picks)) == len(picks)
    assert np.array_equal(picks, choose_prototypes(labels, 10, seed=3))
    with pytest.raises(ValueError, match=">= 1"):
        choose_prototypes(labels, 0)
    with pytest.raises(ValueError, match="prototype rule"):
        PrototypeClassifier(_unit(0), torch.tensor([0]), 1.0, 0.0, "median")


def test_digits_unseen_classes_well_above_chance():
    """experiments/siamese_digits.py, one rotation, one candidate (so no inner run): the thesis's CNN first
    stage trained 3 epochs on the 7 seen digits, a 2-layer head, the 3 unseen digits from S = 10 and 25."""
    spec = importlib.util.spec_from_file_location("siamese_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only contend on a loaded 2-core box
    protocol = module.DigitsProtocol(
        unseen=3, embed_dims=(6,), depths=(2,), head_epochs=(10,), cnn_epochs=3, prototype_draws=2
    )
    try:
        r = module.run_rotation(7, protocol, log=lambda *_: None)
    finally:
        torch.set_num_threads(threads)
    assert r["unseen"] == [7, 8, 9] and r["seen"] == [0, 1, 2, 3, 4, 5, 6]
    assert r["chance_unseen"] == pytest.approx(1 / 3)
    assert r["unseen_max_S10"] > 0.55, r  # chance 0.33
    assert r["first_stage_seen_top1"] > 0.9 and r["seen_top1"] > 0.9, r
