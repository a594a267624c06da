"""Hand-pose network (thesis Fig. 3.1): shapes, initialisation, heatmap targets/losses/decoding,
the warm-restart schedule, the optimizers and the crop augmentation (photometric and geometric)."""

from __future__ import annotations

import math

import numpy as np
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
from signprep.recipes.handpose import (
    HandPoseConfig,
    augment_crops,
    build_sgd_warm_restarts,
    normalize_crops,
    random_affine,
    warm_restart_factor,
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


def test_warm_restarts():
    f = [warm_restart_factor(e, 20, (5, 10), 0.1, 1e-4) for e in range(20)]
    assert f[0] == f[5] == f[10] == 1.0  # restarts
    assert all(a > b for a, b in zip(f[:4], f[1:5])) and all(a > b for a, b in zip(f[10:19], f[11:20]))
    assert f[4] < 0.2 and f[19] < 0.03 and min(f) >= 1e-4 / 0.1  # stepped per epoch: the last is 1 - 1/len


def test_augmentation_changes_pixels_not_shape():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8))
    cfg = HandPoseConfig()
    a = augment_crops(images, cfg, torch.Generator().manual_seed(1))
    b = augment_crops(images, cfg, torch.Generator().manual_seed(1))
    clean = normalize_crops(images)
    assert a.shape == clean.shape == (4, 3, 64, 64)
    assert torch.allclose(a, b)  # reproducible from the generator
    assert (a - clean).abs().mean() > 0.05
    # every crop has an 8x8 cutout square of exact zeros
    zero = (a == 0).all(dim=1).float()
    assert (nn.functional.avg_pool2d(zero[:, None], 8, 1).amax(dim=(1, 2, 3)) == 1).all()
    off = HandPoseConfig(blur_probability=0, jitter=0, hue_jitter=0, noise=0, cutout=0)
    assert torch.allclose(augment_crops(images, off), clean, atol=1e-6)


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


def test_optimizer_choice_keeps_the_warm_restart_schedule():
    net = nn.Linear(2, 2)
    cfg = HandPoseConfig(optimizer="adamw", lr=1e-3, lr_min=1e-6, weight_decay=0.01, epochs=4, restarts=[2])
    optimizer, scheduler = build_sgd_warm_restarts(net.parameters(), cfg)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["weight_decay"] == 0.01
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == lrs[2] == pytest.approx(1e-3) and lrs[1] < lrs[0] and lrs[3] < lrs[2]
    sgd, _ = build_sgd_warm_restarts(net.parameters(), HandPoseConfig())
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["nesterov"]


def _dot_images(points: torch.Tensor, size: int = 64) -> torch.Tensor:
    """(B, S, S, 3) black uint8 crops with a white 3x3 dot centred on each (B, 2) point."""
    images = torch.zeros(len(points), size, size, 3, dtype=torch.uint8)
    for b, (x, y) in enumerate(points.long().tolist()):
        images[b, y - 1 : y + 2, x - 1 : x + 2] = 255
    return images


def test_random_affine_moves_pixels_and_landmarks_together():
    points = torch.tensor([[20.5, 14.5], [45.5, 40.5], [30.5, 50.5], [12.5, 33.5]] * 8)  # pixel centres
    images = _dot_images(points)
    cfg = HandPoseConfig(rotate=40, scale=0.25, shift=6, flip=True)
    warped, moved = random_affine(images, points[:, None], cfg, torch.Generator().manual_seed(3))
    assert warped.shape == images.shape and warped.dtype == torch.uint8 and moved.shape == (32, 1, 2)
    assert not torch.allclose(moved[:, 0], points)  # the landmarks did move
    inside = ((moved[:, 0] > 2) & (moved[:, 0] < 62)).all(dim=1)
    assert inside.sum() >= 24
    for b in torch.nonzero(inside).flatten().tolist():
        img = warped[b, :, :, 0].float()
        ys, xs = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
        centre = torch.stack([(img * xs).sum(), (img * ys).sum()]) / img.sum()  # the dot's centre of mass
        assert (centre - moved[b, 0]).norm() < 0.75, (b, centre, moved[b, 0])
    # mirroring: some crops were flipped, which a rotation of at most 40 degrees cannot do
    x_offsets = (moved[:, 0, 0] - 32) * (points[:, 0] - 32)
    assert (x_offsets < 0).any()


def test_random_affine_is_the_identity_when_switched_off():
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    keypoints = torch.rand(2, 21, 2) * 64
    warped, moved = random_affine(images, keypoints, HandPoseConfig())
    assert warped is images and moved is keypoints
