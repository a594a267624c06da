"""Siamese cosine embedding (docs/methods.md, "Siamese hand-pose embedding"; thesis Figs. 3.9, 3.11, 3.19).

Frozen features (B, c0) -> `num_layers` linear dual-path layers, each adding `growth`
channels -> Dropout -> Linear to f -> phi(x) on the unit sphere of R^f. Two items are
"the same class" with probability p_ij = sigmoid(beta + alpha^2 phi_i . phi_j) (Eq. 3.19);
alpha and beta are learned. `SiameseModel` puts the head on a frozen hand-pose encoder
(`signprep.models.handpose`), from uint8 hand crops to embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from signprep.data.crop_augment import normalize_crops

__all__ = ["DualPathLayer", "EmbeddingHead", "SiameseModel", "pair_logits", "siamese_pair_loss"]


class DualPathLayer(nn.Module):
    """Fig. 3.11: x (B, c) -> Dropout -> FC to 4c -> BN + LeakyReLU -> FC to c + dc = y;
    output (B, c + dc) = [x + y[:, :c], y[:, c:]] (a residual path and a dense path)."""

    def __init__(self, channels: int, growth: int, dropout: float = 0.25) -> None:
        super().__init__()
        self.channels, self.growth = channels, growth
        self.dropout = nn.Dropout(dropout)
        self.expand = nn.Linear(channels, 4 * channels)
        self.bn = nn.BatchNorm1d(4 * channels)
        self.act = nn.LeakyReLU(0.01)
        self.project = nn.Linear(4 * channels, channels + growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.act(self.bn(self.expand(self.dropout(x)))))
        c = self.channels
        return torch.cat([x + y[:, :c], y[:, c:]], dim=1)


class EmbeddingHead(nn.Module):
    """Fig. 3.19: (B, in_dim) features -> (B, f) unit-norm embedding; holds alpha and beta.

    alpha starts at 2 (alpha^2 = 4 spreads cos in [-1, 1] over a useful logit range), beta at 0.
    `dropout` is that of every dual-path layer and, unless `out_dropout` is given, of the one
    before the last FC (the thesis's KMNIST head, Fig. 3.9, uses 0.25 and 0.5).
    """

    def __init__(
        self,
        in_dim: int,
        embed_dim: int,
        num_layers: int = 8,
        growth: int = 16,
        dropout: float = 0.25,
        out_dropout: float | None = None,
    ) -> None:
        super().__init__()
        layers, c = [], in_dim
        for _ in range(num_layers):
            layers.append(DualPathLayer(c, growth, dropout))
            c += growth
        self.layers = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout if out_dropout is None else out_dropout)
        self.out = nn.Linear(c, embed_dim)
        self.alpha = nn.Parameter(torch.tensor(2.0))
        self.beta = nn.Parameter(torch.tensor(0.0))
        for m in self.modules():  # Xavier, as the hand-pose network (thesis 3.1.2)
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.out(self.dropout(self.layers(features))), dim=1)


class SiameseModel(nn.Module):
    """Frozen hand-pose encoder + `EmbeddingHead`. forward: (B, S, S, 3) uint8 crops -> (B, f) unit vectors.

    encoder: (B, 3, S, S) ImageNet-normalised crops -> (B, feature_dim, h, w), average-pooled here.
    The pooled features are standardised with the training crops' per-channel mean and std
    (buffers, set by `set_feature_scale`): a hand-pose encoder's pooled features vary little
    from crop to crop (std ~1% of their mean on the sample corpus), and the head trained on
    them raw under SGD lr 0.1 fell to the constant "same class with p = prior" solution.
    """

    def __init__(
        self, encoder: nn.Module, feature_dim: int, embed_dim: int, num_layers: int, growth: int, dropout: float
    ) -> None:
        super().__init__()
        self.encoder = encoder
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        self.head = EmbeddingHead(feature_dim, embed_dim, num_layers, growth, dropout)

    def set_feature_scale(self, features: torch.Tensor) -> None:
        """Standardise with these (N, c) raw training features from now on."""
        self.feature_mean.copy_(features.mean(0))
        self.feature_std.copy_(features.std(0).clamp_min(1e-6))

    def standardize(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feature_mean) / self.feature_std

    def train(self, mode: bool = True) -> SiameseModel:
        super().train(mode)
        self.encoder.eval()  # frozen: its BN statistics must not move
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, c) raw pooled encoder features (not standardised)."""
        return self.encoder(normalize_crops(images)).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.standardize(self.features(images)))


def pair_logits(a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """(N, f), (M, f) unit embeddings -> (N, M) logits beta + alpha^2 cos; sigmoid gives p_ij."""
    return beta + alpha**2 * (a @ b.T)


def siamese_pair_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    pos_weight: float,
    beta_weight: float = 0.25,
) -> dict[str, torch.Tensor]:
    """Eqs. 3.19-3.22 over all ordered pairs i != j of the batch.

    BCE(p, y) = -(pos_weight y log p + (1 - y) log(1 - p)), averaged over the pairs, plus
    beta_weight |beta|. Returns {"loss", "bce", "beta_penalty"}.
    """
    n = embeddings.shape[0]
    if n < 2:
        raise ValueError(f"a siamese batch needs at least 2 items, got {n}")
    logits = pair_logits(embeddings.float(), embeddings.float(), alpha, beta)
    same = (labels[:, None] == labels[None, :]).float()
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=embeddings.device)
    weight = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    bce = F.binary_cross_entropy_with_logits(logits[off_diagonal], same[off_diagonal], pos_weight=weight)
    penalty = beta_weight * beta.abs()
    return {"loss": bce + penalty, "bce": bce.detach(), "beta_penalty": penalty.detach()}
