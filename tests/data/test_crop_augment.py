"""Hand-crop augmentation kernels: photometric changes, reproducibility from a generator, cutout,
and the geometric warp moving pixels and landmarks together."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from signprep.data.crop_augment import CropAugmentConfig, augment_crops, normalize_crops, random_affine


def test_augmentation_changes_pixels_not_shape():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8))
    cfg = CropAugmentConfig()
    a = augment_crops(images, cfg, torch.Generator().manual_seed(1))
    b = augment_crops(images, cfg, torch.Generator().manual_seed(1))
    clean = normalize_crops(images)
    assert a.shape == clean.shape == (4, 3, 64, 64)
    assert torch.allclose(a, b)  # reproducible from the generator
    assert (a - clean).abs().mean() > 0.05
    # every crop has an 8x8 cutout square of exact zeros
    zero = (a == 0).all(dim=1).float()
    assert (nn.functional.avg_pool2d(zero[:, None], 8, 1).amax(dim=(1, 2, 3)) == 1).all()
    off = CropAugmentConfig(blur_probability=0, jitter=0, hue_jitter=0, noise=0, cutout=0)
    assert torch.allclose(augment_crops(images, off), clean, atol=1e-6)


def _dot_images(points: torch.Tensor, size: int = 64) -> torch.Tensor:
    """(B, S, S, 3) black uint8 crops with a white 3x3 dot centred on each (B, 2) point."""
    images = torch.zeros(len(points), size, size, 3, dtype=torch.uint8)
    for b, (x, y) in enumerate(points.long().tolist()):
        images[b, y - 1 : y + 2, x - 1 : x + 2] = 255
    return images


def test_random_affine_moves_pixels_and_landmarks_together():
    points = torch.tensor([[20.5, 14.5], [45.5, 40.5], [30.5, 50.5], [12.5, 33.5]] * 8)  # pixel centres
    images = _dot_images(points)
    cfg = CropAugmentConfig(rotate=40, scale=0.25, shift=6, flip=True)
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
    warped, moved = random_affine(images, keypoints, CropAugmentConfig())
    assert warped is images and moved is keypoints
