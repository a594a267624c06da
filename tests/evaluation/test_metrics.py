"""signprep.evaluation.metrics against direct loops and hand-made cases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from signprep.evaluation.metrics import confusion_matrix, per_class_topk_accuracy, retrieval_topk, topk_accuracy


def _ranked(row: torch.Tensor) -> list[int]:
    return sorted(range(len(row)), key=lambda j: -float(row[j]))


def _direct_topk(scores, labels, k):
    return sum(int(labels[i]) in _ranked(scores[i])[:k] for i in range(len(labels))) / len(labels)


def _direct_per_class(scores, labels, k):
    accs = []
    for c in sorted(set(labels.tolist())):
        idx = [i for i in range(len(labels)) if int(labels[i]) == c]
        accs.append(sum(int(labels[i]) in _ranked(scores[i])[:k] for i in idx) / len(idx))
    return sum(accs) / len(accs)


def test_topk_hand_made():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = torch.tensor([1, 1, 0, 2])
    # ranks of the true class: 1, 2, 3, 3
    assert topk_accuracy(scores, labels, ks=(1, 2, 3, 10)) == {1: 0.25, 2: 0.5, 3: 1.0, 10: 1.0}
    # class 1: ranks 1, 2 -> top1 0.5; class 0: rank 3 -> 0; class 2: rank 3 -> 0
    per_class = per_class_topk_accuracy(scores, labels, ks=(1, 2))
    assert per_class[1] == pytest.approx(0.5 / 3)
    assert per_class[2] == pytest.approx(1.0 / 3)


@pytest.mark.parametrize("seed", range(5))
def test_topk_matches_direct_loops(seed):
    g = torch.Generator().manual_seed(seed)
    n, c = 50, 12
    scores = torch.randn(n, c, generator=g)
    labels = torch.randint(0, c - 2, (n,), generator=g)  # some classes absent: they must not count
    inst = topk_accuracy(scores, labels)
    cls = per_class_topk_accuracy(scores, labels)
    for k in (1, 5, 10):
        assert inst[k] == pytest.approx(_direct_topk(scores, labels, k))
        assert cls[k] == pytest.approx(_direct_per_class(scores, labels, k))


def test_confusion_matrix():
    pred = torch.tensor([0, 1, 1, 2, 2, 2])
    labels = torch.tensor([0, 1, 2, 2, 2, 0])
    expected = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 1, 2]])
    assert torch.equal(confusion_matrix(pred, labels, 3), expected)
    g = torch.Generator().manual_seed(0)
    p, t = torch.randint(0, 5, (100,), generator=g), torch.randint(0, 5, (100,), generator=g)
    direct = torch.zeros(5, 5, dtype=torch.int64)
    for a, b in zip(t.tolist(), p.tolist()):
        direct[a, b] += 1
    assert torch.equal(confusion_matrix(p, t, 5), direct)
    with pytest.raises(ValueError, match="class indices"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)


def test_retrieval_hand_made():
    query = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    gallery = torch.tensor([[0.0, 1.0], [3.0, 0.1], [1.0, 1.0]])  # cosine picks direction, not length
    out = retrieval_topk(query, gallery, torch.tensor([5, 5]), torch.tensor([9, 5, 7]), ks=(1, 2, 3))
    # query 0 ranks gallery 1 (label 5) first: hit at 1; query 1 ranks 0 (9), 2 (7), 1 (5): hit at 3
    assert out == {1: 0.5, 2: 0.5, 3: 1.0}


@pytest.mark.parametrize("seed", range(3))
def test_retrieval_matches_direct_loops(seed):
    g = torch.Generator().manual_seed(seed)
    q, gal = torch.randn(30, 6, generator=g), torch.randn(20, 6, generator=g)
    ql, gl = torch.randint(0, 10, (30,), generator=g), torch.arange(20) % 10
    out = retrieval_topk(q, gal, ql, gl)
    for k in (1, 5, 10):
        hits = 0
        for i in range(30):
            sims = [float(F.cosine_similarity(q[i], gal[j], dim=0)) for j in range(20)]
            order = sorted(range(20), key=lambda j: -sims[j])
            hits += any(int(gl[j]) == int(ql[i]) for j in order[:k])
        assert out[k] == pytest.approx(hits / 30)
