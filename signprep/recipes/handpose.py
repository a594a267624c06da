"""Hand-pose trainer: heatmap regression of the 21 hand landmarks on 64x64 hand crops.

`signprep train handpose` (docs/methods.md, "Siamese hand-pose embedding"; thesis 3.1):
`HandPoseNet` regresses Gaussian heatmaps (radius 2 px) of the MediaPipe hand landmarks
stored in crop pixels by the `hand_crops` stage; we have no hand-labelled data offline, so
the network learns to imitate MediaPipe. Only crops where the hand model found the hand
carry targets. Train and test are split by signer (`signer_split`): the test signers'
crops never reach training.

Thesis settings: augmentation (blur r = 1, colour jitter 40%, normalisation, noise 0.01,
8x8 cutout), Xavier init with zeroed last BN per residual block, SGD with Nesterov
momentum and cosine warm restarts (lr 0.1 -> 1e-4, restarts at epochs 5 and 10 of 20).
Beyond the thesis, for small corpora: geometric augmentation (rotation, scale, shift and
mirroring, applied to image and landmarks alike; `random_affine`), AdamW in place of SGD,
and a per-pixel BCE in place of Eq. 3.9 (`models/handpose.md` gives the measured effect).
Per epoch: the test signers' `keypoint_error_px`, the mean L2 distance at 64x64 between
the arg-max of each heatmap and the MediaPipe landmark. At the end `handpose_eval.json`
holds the full evaluation and a mean-pose baseline (every crop predicted as the training
crops' mean landmark positions), the floor a useful network must beat.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from signprep.atomic import atomic_write_text
from signprep.models.handpose import HandPoseNet, decode_heatmaps, heatmap_bce_loss, heatmap_loss, heatmap_targets
from signprep.recipes.dsft import Vocabulary
from signprep.recipes.hand_crops import HandCropSet, signer_split
from signprep.training import TrainConfig, Trainer, load_checkpoint, seed_everything

__all__ = [
    "HandPoseConfig",
    "augment_crops",
    "build_sgd_warm_restarts",
    "evaluate_keypoints",
    "fit_handpose",
    "load_handpose",
    "normalize_crops",
    "random_affine",
    "train_handpose",
    "warm_restart_factor",
]

log = logging.getLogger(__name__)

# ImageNet statistics: the usual "image colour normalisation" step of the thesis's augmentation list
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class SGDRConfig(TrainConfig):
    """SGD with Nesterov momentum and cosine warm restarts (thesis 3.1.2), for both hand models.

    Replaces the shared Adam keys: `betas` and `scheduler` do not apply and are refused.
    """

    optimizer: Literal["sgd", "adamw"] = "sgd"  # sgd: the thesis's, with Nesterov momentum
    lr: float = Field(default=0.1, gt=0)  # eta_+ of each cycle
    lr_min: float = Field(default=1e-4, ge=0)  # eta_- at the end of each cycle
    restarts: tuple[int, ...] = (5, 10)  # epochs at which the lr jumps back to `lr`
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(default=1e-4, ge=0)  # decoupled (AdamW) with optimizer adamw

    @model_validator(mode="after")
    def _sgd_keys_only(self) -> SGDRConfig:
        for key in ("betas", "scheduler"):
            if key in self.model_fields_set and getattr(self, key) != type(self).model_fields[key].default:
                raise ValueError(f"`{key}` does not apply: this model trains with warm restarts (optimizer, lr, "
                                 "lr_min, restarts, momentum, nesterov)")  # fmt: skip
        if list(self.restarts) != sorted(set(self.restarts)) or any(r <= 0 for r in self.restarts):
            raise ValueError(f"restarts must be increasing positive epochs, got {list(self.restarts)}")
        return self


class HandPoseConfig(SGDRConfig):
    """`models/handpose.yaml` (small-corpus recipe) or `models/handpose-thesis.yaml`: the shared
    training keys plus the hand-pose network's. The defaults here are the thesis's."""

    epochs: int = Field(default=20, gt=0)
    batch_size: int = Field(default=64, gt=0)  # thesis 1024 on a P100; see models/handpose*.yaml
    expand: int = Field(default=4, gt=0)  # inverted-residual expansion ratio (thesis Fig. 3.8: 4)
    heatmap_radius: float = Field(default=2.0, gt=0)  # r of the Gaussian targets, px at 64x64
    loss: Literal["sigmoid_mse", "bce"] = "sigmoid_mse"  # sigmoid_mse: thesis Eq. 3.9
    augment: bool = True
    rotate: float = Field(default=0.0, ge=0, le=180)  # max rotation, degrees either way; 0 = off
    scale: float = Field(default=0.0, ge=0, lt=1)  # zoom factor in [1 - scale, 1 + scale]
    shift: float = Field(default=0.0, ge=0)  # max shift, px either way, along each axis
    flip: bool = False  # mirror half the crops: a mirrored left hand looks like a right one
    blur_probability: float = Field(default=0.5, ge=0, le=1)  # Gaussian blur of radius 1 px
    jitter: float = Field(default=0.4, ge=0, lt=1)  # brightness, contrast, saturation: factor in [1 -+ jitter]
    hue_jitter: float = Field(default=0.05, ge=0, le=0.5)  # hue shift, in turns of the colour circle
    noise: float = Field(default=0.01, ge=0)  # std of white noise on the normalised image
    cutout: int = Field(default=8, ge=0)  # side of the zeroed square, px; 0 = off
    hands: tuple[int, ...] = (0, 1)  # 0 the signer's left hand, 1 the right
    frame_stride: int = Field(default=1, gt=0)  # keep every n-th frame (consecutive frames nearly repeat)
    test_signers: tuple[str, ...] | None = None  # None: the signers of the shards' test split
    eval_batch_size: int = Field(default=128, gt=0)
    eval_max_crops: int | None = Field(default=512, gt=0)  # per-epoch evaluation subsample; the final one uses all


def warm_restart_factor(epoch: int, epochs: int, restarts: Sequence[int], lr: float, lr_min: float) -> float:
    """lr(epoch) / lr: a half cosine from lr to lr_min within each cycle [restart_k, restart_k+1)."""
    bounds = [0, *[r for r in restarts if r < epochs], epochs]
    for start, end in zip(bounds, bounds[1:]):
        if start <= epoch < end:
            t = (epoch - start) / (end - start)
            return (lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * t))) / lr
    return lr_min / lr


def build_sgd_warm_restarts(params, config: SGDRConfig):
    """(optimizer, per-epoch LambdaLR with warm restarts) for `config`: SGD with Nesterov momentum
    (the thesis's), or AdamW with the same schedule."""
    if config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
        )
    factor = lambda e: warm_restart_factor(e, config.epochs, config.restarts, config.lr, config.lr_min)  # noqa: E731
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def normalize_crops(images: torch.Tensor) -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB -> (B, 3, S, S) float, ImageNet-normalised."""
    x = images.permute(0, 3, 1, 2).float() / 255
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
    images: torch.Tensor, keypoints: torch.Tensor, config: HandPoseConfig, generator: torch.Generator | None = None
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


def augment_crops(images: torch.Tensor, config: HandPoseConfig, generator: torch.Generator | None = None):
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
    mean = torch.tensor(MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=dev).view(1, 3, 1, 1)
    x = (x - mean) / std
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


@torch.no_grad()
def evaluate_keypoints(
    model: HandPoseNet, crops: HandCropSet, batch_size: int, device: torch.device, radius: float = 2.0
) -> dict[str, float]:
    """{"keypoint_error_px", "loss", "crops"}: mean L2 error (px, at the crops' size) of the heatmap
    arg-max against the stored landmarks, and the heatmap loss, over every crop of `crops`."""
    was_training = model.training
    model.eval()
    err_sum, loss_sum, n = 0.0, 0.0, 0
    size = crops.images.shape[1]
    for i in range(0, len(crops), batch_size):
        x = normalize_crops(crops.images[i : i + batch_size].to(device))
        target = crops.keypoints[i : i + batch_size].to(device)
        logits = model(x)
        err_sum += (decode_heatmaps(logits) - target).norm(dim=-1).mean(dim=-1).sum().item()
        loss_sum += heatmap_loss(logits, heatmap_targets(target, size, radius)).item() * len(target)
        n += len(target)
    model.train(was_training)
    return {"keypoint_error_px": err_sum / max(n, 1), "loss": loss_sum / max(n, 1), "crops": float(n)}


def mean_pose_error(train: HandCropSet, test: HandCropSet) -> float:
    """Mean L2 error (px) of predicting every test crop as the training crops' mean landmark positions."""
    mean = train.keypoints.mean(dim=0, keepdim=True)
    return (test.keypoints - mean).norm(dim=-1).mean().item()


def _evenly(crops: HandCropSet, limit: int | None) -> HandCropSet:
    if limit is None or len(crops) <= limit:
        return crops
    mask = torch.zeros(len(crops), dtype=torch.bool)
    mask[torch.linspace(0, len(crops) - 1, limit).long()] = True
    return crops.subset(mask.numpy())


def load_handpose_crops(shards: Path, config: HandPoseConfig) -> tuple[HandCropSet, HandCropSet, list[str]]:
    """(train crops, test crops, test signers): landmark crops of the labelled samples, split by signer."""
    vocab = Vocabulary.from_shards(shards)
    crops = HandCropSet.load(
        shards, label_map=vocab.label_map, hands=config.hands, frame_stride=config.frame_stride, progress=True
    )
    train_mask, test_mask, held = signer_split(crops.signers, crops.splits, config.test_signers)
    return crops.subset(train_mask), crops.subset(test_mask), held


def train_handpose(
    shards: str | Path, config: HandPoseConfig, out_dir: str | Path, resume: str | Path | None = None
) -> Trainer:
    """Train on the non-test signers' landmark crops of `shards`; writes `out_dir/last.pt`,
    `metrics.csv`, `tb/`, `handpose_eval.json`. Returns the finished Trainer."""
    train_set, test_set, held = load_handpose_crops(Path(shards), config)
    return fit_handpose(train_set, test_set, held, config, out_dir, resume)


def fit_handpose(
    train_set: HandCropSet,
    test_set: HandCropSet,
    held: list[str],
    config: HandPoseConfig,
    out_dir: str | Path,
    resume: str | Path | None = None,
) -> Trainer:
    """`train_handpose` on crops already in memory (experiments reuse one loaded set)."""
    out_dir = Path(out_dir)
    log.info("hand pose: %d train crops, %d test crops (test signers %s)", len(train_set), len(test_set), held)
    eval_subset = _evenly(test_set, config.eval_max_crops)

    seed_everything(config.seed)
    model = HandPoseNet(expand=config.expand)
    optimizer, scheduler = build_sgd_warm_restarts(model.parameters(), config)
    size = int(train_set.images.shape[1])
    loss_fn = heatmap_bce_loss if config.loss == "bce" else heatmap_loss

    def step_fn(m: nn.Module, batch) -> dict[str, torch.Tensor]:
        images, keypoints = batch["image"], batch["keypoints"]
        if config.augment:
            images, keypoints = random_affine(images, keypoints, config)
            x = augment_crops(images, config)
        else:
            x = normalize_crops(images)
        return {"loss": loss_fn(m(x), heatmap_targets(keypoints, size, config.heatmap_radius))}

    def on_epoch_end(trainer: Trainer, epoch: int) -> dict[str, float]:
        if not len(eval_subset):
            return {}
        r = evaluate_keypoints(
            trainer.module, eval_subset, config.eval_batch_size, trainer.device, config.heatmap_radius
        )
        metrics = {"eval_test/keypoint_error_px": r["keypoint_error_px"], "eval_test/loss": r["loss"]}
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        return metrics

    trainer = Trainer(model, optimizer, scheduler, config, out_dir, step_fn, on_epoch_end=on_epoch_end)
    try:
        if resume is not None:
            trainer.resume(resume)
        trainer.fit(train_set, drop_last=len(train_set) > config.batch_size)  # a 1-crop batch breaks BN
    finally:
        trainer.close()
    if trainer.is_main:
        report = {
            "test_signers": held,
            "train_crops": len(train_set),
            "train_signers": sorted(set(train_set.signers)),
            "test": evaluate_keypoints(trainer.module, test_set, config.eval_batch_size, trainer.device,
                                       config.heatmap_radius) if len(test_set) else None,
            "train": evaluate_keypoints(trainer.module, _evenly(train_set, 2048), config.eval_batch_size,
                                        trainer.device, config.heatmap_radius),
            "mean_pose_baseline_px": mean_pose_error(train_set, test_set) if len(test_set) else None,
            "crop_size": size,
        }  # fmt: skip
        atomic_write_text(out_dir / "handpose_eval.json", json.dumps(report, indent=1) + "\n")
        if report["test"] is not None:
            log.info(
                "test signers %s: keypoint error %.2f px at %d px (mean-pose baseline %.2f px)",
                held,
                report["test"]["keypoint_error_px"],
                size,
                report["mean_pose_baseline_px"],
            )
    return trainer


def load_handpose(checkpoint: str | Path) -> tuple[HandPoseNet, HandPoseConfig]:
    """The network of a `train_handpose` checkpoint, in eval mode on the CPU."""
    ckpt = load_checkpoint(checkpoint)
    if "config" not in ckpt or "model" not in ckpt:
        raise ValueError(f"{checkpoint}: not a signprep training checkpoint")
    config = HandPoseConfig.model_validate(ckpt["config"])
    model = HandPoseNet(expand=config.expand)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise ValueError(f"{checkpoint}: not a `signprep train handpose` checkpoint ({e})") from None
    return model.eval(), config
