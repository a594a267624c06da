"""signprep.data.samplers on synthetic metadata (real shards: test_shard_dataset.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from signprep.data.samplers import ClassBalancedBatchSampler, SameGlossPairSampler

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
