"""Hand-pose network (thesis Fig. 3.1): shapes, initialisation, heatmap targets/losses/decoding,
loading its weights (the schedule: tests/training/test_optim.py; augmentation: tests/data/test_crop_augment.py)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from signprep.models.handpose import (
    HandPoseNet,
    InvertedResidual,
    decode_heatmaps,
    heatmap_bce_loss,
    heatmap_loss,
    heatmap_targets,
)


def test_shapes_and_bottleneck():
    net = HandPoseNet(expand=2).eval()
    x = torch.randn(2, 3, 64, 64)
    assert net.features(x).shape == (2, 128, 4, 4)
    assert net.pooled_features(x).shape == (2, 128)
    assert net(x).shape == (2, 21, 64, 64)
    strides = [m.body[3].stride[0] for m in net.modules() if isinstance(m, InvertedResidual)]
    assert len(strides) == 13 and strides.count(2) == 3  # stem 64 -> 32, then 16, 8, 4 as in Fig. 3.1


def test_initialisation_xavier_and_zeroed_residual_bn():
    net = HandPoseNet(expand=2)
    blocks = [m for m in net.modules() if isinstance(m, InvertedResidual)]
    residual = [b for b in blocks if b.use_residual]
    assert residual and all(torch.all(b.project_bn.weight == 0) for b in residual)
    assert all(torch.all(b.project_bn.weight == 1) for b in blocks if not b.use_residual)
    # a zeroed last BN makes the residual block the identity at initialisation
    x = torch.randn(3, residual[0].body[0].in_channels, 8, 8)
    assert torch.equal(residual[0].eval()(x), x)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert m.weight.abs().max() <= bound + 1e-6
            assert m.weight.abs().max() > 0.5 * bound  # uniform over the whole Xavier range
    # the thesis's initialisation: every bias zero, the output at sigmoid 0.5
    assert torch.all(net.decoder[-1].bias == 0)
    primed = HandPoseNet(expand=2, output_prior=0.01)  # the project's recipe: the output starts at 1%
    assert torch.allclose(torch.sigmoid(primed.decoder[-1].bias), torch.full((21,), 0.01))
    with pytest.raises(ValueError, match="output_prior"):
        HandPoseNet(output_prior=1.0)


def test_heatmap_targets_loss_and_decoding():
    kp = torch.tensor([[[10.5, 20.5], [40.2, 3.7]]])  # (1, 2, 2) crop pixels
    y = heatmap_targets(kp, 64, radius=2.0)
    assert y.shape == (1, 2, 64, 64)
    assert y[0, 0, 20, 10] == pytest.approx(1.0)  # pixel (row 20, col 10) is centred on (10.5, 20.5)
    u = torch.arange(64) + 0.5
    direct = torch.exp(-((u[None, :] - 40.2) ** 2 + (u[:, None] - 3.7) ** 2) / (2 * 2.0**2))
    assert torch.allclose(y[0, 1], direct, atol=1e-6)
    assert torch.allclose(decode_heatmaps(y), torch.tensor([[[10.5, 20.5], [40.5, 3.5]]]))
    logits = torch.randn(1, 2, 64, 64)
    direct = sum(((torch.sigmoid(logits[0, k]) - y[0, k]) ** 2).sum() / (64 * 64) for k in range(2))
    assert heatmap_loss(logits, y).item() == pytest.approx(direct.item(), rel=1e-6)


def test_bce_heatmap_loss_against_a_direct_computation():
    rng = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 64, 64, generator=rng)
    y = heatmap_targets(torch.rand(2, 3, 2, generator=rng) * 64, 64, radius=2.0)
    direct = 0.0
    for b in range(2):
        for k in range(3):
            p = torch.sigmoid(logits[b, k])
            direct += -(y[b, k] * torch.log(p) + (1 - y[b, k]) * torch.log(1 - p)).mean()
    assert heatmap_bce_loss(logits, y).item() == pytest.approx(direct.item() / 2, rel=1e-5)


def test_from_state_dict_round_trip_and_refusals():
    torch.manual_seed(0)
    net = HandPoseNet(expand=2)
    back = HandPoseNet.from_state_dict(net.state_dict(), 2, "run/last.pt")
    assert not back.training and back.expand == 2
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values()))
    with pytest.raises(ValueError, match="run/last.pt: not a `signprep train handpose` checkpoint"):
        HandPoseNet.from_state_dict(net.state_dict(), 4, "run/last.pt")  # weights of another expansion
    with pytest.raises(ValueError, match="expand None"):
        HandPoseNet.from_state_dict(net.state_dict(), None, "run/last.pt")
