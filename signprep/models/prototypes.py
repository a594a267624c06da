"""Low-shot classification from S prototypes per class (thesis Eqs. 3.23-3.25).

For a query x and prototype i of class c, p_ic = sigmoid(beta + alpha^2 phi(x) . phi(x_ic)).
The `max` rule scores class c by max_i p_ic (the thesis's choice), the `mean` rule by
(1/S) sum_i p_ic. Classes are whatever labels the prototypes carry: unseen classes work
the same as the classes the embedding was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from signprep.models.siamese import pair_logits

__all__ = ["PrototypeClassifier", "choose_prototypes"]

Rule = Literal["max", "mean"]


def choose_prototypes(labels: Sequence[int] | np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of `per_class` items of each class drawn without replacement (all of a smaller class).

    Sorted by class, then by draw; deterministic in `seed`.
    """
    labels = np.asarray(labels)
    if per_class < 1:
        raise ValueError(f"prototypes per class must be >= 1, got {per_class}")
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        items = np.flatnonzero(labels == c)
        picks.append(rng.choice(items, min(per_class, len(items)), replace=False))
    return np.concatenate(picks) if picks else np.zeros(0, np.int64)


class PrototypeClassifier:
    """scores(queries) -> (N, C) class scores in [0, 1], column c for `classes[c]`.

    prototypes: (P, f) unit embeddings; prototype_labels: (P,) class ids; alpha, beta: the
    embedding head's scalars.
    """

    def __init__(
        self,
        prototypes: torch.Tensor,
        prototype_labels: torch.Tensor,
        alpha: float | torch.Tensor,
        beta: float | torch.Tensor,
        rule: Rule = "max",
    ) -> None:
        if rule not in ("max", "mean"):
            raise ValueError(f"prototype rule must be 'max' or 'mean', got {rule!r}")
        if prototypes.shape[0] != prototype_labels.shape[0] or prototypes.shape[0] == 0:
            raise ValueError(
                f"need as many prototype labels as prototypes (> 0), got {prototype_labels.shape[0]} "
                f"labels for {prototypes.shape[0]} prototypes"
            )
        self.prototypes = prototypes.float()
        self.classes, self.index = torch.unique(prototype_labels, return_inverse=True)
        self.alpha, self.beta = torch.as_tensor(alpha).float(), torch.as_tensor(beta).float()
        self.rule = rule

    def scores(self, queries: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(pair_logits(queries.float(), self.prototypes, self.alpha, self.beta))  # (N, P)
        C = len(self.classes)
        idx = self.index.expand(p.shape[0], -1)
        if self.rule == "max":
            out = torch.zeros(p.shape[0], C).scatter_reduce(1, idx, p, reduce="amax", include_self=False)
        else:
            out = torch.zeros(p.shape[0], C).scatter_reduce(1, idx, p, reduce="mean", include_self=False)
        return out

    def predict(self, queries: torch.Tensor) -> torch.Tensor:
        """(N,) predicted class ids (values of `classes`)."""
        return self.classes[self.scores(queries).argmax(dim=1)]
