"""Who and what is held out: train / validation / test by signer, and classes kept out of training.

Every recipe and experiment that reports a held-out figure splits its items (videos or hand
crops, one signer and one shard split each) here, so that choices (epochs, sizes, recipes) are
made on the validation signers and the test signers are only ever scored (docs/methods.md,
"Evaluation conventions").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["SignerSplit", "holdout_classes", "signer_split", "uncovered_classes"]


class SignerSplit(NamedTuple):
    """Boolean (N,) masks over the items, pairwise disjoint, and the held-out signers (sorted strings)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_signers: list[str]
    val_signers: list[str]


def signer_split(
    signers: Sequence[str | int],
    splits: Sequence[str],
    test_signers: Iterable[str | int] | None = None,
    val_signers: Iterable[str | int] = (),
) -> SignerSplit:
    """Train / validation / test masks with no signer on two sides.

    test_signers None: every signer with an item in the `test` split. WLASL-style splits put a
    gloss's last signer in `test`, so one signer can hold train items of other glosses; every item
    of a test signer goes to the test side here, so the test signers are truly unseen.
    val_signers: signers taken out of training and scored as validation (never test signers).
    Raises ValueError naming the signers when a set is empty, unknown, overlapping, or leaves
    nothing to train on.
    """
    signers = np.asarray([str(s) for s in signers])
    known = set(signers.tolist())
    if test_signers is None:
        held = sorted({str(s) for s, sp in zip(signers, splits) if sp == "test"})
    else:
        held = sorted({str(s) for s in test_signers})
    if not held:
        raise ValueError("no test signers: the shards have no `test` split and none were given")
    val = sorted({str(s) for s in val_signers})
    unknown = sorted(set(val) - known)
    if unknown:
        raise ValueError(f"val_signers {', '.join(unknown)}: no such signer (signers: {', '.join(sorted(known))})")
    both = sorted(set(val) & set(held))
    if both:
        raise ValueError(f"val_signers {', '.join(both)} are test signers: validation must not see the test set")
    test = np.isin(signers, held)
    val_mask = np.isin(signers, val)
    train = ~test & ~val_mask
    if not train.any():
        raise ValueError(
            f"every item is by a test or validation signer ({', '.join(held + val)}): nothing left to train on"
        )
    return SignerSplit(train, val_mask, test, held, val)


def uncovered_classes(labels: np.ndarray, train: np.ndarray, scored: np.ndarray) -> list[int]:
    """Classes of the `scored` items that no training item has: a closed-set classifier cannot get them
    right, so a split whose classes are all uncovered measures nothing about recognition."""
    return sorted(int(c) for c in set(labels[scored].tolist()) - set(labels[train].tolist()))


def holdout_classes(labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray, n: int, seed: int) -> list[int]:
    """n classes (a seeded choice) among those with items on both sides of the signer split, to keep out of
    training and evaluate as unseen classes. Raises ValueError when fewer than n + 1 such classes exist."""
    if n == 0:
        return []
    both = sorted(set(labels[train_mask]) & set(labels[test_mask]))
    if n >= len(both):
        raise ValueError(f"holdout_classes {n}: only {len(both)} classes have crops by both train and test signers")
    return sorted(int(c) for c in np.random.default_rng(seed).choice(both, n, replace=False))
