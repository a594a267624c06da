"""Vocabulary of a real shard directory (conftest's dsft_shards: eat and yes, two samples each)."""

from __future__ import annotations

import json
import shutil

import pytest

from signprep.data import Vocabulary
from signprep.shards import ShardReader


def test_vocabulary_maps_the_shard_labels_in_order(dsft_shards):
    vocab = Vocabulary.from_shards(dsft_shards)
    with ShardReader(dsft_shards) as reader:
        gloss_of = {int(e["label"]): e["gloss"] for e in reader.index.samples.values()}
    assert len(gloss_of) == 2 and len(vocab) == 2 and vocab.glosses == ["eat", "yes"]
    labels = sorted(gloss_of)
    assert vocab.label_map == {labels[0]: 0, labels[1]: 1} and [gloss_of[k] for k in labels] == vocab.glosses
    d = vocab.to_dict()
    assert d == {"labels": labels, "glosses": ["eat", "yes"]}
    back = Vocabulary.from_dict(json.loads(json.dumps(d)))  # plain values: survives any serialisation
    assert back.label_map == vocab.label_map and back.glosses == vocab.glosses


def test_vocabulary_of_unlabelled_shards_is_an_error_naming_them(dsft_shards, tmp_path):
    copy = tmp_path / "unlabelled"
    shutil.copytree(dsft_shards, copy)
    index = json.loads((copy / "shard_index.json").read_text())
    for entry in index["samples"].values():
        entry["label"] = -1
    (copy / "shard_index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=f"{copy}: no labelled samples"):
        Vocabulary.from_shards(copy)
