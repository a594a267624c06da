"""Siamese embedding (thesis Figs. 3.11, 3.19, Eqs. 3.19-3.22): dual-path layer, unit norm, pair loss."""

from __future__ import annotations

import math

import pytest
import torch

from signprep.models.siamese import DualPathLayer, EmbeddingHead, pair_logits, siamese_pair_loss


def test_dual_path_layer_shapes_and_identity_part():
    torch.manual_seed(0)
    layer = DualPathLayer(12, 5).eval()
    x = torch.randn(7, 12)
    out = layer(x)
    assert out.shape == (7, 17)
    y = layer.project(layer.act(layer.bn(layer.expand(x))))
    assert y.shape == (7, 17)
    assert torch.allclose(out[:, :12], x + y[:, :12]) and torch.allclose(out[:, 12:], y[:, 12:])
    with torch.no_grad():  # without the FC path the layer passes x through and appends zeros
        layer.project.weight.zero_()
        layer.project.bias.zero_()
    out = layer(x)
    assert torch.equal(out[:, :12], x) and torch.equal(out[:, 12:], torch.zeros(7, 5))


def test_head_channels_and_unit_norm():
    head = EmbeddingHead(128, 10, num_layers=8, growth=16)
    assert head.out.in_features == 256  # Fig. 3.19: 128 -> 256 over 8 dual-path layers
    emb = head(torch.randn(9, 128) * 50)
    assert emb.shape == (9, 10)
    assert torch.allclose(emb.norm(dim=1), torch.ones(9), atol=1e-5)


def test_pair_loss_against_direct_computation():
    torch.manual_seed(1)
    emb = torch.nn.functional.normalize(torch.randn(6, 4), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    alpha, beta = torch.tensor(1.7, requires_grad=True), torch.tensor(-0.4, requires_grad=True)
    pos = 2.0
    out = siamese_pair_loss(emb, labels, alpha, beta, pos_weight=pos, beta_weight=0.25)
    terms = []
    for i in range(6):
        for j in range(6):
            if i == j:
                continue
            p = 1 / (1 + math.exp(-(beta.item() + alpha.item() ** 2 * float(emb[i] @ emb[j]))))
            same = float(labels[i] == labels[j])
            terms.append(-(pos * same * math.log(p) + (1 - same) * math.log(1 - p)))
    expected = sum(terms) / len(terms) + 0.25 * abs(beta.item())
    assert out["loss"].item() == pytest.approx(expected, rel=1e-5)
    assert out["beta_penalty"].item() == pytest.approx(0.1)
    out["loss"].backward()
    assert alpha.grad is not None and beta.grad is not None and alpha.grad != 0
    assert pair_logits(emb, emb, alpha, beta).shape == (6, 6)


def test_loss_rejects_a_single_item():
    with pytest.raises(ValueError, match="at least 2"):
        siamese_pair_loss(torch.ones(1, 3), torch.zeros(1), torch.tensor(1.0), torch.tensor(0.0), 1.0)
