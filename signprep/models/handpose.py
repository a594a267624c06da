"""Hand-pose heatmap network (docs/methods.md, "Siamese hand-pose embedding"; thesis Fig. 3.1).

64x64x3 hand crop -> MobileNetV2 inverted-residual encoder -> (128, 4, 4) features ->
transposed-conv decoder -> 21 heatmap logits (64, 64), one per MediaPipe hand landmark.
The encoder's features, average-pooled to 128 numbers, are what the siamese embedding
(`signprep.models.siamese`) is trained on with the encoder frozen.

Heatmap coordinates follow `signprep.kernels.gaussian_heatmaps`: continuous crop pixels, pixel (i, j)
centred at (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from signprep.kernels.gaussian_heatmaps import render_heatmaps_torch

__all__ = [
    "HandPoseNet",
    "InvertedResidual",
    "NUM_HAND_KEYPOINTS",
    "decode_heatmaps",
    "heatmap_bce_loss",
    "heatmap_loss",
    "heatmap_targets",
]

NUM_HAND_KEYPOINTS = 21
# (output channels, stride) of each inverted residual block, thesis Fig. 3.1: the stride-2
# block closes each resolution group (32 -> 16 -> 8 -> 4 pixels).
ENCODER_BLOCKS = (
    (16, 1), (32, 1), (32, 1), (32, 1), (32, 2),
    (64, 1), (64, 1), (64, 1), (64, 2),
    (128, 1), (128, 1), (128, 1), (128, 2),
)  # fmt: skip
DECODER_CHANNELS = (64, 64, 32, 32)  # each transposed conv doubles the size: 4 -> 8 -> 16 -> 32 -> 64


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + BN + ReLU6, 3x3 depth-wise (stride) + BN + ReLU6, 1x1 project + BN.

    The residual connection exists when the stride is 1 and the channels match; then the
    block's last BN (`project_bn`) is the one `HandPoseNet.reset_parameters` zero-initialises.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, expand: int = 4) -> None:
        super().__init__()
        hidden = in_channels * expand
        self.use_residual = stride == 1 and in_channels == out_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
        )
        self.project_bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project_bn(self.body(x))
        return x + y if self.use_residual else y


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class HandPoseNet(nn.Module):
    """Fig. 3.1. forward: (B, 3, 64, 64) normalised image -> (B, 21, 64, 64) heatmap logits phi.

    `features(x)` is the (B, 128, 4, 4) bottleneck; `pooled_features(x)` its (B, 128) average.
    """

    def __init__(
        self, num_keypoints: int = NUM_HAND_KEYPOINTS, expand: int = 4, output_prior: float | None = None
    ) -> None:
        super().__init__()
        if output_prior is not None and not 0 < output_prior < 1:
            raise ValueError(f"output_prior must lie in (0, 1) or be None, got {output_prior}")
        self.expand, self.output_prior = expand, output_prior
        layers: list[nn.Module] = [_conv_bn_relu(3, 32, 2)]
        c = 32
        for out_c, stride in ENCODER_BLOCKS:
            layers.append(InvertedResidual(c, out_c, stride, expand))
            c = out_c
        layers.append(_conv_bn_relu(c, c, 1))
        self.encoder = nn.Sequential(*layers)
        self.feature_dim = c
        dec: list[nn.Module] = []
        for out_c in DECODER_CHANNELS:
            dec += [nn.ConvTranspose2d(c, out_c, 4, 2, 1, bias=False), nn.BatchNorm2d(out_c), nn.ReLU(inplace=True)]
            c = out_c
        dec.append(nn.Conv2d(c, num_keypoints, 1))
        self.decoder = nn.Sequential(*dec)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier for every conv and linear layer (zero biases), BN as identity, except the last BN of
        each residual block, zeroed so every residual block starts as the identity (thesis 3.1.2).
        With `output_prior` p (not the thesis's), the output bias starts at logit(p) instead of 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, InvertedResidual) and m.use_residual:
                nn.init.zeros_(m.project_bn.weight)
        if self.output_prior is not None:
            # Heatmaps are ~99% background: start the output at sigmoid = p (0.01), not 0.5, so the first
            # steps learn keypoints instead of pushing 86k logits down (the focal-loss "prior" bias).
            nn.init.constant_(self.decoder[-1].bias, math.log(self.output_prior / (1 - self.output_prior)))

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], expand: object, source: object) -> HandPoseNet:
        """The network of `expand` holding the weights `state`, in eval mode; ValueError naming `source`
        (e.g. the checkpoint file) when they are not a hand-pose network's."""
        if not isinstance(expand, int):
            raise ValueError(f"{source}: not a `signprep train handpose` checkpoint (expand {expand!r})")
        net = cls(expand=expand)
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"{source}: not a `signprep train handpose` checkpoint ({e})") from None
        return net.eval()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def heatmap_targets(keypoints: torch.Tensor, size: int = 64, radius: float = 2.0) -> torch.Tensor:
    """(B, 21, 2) crop-pixel keypoints -> (B, 21, size, size) Gaussians of `radius` px, peak 1 (Eq. 3.8)."""
    return render_heatmaps_torch(keypoints.float(), size=(size, size), sigma=radius)


def heatmap_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. 3.9, L = 1/(WH) sum_ij (sigmoid(phi_ij) - y_ij)^2 per heatmap, summed over the keypoints
    and averaged over the batch. (A mean over the keypoints too would shrink every gradient 21x.)"""
    per_heatmap = (torch.sigmoid(logits.float()) - targets.float()).pow(2).mean(dim=(-2, -1))
    return per_heatmap.sum(dim=-1).mean()


def heatmap_bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-pixel binary cross-entropy against the Gaussian targets, reduced like `heatmap_loss`
    (mean over pixels, sum over keypoints, mean over the batch). Unlike Eq. 3.9 its gradient,
    sigmoid(phi) - y, does not vanish where the sigmoid saturates near the 0.01 prior."""
    per_pixel = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    return per_pixel.mean(dim=(-2, -1)).sum(dim=-1).mean()


def decode_heatmaps(logits: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) heatmaps -> (B, K, 2) x, y in continuous pixels: the centre of the arg-max pixel."""
    b, k, h, w = logits.shape
    flat = logits.reshape(b, k, h * w).argmax(dim=-1)
    return torch.stack([(flat % w).float() + 0.5, (flat // w).float() + 0.5], dim=-1)
