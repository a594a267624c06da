"""Metrics on tensors: top-k accuracy (WLASL conventions), confusion matrix, retrieval.

WLASL reports top-1/5/10 both per instance (fraction of test samples whose
true class is among the k highest scores) and per class (accuracy computed
within each class, then averaged over the classes present in the labels).
All functions return fractions in [0, 1], not percentages.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "confusion_matrix",
    "per_class_topk_accuracy",
    "retrieval_hits",
    "retrieval_topk",
    "topk_accuracy",
    "topk_hits",
]


def topk_hits(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[int, torch.Tensor]:
    """For each k, a bool (N,) tensor: is `labels[i]` among the k highest `scores[i]`?

    scores: (N, C) logits or probabilities; labels: (N,) int class indices in [0, C).
    A k larger than C counts every sample as a hit (the whole ranking is "top-k").
    """
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(f"expected scores (N, C) and labels (N,), got {tuple(scores.shape)} and {tuple(labels.shape)}")
    kmax = min(max(ks), scores.shape[1])
    top = scores.topk(kmax, dim=1).indices  # (N, kmax), best first
    match = top == labels.reshape(-1, 1).to(top.device)
    return {k: match[:, : min(k, kmax)].any(dim=1) for k in ks}


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """Per-instance top-k accuracy: {k: fraction of the N samples with the true class in the top k}."""
    return {k: hit.float().mean().item() for k, hit in topk_hits(scores, labels, ks).items()}


def per_class_topk_accuracy(
    scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5, 10)
) -> dict[int, float]:
    """Per-class top-k accuracy: the top-k accuracy of each class present in `labels`, averaged over those classes."""
    labels = labels.to(scores.device).long()
    classes, inverse = labels.unique(return_inverse=True)
    counts = torch.bincount(inverse, minlength=len(classes)).double()
    out = {}
    for k, hit in topk_hits(scores, labels, ks).items():
        per_class = torch.zeros(len(classes), dtype=torch.float64, device=scores.device)
        per_class.index_add_(0, inverse, hit.double())
        out[k] = (per_class / counts).mean().item()
    return out


def confusion_matrix(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted class.

    pred, labels: (N,) int class indices in [0, num_classes).
    """
    pred, labels = pred.reshape(-1).long(), labels.reshape(-1).long().to(pred.device)
    if pred.shape != labels.shape:
        raise ValueError(f"pred and labels differ in length: {pred.numel()} vs {labels.numel()}")
    if pred.numel() and (min(pred.min(), labels.min()) < 0 or max(pred.max(), labels.max()) >= num_classes):
        raise ValueError(f"class indices must lie in [0, {num_classes})")
    flat = labels * num_classes + pred
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def retrieval_hits(
    query: torch.Tensor,
    gallery: torch.Tensor,
    query_labels: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[int, torch.Tensor]:
    """Cross-modal retrieval by cosine similarity, e.g. video -> gloss text: for each k, a bool (Q,) tensor,
    True where any of the query's k most similar gallery items carries its label.

    query: (Q, D) embeddings; gallery: (G, D) embeddings of the other modality;
    query_labels (Q,), gallery_labels (G,): class ids. A k larger than G uses all of G.
    """
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"expected query (Q, D) and gallery (G, D), got {tuple(query.shape)} and {tuple(gallery.shape)}"
        )
    sim = F.normalize(query.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T  # (Q, G) cosine
    kmax = min(max(ks), gallery.shape[0])
    top = sim.topk(kmax, dim=1).indices  # (Q, kmax)
    match = gallery_labels.to(sim.device)[top] == query_labels.to(sim.device).reshape(-1, 1)
    return {k: match[:, : min(k, kmax)].any(dim=1) for k in ks}


def retrieval_topk(
    query: torch.Tensor,
    gallery: torch.Tensor,
    query_labels: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[int, float]:
    """Cross-modal retrieval recall@k (`retrieval_hits`): {k: fraction of the Q queries that hit}."""
    hits = retrieval_hits(query, gallery, query_labels, gallery_labels, ks)
    return {k: hit.float().mean().item() for k, hit in hits.items()}
