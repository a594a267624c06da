"""HandCropSet on real hand-crop shards of the sample corpus (conftest's hand_shards), the signer
split and the class hold-out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signprep.data.hand_crop_set import HandCropSet, holdout_classes, signer_split


def test_crops_split_by_signer(hand_shards):
    crops = HandCropSet.load(hand_shards)
    assert len(crops) > 20 and crops.images.shape[1:] == (64, 64, 3) and crops.images.dtype == torch.uint8
    assert (crops.sources == 1).all() and (crops.keypoints > 0).any()  # landmark crops carry targets
    train, test, held = signer_split(crops.signers, crops.splits)
    assert held == ["912"] and train.any() and test.any()
    assert {crops.signers[i] for i in np.flatnonzero(train)} == {"901"}
    assert len(HandCropSet.load(hand_shards, frame_stride=3)) < len(crops)


def test_crops_cache_round_trip(hand_shards, tmp_path):
    crops = HandCropSet.load(hand_shards)
    path = crops.save_npz(tmp_path / "crops.npz")
    back = HandCropSet.load_npz(path)
    for name in ("images", "keypoints", "labels", "frames", "hands", "sources"):
        assert torch.equal(getattr(back, name), getattr(crops, name)), name
    for name in ("sample_ids", "signers", "glosses", "splits"):
        assert getattr(back, name) == getattr(crops, name) and type(getattr(back, name)[0]) is str, name
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


def test_evenly_spaced_keeps_the_ends_and_the_order(hand_shards):
    crops = HandCropSet.load(hand_shards)
    few = crops.evenly_spaced(5)
    where = {(s, int(f), int(h)): i for i, (s, f, h) in enumerate(zip(crops.sample_ids, crops.frames, crops.hands))}
    picked = [where[(s, int(f), int(h))] for s, f, h in zip(few.sample_ids, few.frames, few.hands)]
    assert len(picked) == 5 and picked[0] == 0 and picked[-1] == len(crops) - 1
    gaps = np.diff(picked)
    assert (gaps > 0).all() and gaps.max() - gaps.min() <= 1, picked  # in order, evenly spread
    assert torch.equal(few.images[1], crops.images[picked[1]])
    assert crops.evenly_spaced(None) is crops and crops.evenly_spaced(len(crops)) is crops


def test_signer_split_holds_every_crop_of_a_test_signer_out():
    # signer b has a train sample and a test sample: both go to the test side
    signers, splits = ["a", "a", "b", "b", "c"], ["train", "train", "train", "test", "train"]
    train, test, held = signer_split(signers, splits)
    assert held == ["b"] and test.tolist() == [False, False, True, True, False] and (train == ~test).all()
    assert signer_split(signers, splits, test_signers=["c"])[2] == ["c"]
    with pytest.raises(ValueError, match="no test signers"):
        signer_split(signers, ["train"] * 5)
    with pytest.raises(ValueError, match="nothing left to train on"):
        signer_split(signers, splits, test_signers=["a", "b", "c"])


def test_holdout_classes_come_from_both_sides_of_the_split():
    labels = np.array([0, 0, 1, 1, 2, 2, 3])
    train = np.array([True, False, True, False, True, False, True])  # class 3 only on the train side
    chosen = holdout_classes(labels, train, ~train, 2, seed=0)
    assert len(chosen) == 2 and set(chosen) <= {0, 1, 2} and chosen == sorted(chosen)
    assert holdout_classes(labels, train, ~train, 2, seed=0) == chosen  # seeded
    assert holdout_classes(labels, train, ~train, 0, seed=0) == []
    with pytest.raises(ValueError, match="only 3 classes"):
        holdout_classes(labels, train, ~train, 3, seed=0)
