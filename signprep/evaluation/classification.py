"""Gloss classification and video -> gloss-text retrieval of a model over a dataset
(the DSFT recipe's per-epoch evaluation)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from signprep.evaluation.metrics import per_class_topk_accuracy, retrieval_hits, topk_accuracy

__all__ = ["evaluate_gloss_classifier"]


@torch.no_grad()
def evaluate_gloss_classifier(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int,
    device: torch.device,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> dict[str, float]:
    """One pass over `dataset` in order (eval mode): `loss` (loss_fn of all logits and labels), `top1`,
    `top5` per instance and `top1_per_class`, `top5_per_class`, and `retrieval_top1`/`_top5` (cosine
    between each clip's features and the text features of every class).

    model: forward(batch) -> {"logits" (B, C), "features" (B, D), "text" (C, D)}; batches carry `label`.
    Each batch's clips are ranked against the text of the same forward, so retrieval stays right
    for a model whose transformation (of clips and text alike) differs from batch to batch.
    """
    was_training = model.training
    model.eval()
    logits, labels, hits = [], [], {1: [], 5: []}
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        out = model(batch)
        logits.append(out["logits"].float())
        labels.append(batch["label"])
        text = out["text"].float()
        classes = torch.arange(text.shape[0], device=text.device)
        for k, hit in retrieval_hits(out["features"].float(), text, batch["label"], classes, (1, 5)).items():
            hits[k].append(hit)
    model.train(was_training)
    L, y = torch.cat(logits), torch.cat(labels)
    top = topk_accuracy(L, y, (1, 5))
    per_class = per_class_topk_accuracy(L, y, (1, 5))
    retr = {k: torch.cat(h).float().mean().item() for k, h in hits.items()}
    return {
        "loss": loss_fn(L, y).item(),
        "top1": top[1],
        "top5": top[5],
        "top1_per_class": per_class[1],
        "top5_per_class": per_class[5],
        "retrieval_top1": retr[1],
        "retrieval_top5": retr[5],
    }
