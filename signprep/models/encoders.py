"""Visual encoders for the DSFT trainer: clips -> one feature vector per clip.

- :class:`KeypointTransformerEncoder` (SPOTER-like): a small transformer over the
  per-frame vectors of normalised keypoints, (B, T, K, C) -> (B, D).
- :class:`Heatmap3DCNN`: a small 3D CNN over keypoint heatmaps rendered on the
  fly (`signprep.data.HeatmapBatchTransform`), (B, T, K', H, W) -> (B, D).

Both are deliberately small (the sample corpus trains on a CPU); their sizes
come from the model config (`models/dsft.yaml`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Heatmap3DCNN", "KeypointTransformerEncoder"]


class KeypointTransformerEncoder(nn.Module):
    """Transformer over frames of normalised keypoints; the class token's output is the clip feature.

    Args:
        num_keypoints: K.
        dim: D, output (and model) width.
        depth: transformer layers.
        heads: attention heads (must divide `dim`).
        max_len: longest clip (learned positional embeddings).
        channels: C per keypoint (x, y, z from `ShardDataset`; the encoder uses all).
        dropout: inside the transformer layers.

    Input (B, T, K, C) float, optional `present` (B, T, K) bool (absent points are
    zeroed). Returns (B, D).
    """

    def __init__(
        self,
        num_keypoints: int,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
        max_len: int = 128,
        channels: int = 3,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.num_keypoints, self.channels, self.max_len = num_keypoints, channels, max_len
        self.embed = nn.Sequential(nn.LayerNorm(num_keypoints * channels), nn.Linear(num_keypoints * channels, dim))
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, max_len + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, keypoints: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        B, T, K, C = keypoints.shape
        if (K, C) != (self.num_keypoints, self.channels):
            raise ValueError(
                f"expected (B, T, {self.num_keypoints}, {self.channels}) keypoints, got {tuple(keypoints.shape)}"
            )
        if T > self.max_len:
            raise ValueError(f"clip of {T} frames is longer than max_len={self.max_len}")
        x = torch.nan_to_num(keypoints.float())
        if present is not None:
            x = x * present.unsqueeze(-1).to(x.dtype)
        tokens = self.embed(x.reshape(B, T, K * C))
        tokens = torch.cat([self.cls.expand(B, -1, -1), tokens], dim=1) + self.pos[:, : T + 1]
        return self.norm(self.transformer(tokens)[:, 0])


class Heatmap3DCNN(nn.Module):
    """Small 3D CNN over heatmap clips: conv-BN-ReLU blocks, global average pool, linear to D.

    Args:
        in_channels: K', heatmap channels (keypoints rendered).
        dim: D, output width.
        width: channels of the first block (doubled in each later block).
        blocks: number of conv blocks; each after the first halves T, H and W.

    Input (B, T, K', H, W). Returns (B, D).
    """

    def __init__(self, in_channels: int, dim: int = 128, width: int = 16, blocks: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(blocks):
            c_out = width * 2**i
            stride = 1 if i == 0 else 2
            layers += [
                nn.Conv3d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, dim)
        self.in_channels = in_channels

    def forward(self, heatmaps: torch.Tensor) -> torch.Tensor:
        if heatmaps.ndim != 5 or heatmaps.shape[2] != self.in_channels:
            raise ValueError(f"expected (B, T, {self.in_channels}, H, W) heatmaps, got {tuple(heatmaps.shape)}")
        x = self.features(heatmaps.float().transpose(1, 2))  # (B, K', T, H, W) for Conv3d
        return self.head(x.mean(dim=(2, 3, 4)))
