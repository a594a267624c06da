"""Hand-crop augmentation kernels on tensors (thesis 3.1.2, plus geometric augmentation).

Plain functions on batches of (B, S, S, 3) uint8 RGB crops, in the spirit of torchvision's
transforms v2 kernels: `random_affine` draws one random similarity per crop and applies it to
the image and its landmarks alike, so they move together; `augment_crops` is photometric only
(blur, colour jitter, normalisation, white noise, cutout); `normalize_crops` is the
normalisation alone (evaluation, the frozen encoder of the siamese model). Their settings are
`CropAugmentConfig`, which the hand-pose config extends (`models/handpose.yaml`). Random
draws come from `generator` (default: torch's global RNG) on the CPU, then move to the
crops' device, so a seed gives the same augmentation on every device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MEAN", "STD", "CropAugmentConfig", "augment_crops", "normalize_crops", "random_affine"]

# ImageNet statistics: the usual "image colour normalisation" step of the thesis's augmentation list
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class CropAugmentConfig(BaseModel):
    """The augmentation keys of a hand-crop model config; the defaults are the thesis's (no geometry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rotate: float = Field(default=0.0, ge=0, le=180)  # max rotation, degrees either way; 0 = off
    scale: float = Field(default=0.0, ge=0, lt=1)  # zoom factor in [1 - scale, 1 + scale]
    shift: float = Field(default=0.0, ge=0)  # max shift, px either way, along each axis
    flip: bool = False  # mirror half the crops: a mirrored left hand looks like a right one
    blur_probability: float = Field(default=0.5, ge=0, le=1)  # Gaussian blur of radius 1 px
    jitter: float = Field(default=0.4, ge=0, lt=1)  # brightness, contrast, saturation: factor in [1 -+ jitter]
    hue_jitter: float = Field(default=0.05, ge=0, le=0.5)  # hue shift, in turns of the colour circle
    noise: float = Field(default=0.01, ge=0)  # std of white noise on the normalised image
    cutout: int = Field(default=8, ge=0)  # side of the zeroed square, px; 0 = off


def normalize_crops(images: torch.Tensor) -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB -> (B, 3, S, S) float, ImageNet-normalised."""
    return _standardize(images.permute(0, 3, 1, 2).float() / 255)


def _standardize(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float RGB in [0, 1] -> ImageNet-normalised."""
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def _hue_rotate(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of (B, 3, H, W) RGB in YIQ space by `turns` (B,) of the colour circle."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=x.device)
    yiq = torch.einsum("ij,bjhw->bihw", to_yiq, x)
    a = 2 * math.pi * turns.view(-1, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], i * torch.cos(a) - q * torch.sin(a), i * torch.sin(a) + q * torch.cos(a)], 1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(to_yiq), yiq)


def random_affine(
    images: torch.Tensor,
    keypoints: torch.Tensor,
    config: CropAugmentConfig,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp (B, S, S, 3) uint8 crops and their (B, K, 2) crop-pixel landmarks by one random
    similarity each (rotation, zoom and mirroring about the centre, then a shift), within
    `config.rotate/scale/shift/flip`. Uncovered pixels are black, like the crops' own padding;
    landmarks may leave the crop, which leaves their target heatmap (near) empty."""
    if not (config.rotate or config.scale or config.shift or config.flip):
        return images, keypoints
    b, s, dev = images.shape[0], images.shape[1], images.device

    def uniform(half_width: float, *shape: int) -> torch.Tensor:
        return ((2 * torch.rand(b, *shape, generator=generator) - 1) * half_width).to(dev)

    angle = uniform(math.radians(config.rotate))
    zoom = 1 + uniform(config.scale)
    mirror = torch.ones(b, device=dev)
    if config.flip:
        mirror = torch.where(torch.rand(b, generator=generator).to(dev) < 0.5, -mirror, mirror)
    with torch.autocast(device_type=dev.type, enabled=False):  # landmarks stay float32 under AMP
        cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
        # forward map about the centre c: p' = A (p - c) + c + t, with A = zoom * R(angle) * diag(mirror, 1)
        a = torch.stack([torch.stack([cos * mirror, -sin], -1), torch.stack([sin * mirror, cos], -1)], -2)
        t = uniform(config.shift, 2)
        c = s / 2
        moved = torch.einsum("bij,bkj->bki", a, keypoints.float() - c) + c + t[:, None]
        # grid_sample wants the inverse map, in [-1, 1] coordinates (align_corners=False: u = 2p/S - 1)
        inv = torch.linalg.inv(a)
        theta = torch.cat([inv, -(inv @ (2 * t / s)[..., None])], dim=-1)
        x = images.permute(0, 3, 1, 2).float()
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        warped = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1), moved


def augment_crops(
    images: torch.Tensor, config: CropAugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) augmented, normalised float, in the thesis's order:
    blur, colour jitter, normalisation, white noise, cutout. Photometric only: `random_affine` moves pixels."""
    x = images.permute(0, 3, 1, 2).float() / 255
    b, dev = x.shape[0], x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(b, generator=generator)).to(dev).view(b, 1, 1, 1)

    if config.blur_probability > 0:
        g = torch.exp(-(torch.tensor([-1.0, 0.0, 1.0], device=dev) ** 2) / 2)
        k = (g[:, None] * g[None, :]) / g.sum() ** 2  # 3x3 Gaussian, sigma 1 px
        blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(3, 1, 3, 3).contiguous(), groups=3)
        x = torch.where(uniform(0, 1) < config.blur_probability, blurred, x)
    if config.jitter > 0 or config.hue_jitter > 0:
        j = config.jitter
        x = x * uniform(1 - j, 1 + j)  # brightness
        gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).clamp(0, 1)
        x = (x - gray.mean(dim=(2, 3), keepdim=True)) * uniform(1 - j, 1 + j) + gray.mean(dim=(2, 3), keepdim=True)
        x = gray + (x - gray) * uniform(1 - j, 1 + j)  # saturation
        if config.hue_jitter > 0:
            x = _hue_rotate(x, uniform(-config.hue_jitter, config.hue_jitter).view(b))
        x = x.clamp(0, 1)
    x = _standardize(x)
    if config.noise > 0:
        x = x + config.noise * torch.randn(x.shape, generator=generator).to(dev)
    if config.cutout > 0:
        s, c = x.shape[-1], config.cutout
        ys = torch.randint(0, s - c + 1, (b,), generator=generator).to(dev).view(b, 1, 1)
        xs = torch.randint(0, s - c + 1, (b,), generator=generator).to(dev).view(b, 1, 1)
        r = torch.arange(s, device=dev)
        inside = ((r.view(1, s, 1) - ys) >= 0) & ((r.view(1, s, 1) - ys) < c)
        inside = inside & ((r.view(1, 1, s) - xs) >= 0) & ((r.view(1, 1, s) - xs) < c)
        x = x.masked_fill(inside[:, None], 0.0)
    return x
