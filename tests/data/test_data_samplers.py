"""signprep.data.samplers on synthetic metadata (real shards: test_shard_dataset.py), and the datasets
over their batches (the pair clips on conftest's disentangle_shards)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from signprep.data import ShardDataset
from signprep.data.samplers import (
    BalancedFeatureBatches,
    ClassBalancedBatchSampler,
    PairClipDataset,
    SameGlossPairSampler,
    collate_pairs,
)

GLOSSES = ["a", "a", "a", "b", "b", "c", "c", "d"]
SIGNERS = ["s1", "s2", "s1", "s1", "s3", "s2", "s2", "s1"]  # c: one signer only, d: one item


def test_pairs_are_same_gloss_different_signer():
    sampler = SameGlossPairSampler(GLOSSES, SIGNERS, pairs_per_batch=2, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3  # anchors: a x3, b x2 -> 5 pairs -> 3 batches
    anchors = []
    for batch in batches:
        for i, j in zip(batch[0::2], batch[1::2]):
            assert GLOSSES[i] == GLOSSES[j] and SIGNERS[i] != SIGNERS[j]
            anchors.append(i)
    assert sorted(anchors) == [0, 1, 2, 3, 4]


def test_pair_sampler_without_pairs_fails_clearly():
    with pytest.raises(ValueError, match="no gloss has items by two different signers"):
        SameGlossPairSampler(["c", "c", "d"], ["s2", "s2", "s1"])


def test_pair_sampler_epochs_differ_and_repeat():
    sampler = SameGlossPairSampler(GLOSSES, SIGNERS, pairs_per_batch=5, seed=0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == first and second != first


def test_class_balanced_p_by_k():
    labels = [i // 3 for i in range(30)]  # 10 classes x 3
    sampler = ClassBalancedBatchSampler(labels, classes_per_batch=4, samples_per_class=2, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 30 // 8
    for batch in batches:
        counts = Counter(labels[i] for i in batch)
        assert len(batch) == 8 and len(counts) == 4 and set(counts.values()) == {2}
        assert len(set(batch)) == 8  # enough items per class: no duplicates


def test_class_balanced_small_class_and_errors():
    sampler = ClassBalancedBatchSampler([0, 1, 1, 1], classes_per_batch=2, samples_per_class=2, num_batches=3)
    for batch in sampler:
        assert Counter([0, 1, 1, 1][i] for i in batch) == {0: 2, 1: 2}  # class 0 drawn with replacement
    with pytest.raises(ValueError, match="only 2 classes"):
        ClassBalancedBatchSampler([0, 1], classes_per_batch=3, samples_per_class=1)


@pytest.mark.parametrize("make", [
    lambda r: SameGlossPairSampler(GLOSSES, SIGNERS, pairs_per_batch=1, seed=4, num_replicas=2, rank=r),
    lambda r: ClassBalancedBatchSampler(list(range(5)) * 2, 2, 2, num_batches=5, seed=4, num_replicas=2, rank=r),
])  # fmt: skip
def test_replicas_split_the_epoch_plan(make):
    full = list(_single(make))
    ranks = [list(make(r)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(make(0)) == -(-len(full) // 2)
    assert ranks[0] == full[0::2] and ranks[1] == (full + full[:1])[1::2]


def _single(make):
    sampler = make(0)
    sampler.num_replicas, sampler.rank = 1, 0
    return sampler


def test_pairs_are_same_gloss_different_signer_and_collate_in_sampler_order(disentangle_shards):
    base = ShardDataset(disentangle_shards, modalities=("background_removed",), clip_len=8, label_map=True, seed=0)
    pairs = PairClipDataset(base, seed=0)
    assert len(pairs) == 4  # every video is an anchor once
    batch = collate_pairs([pairs[0], pairs[1]])
    assert batch["background_removed"].shape == (4, 8, 64, 64, 3) and batch["background_removed"].dtype == torch.uint8
    for p in range(2):
        assert batch["gloss"][2 * p] == batch["gloss"][2 * p + 1]
        assert batch["signer_id"][2 * p] != batch["signer_id"][2 * p + 1]
        assert batch["label"][2 * p] == batch["label"][2 * p + 1]


def test_balanced_feature_batches_are_the_sampler_plan_of_each_epoch():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    features = torch.arange(8.0)[:, None].expand(8, 3)  # feature row i holds i
    sampler = ClassBalancedBatchSampler(labels.tolist(), 2, 2, num_batches=3, seed=4, num_replicas=1, rank=0)
    batches = BalancedFeatureBatches(features, labels, sampler)
    assert len(batches) == 3
    plans = []
    for e in (0, 1):
        batches.set_epoch(e)
        sampler.set_epoch(e)
        plans.append(list(sampler))
        for item, plan in zip([batches[i] for i in range(3)], plans[-1]):
            assert item["features"][:, 0].long().tolist() == plan and torch.equal(item["label"], labels[plan])
    assert plans[0] != plans[1]  # so the items did follow the epoch
    step = BalancedFeatureBatches.collate([batches[0], batches[1]])
    assert step["features"].shape == (8, 3) and torch.equal(
        step["label"], torch.cat([batches[0]["label"], batches[1]["label"]])
    )
