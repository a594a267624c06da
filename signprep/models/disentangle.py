"""Building blocks of the disentangled appearance/sign encoders (GaitNet, docs/methods.md).

- `FrameEncoder`: image -> (f_a appearance code, f_g sign/pose code).
- `FrameDecoder`: (f_a, f_g) -> image, the encoder's mirror.
- `TemporalModel`: f_g sequence -> per-step outputs h^t, an LSTM (GaitNet) or a causal
  Transformer (the report's suggestion); causal so that h^t, like the LSTM's, sees frames <= t
  and the incremental average of the identity loss keeps its meaning.
- `grad_reverse` / `GradientReversal`: identity forward, gradient times -coefficient backward
  (Ganin and Lempitsky; the adversarial signer classifier of Ferreira et al.).

Images are float (N, 3, H, W) in [0, 1]; codes are (N, D) float.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

__all__ = [
    "FrameDecoder",
    "FrameEncoder",
    "GradientReversal",
    "TemporalModel",
    "grad_reverse",
]


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coefficient: float) -> torch.Tensor:
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coefficient * grad, None


def grad_reverse(x: torch.Tensor, coefficient: float = 1.0) -> torch.Tensor:
    """x unchanged in the forward pass; the gradient flowing back is multiplied by -coefficient."""
    return _GradReverse.apply(x, float(coefficient))


class GradientReversal(nn.Module):
    """Module form of `grad_reverse`."""

    def __init__(self, coefficient: float = 1.0) -> None:
        super().__init__()
        self.coefficient = float(coefficient)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.coefficient)

    def extra_repr(self) -> str:
        return f"coefficient={self.coefficient}"


def _ceil_halvings(size: int, stages: int) -> int:
    for _ in range(stages):
        size = (size + 1) // 2
    return size


class FrameEncoder(nn.Module):
    """Conv stack -> (f_a, f_g). GaitNet uses 4 stride-2 conv layers; `convs_per_stage` > 1 adds
    3x3 residual convs after each downsampling (the report's "deeper encoder").

    forward(images (N, 3, H, W) in [0, 1]) -> (f_a (N, appearance_dim), f_g (N, sign_dim)).
    """

    def __init__(
        self,
        image_size: tuple[int, int] = (64, 64),
        channels: Sequence[int] = (32, 64, 128, 256),
        appearance_dim: int = 256,
        sign_dim: int = 64,
        convs_per_stage: int = 1,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2, inplace=True)]
            layers += [_Residual(c) for _ in range(convs_per_stage - 1)]
            c_in = c
        self.features = nn.Sequential(*layers)
        h, w = image_size
        for _ in channels:  # a 4x4 stride-2 conv with padding 1 halves a side, rounding down
            h, w = h // 2, w // 2
        self.appearance_dim, self.sign_dim = appearance_dim, sign_dim
        self.head = nn.Linear(c_in * h * w, appearance_dim + sign_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.head(self.features(images).flatten(1))
        return z[:, : self.appearance_dim], z[:, self.appearance_dim :]


class FrameDecoder(nn.Module):
    """(f_a, f_g) -> image: Linear to the encoder's last feature map, transposed convs back up, sigmoid.

    forward(f_a (N, appearance_dim), f_g (N, sign_dim)) -> (N, 3, H, W) in [0, 1].
    """

    def __init__(
        self,
        image_size: tuple[int, int] = (64, 64),
        channels: Sequence[int] = (32, 64, 128, 256),
        appearance_dim: int = 256,
        sign_dim: int = 64,
        convs_per_stage: int = 1,
        out_channels: int = 3,
    ) -> None:
        super().__init__()
        self.image_size = tuple(image_size)
        # start large enough that the upsampling covers the image, then crop
        self.start = (channels[-1], *(_ceil_halvings(s, len(channels)) for s in image_size))
        self.head = nn.Linear(appearance_dim + sign_dim, math.prod(self.start))
        layers: list[nn.Module] = [nn.BatchNorm2d(channels[-1]), nn.LeakyReLU(0.2, inplace=True)]
        rev = list(channels[::-1])
        for c_in, c_out in zip(rev, rev[1:]):
            layers += [_Residual(c_in) for _ in range(convs_per_stage - 1)]
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
        layers += [_Residual(rev[-1]) for _ in range(convs_per_stage - 1)]
        layers += [nn.ConvTranspose2d(rev[-1], out_channels, 4, 2, 1), nn.Sigmoid()]
        self.features = nn.Sequential(*layers)

    def forward(self, f_a: torch.Tensor, f_g: torch.Tensor) -> torch.Tensor:
        x = self.head(torch.cat([f_a, f_g], dim=1)).view(-1, *self.start)
        x = self.features(x)
        if tuple(x.shape[-2:]) != self.image_size:  # odd sizes: the stride-2 stack overshoots
            x = x[..., : self.image_size[0], : self.image_size[1]]
        return x


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


def sinusoidal_positions(length: int, dim: int, device=None) -> torch.Tensor:
    """(length, dim) the Transformer's sine/cosine position encoding (any length, nothing learned)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return pe


class TemporalModel(nn.Module):
    """f_g sequence -> outputs h^1..h^T.

    kind "lstm": a `layers`-layer LSTM (GaitNet: 3 layers). kind "transformer": a linear
    projection, sine positions and `layers` causal (masked) Transformer encoder layers.
    forward(x (B, T, input_dim)) -> (B, T, hidden).
    """

    def __init__(
        self,
        input_dim: int,
        hidden: int = 256,
        layers: int = 3,
        kind: Literal["lstm", "transformer"] = "lstm",
        heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.kind, self.hidden = kind, hidden
        if kind == "lstm":
            self.lstm = nn.LSTM(input_dim, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        elif kind == "transformer":
            self.proj = nn.Linear(input_dim, hidden)
            layer = nn.TransformerEncoderLayer(
                hidden, heads, 2 * hidden, dropout=dropout, batch_first=True, norm_first=True
            )
            self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(hidden)
        else:
            raise ValueError(f"temporal model kind must be 'lstm' or 'transformer', got {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "lstm":
            return self.lstm(x)[0]
        T = x.shape[1]
        z = self.proj(x) + sinusoidal_positions(T, self.hidden, x.device).to(x.dtype)
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=x.device, dtype=z.dtype)
        return self.norm(self.transformer(z, mask=mask, is_causal=True))
