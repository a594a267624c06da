"""Building blocks of the disentangled appearance/sign encoders (GaitNet, docs/methods.md).

- `FrameEncoder`: image -> (f_a appearance code, f_g sign/pose code).
- `FrameDecoder`: (f_a, f_g) -> image, the encoder's mirror.
- `TemporalModel`: f_g sequence -> per-step outputs h^t, an LSTM (GaitNet) or a causal
  Transformer (the report's suggestion); causal so that h^t, like the LSTM's, sees frames <= t
  and the incremental average of the identity loss keeps its meaning.
- `grad_reverse` / `GradientReversal`: identity forward, gradient times -coefficient backward
  (Ganin and Lempitsky; the adversarial signer classifier of Ferreira et al.).
- `DisentangleModel`: the whole network of `signprep train disentangle`, built from
  `DisentangleNetConfig` (the architecture keys of `models/disentangle.yaml`).

Images are float (N, 3, H, W) in [0, 1]; codes are (N, D) float.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from signprep.models.disentangle_losses import incremental_average

__all__ = [
    "DisentangleModel",
    "DisentangleNetConfig",
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


class DisentangleNetConfig(BaseModel):
    """The architecture keys of a disentangle model config (`models/disentangle.yaml`, "model"):
    the streams and their input sizes, the conv stages, the code sizes, the temporal model and the
    adversarial signer classifier. Defaults are GaitNet's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: tuple[int, int] = (64, 64)  # (H, W) the encoder sees; stored frames are resized to it
    hand_stream: bool = False  # hand crops as a second stream (needs the hand_crops stage)
    hand_size: int = Field(default=64, gt=0)
    channels: tuple[int, ...] = (32, 64, 128, 256)  # one stride-2 conv stage each
    convs_per_stage: int = Field(default=1, ge=1)  # > 1: residual 3x3 convs per stage (deeper encoder)
    appearance_dim: int = Field(default=256, gt=0)  # f_a (GaitNet 256)
    sign_dim: int = Field(default=64, gt=0)  # f_g (GaitNet 64)
    hand_appearance_dim: int = Field(default=64, gt=0)
    hand_sign_dim: int = Field(default=32, gt=0)
    temporal: Literal["lstm", "transformer"] = "lstm"
    temporal_hidden: int = Field(default=256, gt=0)  # GaitNet's LSTM hidden size
    temporal_layers: int = Field(default=3, gt=0)  # GaitNet: 3-layer LSTM
    transformer_heads: int = Field(default=4, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    grl_coefficient: float = Field(default=1.0, gt=0)
    signer_hidden: int = Field(default=128, gt=0)


class DisentangleModel(nn.Module):
    """Encoders/decoders per stream + temporal model + gloss classifier (+ adversarial signer classifier).

    num_signers > 1 adds the signer classifier on the clip-averaged f_g behind a gradient reversal layer.
    forward(batch) with `background_removed` (B, T, H, W, 3) uint8 (and `hand_crops` (B, T, 2, S, S, 3),
    `hand_crop_valid` (B, T, 2) with the hand stream) -> dict:
    `f_a` (B, T, A), `f_g` (B, T, G) float; `step_logits` (B, T, C), the gloss classifier on the
    running average of the temporal outputs; `signer_logits` (B, S) when adversarial; and per stream
    s in `streams`: `recon_s` (B, T, K, 3, h, w) the cross reconstructions, `target_s` the input
    images, `valid_s` (B, T, K) bool or None (K = 1 body, 2 hands).
    """

    def __init__(self, config: DisentangleNetConfig, num_classes: int, num_signers: int = 0) -> None:
        super().__init__()
        self.config = config
        c = config
        self.streams = ["body", "hands"] if c.hand_stream else ["body"]
        self.sizes = {"body": tuple(c.image_size), "hands": (c.hand_size, c.hand_size)}
        self.dims = {"body": (c.appearance_dim, c.sign_dim), "hands": (c.hand_appearance_dim, c.hand_sign_dim)}
        self.copies = {"body": 1, "hands": 2}
        self.encoders = nn.ModuleDict()
        self.decoders = nn.ModuleDict()
        for s in self.streams:
            da, dg = self.dims[s]
            self.encoders[s] = FrameEncoder(self.sizes[s], c.channels, da, dg, c.convs_per_stage)
            self.decoders[s] = FrameDecoder(self.sizes[s], c.channels, da, dg, c.convs_per_stage)
        self.appearance_dim = sum(self.dims[s][0] * self.copies[s] for s in self.streams)
        self.sign_dim = sum(self.dims[s][1] * self.copies[s] for s in self.streams)
        self.temporal = TemporalModel(
            self.sign_dim, c.temporal_hidden, c.temporal_layers, c.temporal, c.transformer_heads, c.dropout
        )
        self.classifier = nn.Linear(c.temporal_hidden, num_classes)
        self.signer_classifier: nn.Module | None = None
        if num_signers > 1:
            self.signer_classifier = nn.Sequential(
                GradientReversal(c.grl_coefficient),
                nn.Linear(self.sign_dim, c.signer_hidden),
                nn.ReLU(inplace=True),
                nn.Linear(c.signer_hidden, num_signers),
            )

    # images -------------------------------------------------------------------------------------
    def stream_images(self, batch: Mapping[str, Any]) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """Per stream: images (B, T, K, 3, h, w) float in [0, 1] at the configured size, valid (B, T, K) or None."""
        out = {"body": (_to_images(batch["background_removed"].unsqueeze(2), self.sizes["body"]), None)}
        if "hands" in self.streams:
            out["hands"] = (_to_images(batch["hand_crops"], self.sizes["hands"]), batch["hand_crop_valid"].bool())
        return out

    def encode_stream(self, stream: str, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, K, 3, h, w) -> f_a (B, T, K, da), f_g (B, T, K, dg)."""
        B, T, K = images.shape[:3]
        f_a, f_g = self.encoders[stream](images.flatten(0, 2))
        return f_a.view(B, T, K, -1), f_g.view(B, T, K, -1)

    def encode(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """`f_a` (B, T, A), `f_g` (B, T, G) concatenated over streams, and `codes`/`images` per stream."""
        images = self.stream_images(batch)
        codes = {s: self.encode_stream(s, images[s][0]) for s in self.streams}
        f_a = torch.cat([codes[s][0].flatten(2) for s in self.streams], dim=2)
        f_g = torch.cat([codes[s][1].flatten(2) for s in self.streams], dim=2)
        return {"f_a": f_a, "f_g": f_g, "codes": codes, "images": images}

    def decode(self, stream: str, f_a: torch.Tensor, f_g: torch.Tensor) -> torch.Tensor:
        """(..., da), (..., dg) of one stream -> images (..., 3, h, w)."""
        lead = f_a.shape[:-1]
        out = self.decoders[stream](f_a.reshape(-1, f_a.shape[-1]), f_g.reshape(-1, f_g.shape[-1]))
        return out.view(*lead, *out.shape[1:])

    def sign_outputs(self, f_g: torch.Tensor) -> torch.Tensor:
        """Temporal outputs h^1..h^T (B, T, hidden)."""
        return self.temporal(f_g)

    # training forward ---------------------------------------------------------------------------
    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        enc = self.encode(batch)
        f_a, f_g = enc["f_a"], enc["f_g"]
        B, T = f_a.shape[:2]
        # appearance source of each target frame: another random frame t1 != t2 of the same clip
        shift = torch.randint(1, T, (B, T), device=f_a.device) if T > 1 else torch.zeros(B, T, dtype=torch.long)
        t1 = (torch.arange(T, device=f_a.device)[None] + shift.to(f_a.device)) % T  # (B, T)
        out: dict[str, torch.Tensor] = {"f_a": f_a, "f_g": f_g}
        for s in self.streams:
            sa, sg = enc["codes"][s]
            images, valid = enc["images"][s]
            src = torch.gather(sa, 1, t1[:, :, None, None].expand_as(sa))
            out[f"recon_{s}"] = self.decode(s, src, sg)
            out[f"target_{s}"] = images
            if valid is not None:
                out[f"valid_{s}"] = valid & torch.gather(valid, 1, t1[:, :, None].expand_as(valid))
        out["step_logits"] = self.classifier(incremental_average(self.sign_outputs(f_g)))
        if self.signer_classifier is not None:
            out["signer_logits"] = self.signer_classifier(f_g.mean(1))
        return out


def _to_images(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, T, K, h, w, 3) uint8 -> (B, T, K, 3, H, W) float in [0, 1], resized to `size` if needed."""
    B, T, K = x.shape[:3]
    images = x.permute(0, 1, 2, 5, 3, 4).float().div(255)
    if tuple(images.shape[-2:]) != tuple(size):
        flat = F.interpolate(
            images.flatten(0, 2), size=tuple(size), mode="bilinear", antialias=True, align_corners=False
        )
        images = flat.view(B, T, K, 3, *size)
    return images
