"""Language-aware label smoothing (NLA-SLR) and the DSFT loss against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from signprep.models.dsft_losses import label_smoothed_cross_entropy, language_aware_targets


def test_soft_targets_by_hand():
    # three glosses: 0 and 1 similar (cos 0.8), 2 orthogonal to both
    text = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 2.0]])
    y = language_aware_targets(text, eps=0.2, tau=0.5)
    assert torch.allclose(y.sum(1), torch.ones(3)) and torch.allclose(y.diagonal(), torch.full((3,), 0.8))
    # row 0: the off-diagonal mass 0.2 split as softmax(0.8 / 0.5, 0 / 0.5) over classes 1, 2
    w1, w2 = math.exp(1.6), math.exp(0.0)
    assert y[0, 1].item() == pytest.approx(0.2 * w1 / (w1 + w2)) and y[0, 2].item() == pytest.approx(
        0.2 * w2 / (w1 + w2)
    )
    # row 2: both others at cos 0, an even split
    assert y[2, 0].item() == pytest.approx(0.1) and y[2, 1].item() == pytest.approx(0.1)
    assert torch.equal(language_aware_targets(text[:1], 0.2, 0.5), torch.ones(1, 1))  # one class: nothing to smooth


def test_loss_is_cross_entropy_against_the_soft_rows():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 2])
    assert label_smoothed_cross_entropy(logits, labels).item() == pytest.approx(F.cross_entropy(logits, labels).item())
    soft = torch.tensor([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    logp = F.log_softmax(logits, dim=1)
    by_hand = -((soft[0] * logp[0]).sum() + (soft[2] * logp[1]).sum()) / 2
    assert label_smoothed_cross_entropy(logits, labels, soft).item() == pytest.approx(by_hand.item())
