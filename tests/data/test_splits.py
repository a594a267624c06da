"""Signer splits (train / validation / test) and the class hold-out."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.data.splits import holdout_classes, signer_split, uncovered_classes


def test_signer_split_holds_every_item_of_a_test_signer_out():
    # signer b has a train item and a test item: both go to the test side
    signers, splits = ["a", "a", "b", "b", "c"], ["train", "train", "train", "test", "train"]
    split = signer_split(signers, splits)
    assert split.test_signers == ["b"] and split.test.tolist() == [False, False, True, True, False]
    assert (split.train == ~split.test).all() and not split.val.any() and split.val_signers == []
    assert signer_split(signers, splits, test_signers=["c"]).test_signers == ["c"]
    with pytest.raises(ValueError, match="no test signers"):
        signer_split(signers, ["train"] * 5)
    with pytest.raises(ValueError, match="nothing left to train on"):
        signer_split(signers, splits, test_signers=["a", "b", "c"])


def test_validation_signers_leave_training_and_never_overlap_the_test_signers():
    signers = [1, 1, 2, 3, 3, 4]  # integer ids compare as strings, as in the shard index
    splits = ["train", "train", "train", "train", "test", "train"]
    split = signer_split(signers, splits, val_signers=[4, "2"])
    assert split.val_signers == ["2", "4"] and split.test_signers == ["3"]
    assert split.train.tolist() == [True, True, False, False, False, False]
    assert split.val.tolist() == [False, False, True, False, False, True]
    assert not (split.train & split.val).any() and not (split.val & split.test).any()
    with pytest.raises(ValueError, match="val_signers 3 are test signers"):
        signer_split(signers, splits, val_signers=["3"])
    with pytest.raises(ValueError, match="val_signers 7: no such signer"):
        signer_split(signers, splits, val_signers=["7"])
    with pytest.raises(ValueError, match="nothing left to train on"):
        signer_split(signers, splits, val_signers=["1", "2", "4"])


def test_uncovered_classes_are_those_no_training_item_has():
    labels = np.array([0, 1, 2, 0, 3])
    train = np.array([True, True, False, False, False])
    assert uncovered_classes(labels, train, ~train) == [2, 3]
    assert uncovered_classes(labels, train, train) == []


def test_holdout_classes_come_from_both_sides_of_the_split():
    labels = np.array([0, 0, 1, 1, 2, 2, 3])
    train = np.array([True, False, True, False, True, False, True])  # class 3 only on the train side
    chosen = holdout_classes(labels, train, ~train, 2, seed=0)
    assert len(chosen) == 2 and set(chosen) <= {0, 1, 2} and chosen == sorted(chosen)
    assert holdout_classes(labels, train, ~train, 2, seed=0) == chosen  # seeded
    assert holdout_classes(labels, train, ~train, 0, seed=0) == []
    with pytest.raises(ValueError, match="only 3 classes"):
        holdout_classes(labels, train, ~train, 3, seed=0)
