"""Low-shot evaluation on a hand-made embedding: which queries the prototypes classify right,
the confusion matrix, per-sample scores and the flat metrics with their chance levels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signprep.evaluation.lowshot import evaluate_lowshot, lowshot_metrics


def _unit(*angles_deg: float) -> torch.Tensor:
    a = torch.tensor(angles_deg) * torch.pi / 180
    return torch.stack([torch.cos(a), torch.sin(a)], dim=1)


def test_lowshot_on_a_toy_embedding():
    # prototypes (pool): class 0 at 0 deg, class 1 at 90 deg, class 2 at 180 deg (one each)
    # queries: two of class 0 near 0 deg; class 1 at 80 deg and one misplaced at 10 deg
    emb = _unit(0, 90, 180, 5, -5, 80, 10)
    labels = torch.tensor([0, 1, 2, 0, 0, 1, 1])
    pool = np.array([True, True, True, False, False, False, False])
    queries = ~pool
    r = evaluate_lowshot(emb, labels, pool, queries, alpha=2.0, beta=0.0, per_class=1,
                         sample_ids=["p0", "p1", "p2", "s1", "s1", "s2", "s3"])  # fmt: skip
    # class 2 has no query, so only classes 0 and 1 count
    assert r["classes"] == [0, 1] and r["queries"] == 4 and r["prototypes"] == 2 and r["chance_top1"] == 0.5
    assert r["top1"] == 0.75 and r["top2"] == 1.0
    assert r["top1_per_class"] == pytest.approx((1.0 + 0.5) / 2)
    assert r["confusion"] == [[2, 0], [1, 1]]  # rows true: the 10-degree query of class 1 went to class 0
    assert r["samples"] == 3 and r["sample_top1"] == pytest.approx(2 / 3)  # s1 (both right), s2 right, s3 wrong

    m = lowshot_metrics(r, "heldout_signer/max")
    assert m["heldout_signer/max/top1"] == 0.75 and m["heldout_signer/max/chance_top1"] == 0.5
    assert m["heldout_signer/max/chance_top2"] == 1.0 and m["heldout_signer/max/classes"] == 2.0
    assert all(isinstance(v, float) for v in m.values())
    assert lowshot_metrics({}, "x") == {}


def test_fewer_than_two_classes_give_no_result():
    emb, labels = _unit(0, 5), torch.tensor([0, 0])
    assert evaluate_lowshot(emb, labels, np.array([True, False]), np.array([False, True]), 2.0, 0.0) == {}
