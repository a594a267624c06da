"""Low-shot evaluation of an embedding: S prototypes per class against held-out queries
(thesis 3.3; the siamese recipe's per-epoch and final evaluation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from signprep.evaluation.metrics import confusion_matrix, per_class_topk_accuracy, topk_accuracy
from signprep.models.prototypes import PrototypeClassifier, choose_prototypes

__all__ = ["evaluate_lowshot", "lowshot_metrics"]

ACCURACIES = ("top1", "top2", "top1_per_class", "sample_top1", "sample_top2")


@torch.no_grad()
def evaluate_lowshot(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    prototype_pool: np.ndarray,
    query_mask: np.ndarray,
    alpha: float,
    beta: float,
    *,
    classes: Sequence[int] | None = None,
    per_class: int = 10,
    rule: str = "max",
    seed: int = 0,
    sample_ids: Sequence[str] | None = None,
) -> dict:
    """Low-shot accuracy of `per_class` prototypes drawn from the crops in `prototype_pool` (bool (N,)),
    classifying the crops in `query_mask`; only classes (in `classes`, default all) with both count.

    embeddings (N, f) unit vectors, labels (N,) int64. Returns {"classes", "queries", "prototypes",
    "chance_top1", "top1", "top2", "top1_per_class", "confusion" (C, C) list (rows true), and with
    `sample_ids` "samples", "sample_top1", "sample_top2" (a sample's class scores averaged over its
    crops)}; an empty dict when fewer than 2 classes qualify.
    """
    labels_np = labels.numpy()
    allowed = set(np.unique(labels_np)) if classes is None else {int(c) for c in classes}
    common = sorted(int(c) for c in allowed & set(labels_np[prototype_pool]) & set(labels_np[query_mask]))
    if len(common) < 2:
        return {}
    pool = np.flatnonzero(prototype_pool & np.isin(labels_np, common))
    queries = np.flatnonzero(query_mask & np.isin(labels_np, common))
    protos = pool[choose_prototypes(labels_np[pool], per_class, seed)]
    clf = PrototypeClassifier(embeddings[protos], labels[protos], alpha, beta, rule=rule)  # type: ignore[arg-type]
    scores = clf.scores(embeddings[queries])
    column = {int(c): i for i, c in enumerate(clf.classes.tolist())}
    y = torch.tensor([column[int(c)] for c in labels_np[queries]])
    top = topk_accuracy(scores, y, (1, 2))
    result = {
        "classes": common,
        "queries": int(len(queries)),
        "prototypes": int(len(protos)),
        "chance_top1": 1 / len(common),
        "top1": top[1],
        "top2": top[2],
        "top1_per_class": per_class_topk_accuracy(scores, y, (1,))[1],
        "confusion": confusion_matrix(scores.argmax(1), y, len(common)).tolist(),
    }
    if sample_ids is not None:
        sids = np.asarray(sample_ids)[queries]
        names = sorted(set(sids))
        s_scores = torch.stack([scores[torch.from_numpy(sids == s)].mean(0) for s in names])
        s_y = torch.stack([y[torch.from_numpy(sids == s)][0] for s in names])
        s_top = topk_accuracy(s_scores, s_y, (1, 2))
        result.update({"samples": len(names), "sample_top1": s_top[1], "sample_top2": s_top[2]})
    return result


def lowshot_metrics(result: Mapping, prefix: str) -> dict[str, float]:
    """The flat metrics of one `evaluate_lowshot` result: `prefix/<accuracy>` and its chance
    `prefix/chance_<accuracy>` (a uniform guess: k/C for top-k), `prefix/classes`, `prefix/queries`."""
    if not result:
        return {}
    c = len(result["classes"])
    out: dict[str, float] = {f"{prefix}/classes": float(c), f"{prefix}/queries": float(result["queries"])}
    for name in ACCURACIES:
        if name in result:
            k = 2 if name.endswith("top2") else 1
            out[f"{prefix}/{name}"] = float(result[name])
            out[f"{prefix}/chance_{name}"] = min(1.0, k / c)
    return out
