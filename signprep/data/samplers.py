"""Batch samplers for the pair and metric losses, shardable across DDP ranks, and the datasets
that make their batches the items of the shared `Trainer`.

Both samplers take per-item metadata (labels or glosses, signers: e.g. `ShardDataset.labels`,
`.glosses`, `.signers`, read from the index without opening a shard) and yield lists of
dataset indices, for `DataLoader(dataset, batch_sampler=...)`. The Trainer iterates a
dataset's items with its own DistributedSampler instead, so `PairClipDataset` (item: one
same-gloss pair of clips) and `BalancedFeatureBatches` (item: one class-balanced batch of
features) hold a sampler's epoch plan as items; both follow the Trainer's `set_epoch`.

Distributed use follows `torch.utils.data.DistributedSampler`: every rank builds the same
epoch plan from (seed, epoch), pads it by repeating batches to a multiple of
`num_replicas`, and takes every `num_replicas`-th batch from `rank` on; call
`set_epoch(e)` before each epoch. `num_replicas`/`rank` default to the initialised
process group, else 1 and 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler, default_collate

if TYPE_CHECKING:  # type hints only
    from signprep.data.datasets import ShardDataset

__all__ = [
    "BalancedFeatureBatches",
    "ClassBalancedBatchSampler",
    "PairClipDataset",
    "SameGlossPairSampler",
    "collate_pairs",
]


def _replicas(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    if num_replicas is None:
        num_replicas = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if rank is None:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    if not 0 <= rank < num_replicas:
        raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
    return num_replicas, rank


class _ShardedBatchSampler(Sampler[list[int]]):
    """Shared DDP logic: subclasses build the full epoch plan in `_plan(rng)`."""

    def __init__(self, seed: int, num_replicas: int | None, rank: int | None) -> None:
        self.seed, self.epoch = int(seed), 0
        self.num_replicas, self.rank = _replicas(num_replicas, rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _plan(self, rng: np.random.Generator) -> list[list[int]]:
        raise NotImplementedError

    def _num_batches(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        plan = self._plan(np.random.default_rng([self.seed, self.epoch]))
        total = -(-len(plan) // self.num_replicas) * self.num_replicas
        plan = plan + plan[: total - len(plan)]  # pad like DistributedSampler: every rank gets as many batches
        yield from plan[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        return -(-self._num_batches() // self.num_replicas)


class SameGlossPairSampler(_ShardedBatchSampler):
    """Batches of pairs of items with the same gloss by different signers.

    Each epoch every item that has such a partner becomes an anchor once, paired with a
    partner drawn at random; the pairs are shuffled and grouped `pairs_per_batch` at a
    time. A batch is the flat list [i1, j1, i2, j2, ...]: items 2p and 2p + 1 of the
    collated batch form pair p. Glosses without two signers are skipped; if no gloss has
    one, construction fails with a ValueError naming the counts.

    glosses, signers: per-item gloss (or label) and signer id, the same length as the dataset.
    """

    def __init__(
        self,
        glosses: Sequence[Hashable],
        signers: Sequence[Hashable],
        pairs_per_batch: int = 4,
        drop_last: bool = False,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        super().__init__(seed, num_replicas, rank)
        if len(glosses) != len(signers):
            raise ValueError(f"{len(glosses)} glosses but {len(signers)} signers")
        if pairs_per_batch < 1:
            raise ValueError(f"pairs_per_batch must be >= 1, got {pairs_per_batch}")
        self.pairs_per_batch, self.drop_last = pairs_per_batch, drop_last
        by_gloss: dict[Hashable, list[int]] = defaultdict(list)
        for i, g in enumerate(glosses):
            by_gloss[g].append(i)
        # partners[i]: items of i's gloss by another signer
        self.partners: dict[int, list[int]] = {}
        for items in by_gloss.values():
            for i in items:
                others = [j for j in items if signers[j] != signers[i]]
                if others:
                    self.partners[i] = others
        if not self.partners:
            raise ValueError(
                f"no gloss has items by two different signers ({len(by_gloss)} glosses, "
                f"{len(set(signers))} signers, {len(glosses)} items): no same-gloss pair can be formed"
            )
        self.anchors = sorted(self.partners)

    def _num_batches(self) -> int:
        n = len(self.anchors)
        return n // self.pairs_per_batch if self.drop_last else -(-n // self.pairs_per_batch)

    def _plan(self, rng: np.random.Generator) -> list[list[int]]:
        anchors = [self.anchors[k] for k in rng.permutation(len(self.anchors))]
        pairs = [(i, self.partners[i][rng.integers(len(self.partners[i]))]) for i in anchors]
        batches = []
        for b in range(self._num_batches()):
            chunk = pairs[b * self.pairs_per_batch : (b + 1) * self.pairs_per_batch]
            batches.append([k for pair in chunk for k in pair])
        return batches


class ClassBalancedBatchSampler(_ShardedBatchSampler):
    """P classes x K items per batch (the siamese/metric losses' sampling).

    Each batch draws `classes_per_batch` distinct classes and `samples_per_class` items of
    each, without replacement within the class when it has enough items, with replacement
    otherwise (so a class with one item still counts; the loss then sees duplicates).
    Batches are ordered class by class: [c1 x K, c2 x K, ...]. `num_batches` per epoch
    defaults to len(labels) // (P * K), at least 1.

    labels: per-item class (any hashable), the same length as the dataset.
    """

    def __init__(
        self,
        labels: Sequence[Hashable],
        classes_per_batch: int,
        samples_per_class: int,
        num_batches: int | None = None,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        super().__init__(seed, num_replicas, rank)
        by_class: dict[Hashable, list[int]] = defaultdict(list)
        for i, c in enumerate(labels):
            by_class[c].append(i)
        if classes_per_batch < 1 or samples_per_class < 1:
            raise ValueError(f"P and K must be >= 1, got {classes_per_batch} x {samples_per_class}")
        if len(by_class) < classes_per_batch:
            raise ValueError(f"{classes_per_batch} classes per batch, but only {len(by_class)} classes in the data")
        self.classes = [by_class[c] for c in sorted(by_class, key=str)]
        self.p, self.k = classes_per_batch, samples_per_class
        self.num_batches = num_batches if num_batches is not None else max(1, len(labels) // (self.p * self.k))

    def _num_batches(self) -> int:
        return self.num_batches

    def _plan(self, rng: np.random.Generator) -> list[list[int]]:
        batches = []
        for _ in range(self.num_batches):
            batch: list[int] = []
            for c in rng.choice(len(self.classes), self.p, replace=False):
                items = self.classes[c]
                picks = rng.choice(len(items), self.k, replace=len(items) < self.k)
                batch += [items[i] for i in picks]
            batches.append(batch)
        return batches


class PairClipDataset(Dataset):
    """Item k: the k-th pair (two clip dicts of `base`) of the current epoch's `SameGlossPairSampler`
    plan. The sampler runs unsharded here; the Trainer's DistributedSampler shards the pairs.
    `collate_pairs` flattens a list of pairs into one batch [i1, j1, i2, j2, ...], the layout the
    sampler yields (items 2p and 2p + 1 form pair p)."""

    def __init__(self, base: ShardDataset, seed: int = 0) -> None:
        self.base = base
        self.sampler = SameGlossPairSampler(
            base.glosses, base.signers, pairs_per_batch=1, seed=seed, num_replicas=1, rank=0
        )
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.pairs = [tuple(batch) for batch in self.sampler]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> tuple[dict, dict]:
        i, j = self.pairs[k]
        return self.base[i], self.base[j]


def collate_pairs(pairs: Sequence[tuple[dict, dict]]) -> dict:
    """[(a1, b1), (a2, b2), ...] -> the default collate of [a1, b1, a2, b2, ...]."""
    return default_collate([item for pair in pairs for item in pair])


class BalancedFeatureBatches(Dataset):
    """Item i = the i-th class-balanced batch of this epoch's plan: {"features" (P*K, c), "label" (P*K,)}.

    features (N, c) and labels (N,) of the items `sampler` (a `ClassBalancedBatchSampler` over
    `labels`) indexes; `collate` concatenates the `batch_size` items of one optimizer step.
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, sampler: ClassBalancedBatchSampler) -> None:
        self.features, self.labels, self.sampler = features, labels, sampler
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.plan = [torch.tensor(b) for b in self.sampler]

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        idx = self.plan[i]
        return {"features": self.features[idx], "label": self.labels[idx]}

    @staticmethod
    def collate(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {k: torch.cat([it[k] for it in items]) for k in items[0]}
