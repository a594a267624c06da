"""The DSFT recipe's losses (docs/methods.md, "The DSFT trainer").

Classification: cross-entropy, or NLA-SLR's language-aware label smoothing ("Language-aware label
smoothing"): for true class b the soft target is y[b] = 1 - eps and
y[i != b] = eps * softmax_{j != b}(s[b, j] / tau)[i], s the cosine similarity of the glosses' text
embeddings; the loss is -sum_i y[i] log softmax(z)[i], averaged over the batch.

Alignment: cross-entropy of each clip's cosine similarities to the text features of every gloss,
divided by a temperature, against its gloss (`alignment_loss`), the same term with and without
the DSFT, so that both variants train the text projection alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["alignment_loss", "label_smoothed_cross_entropy", "language_aware_targets"]


def language_aware_targets(text: torch.Tensor, eps: float, tau: float) -> torch.Tensor:
    """(C, C) soft targets, row b for true class b: 1 - eps at b, eps * softmax_{j != b}(s[b, j] / tau) elsewhere.

    text: (C, E) gloss text embeddings; s is their cosine similarity.
    """
    t = F.normalize(text.float(), dim=1)
    s = (t @ t.T) / tau
    C = s.shape[0]
    eye = torch.eye(C, dtype=torch.bool, device=s.device)
    if C == 1:
        return torch.ones(1, 1, device=s.device)
    off = torch.softmax(s.masked_fill(eye, float("-inf")), dim=1)
    return torch.where(eye, torch.full_like(s, 1 - eps), eps * off)


def label_smoothed_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, soft_targets: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean loss of (B, C) logits for (B,) class indices: plain cross-entropy when `soft_targets` is None,
    else against the (C, C) rows `soft_targets[labels]` (`language_aware_targets`)."""
    if soft_targets is None:
        return F.cross_entropy(logits, labels)
    return -(soft_targets[labels] * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def alignment_loss(
    features: torch.Tensor, text: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """Video -> gloss-text alignment: mean cross-entropy of cos(features_i, text_c) / temperature over the
    C glosses against labels_i. features (B, D), text (C, D) in the same space (both @ H with DSFT)."""
    sim = F.normalize(features.float(), dim=1) @ F.normalize(text.float(), dim=1).T
    return F.cross_entropy(sim / temperature, labels)
