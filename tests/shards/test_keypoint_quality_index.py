"""Keypoint quality figures in the sample attributes and the index, recomputed for older shards, filterable."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from signprep.kernels.keypoint_quality import keypoint_quality
from signprep.shards import ShardReader
from signprep.shards.schema import INDEX_NAME, SAMPLES_GROUP


def _by_hand(view) -> dict[str, float]:
    """A few figures computed here from the arrays, without the quality module."""
    present, layout = view.read("keypoint_present"), view.layout()
    left = present[:, layout.slice("left_hand")].any(1).mean()
    right = present[:, layout.slice("right_hand")].any(1).mean()
    return {"left_hand_fraction": left, "right_hand_fraction": right, "dominant_hand_fraction": max(left, right),
            "face_fraction": present[:, layout.slice("face")].any(1).mean()}  # fmt: skip


def test_the_extraction_stores_the_figures_in_the_attributes_and_the_index(reference_run):
    out, _, _ = reference_run
    with ShardReader(out) as reader:
        for sample_id in reader:
            view = reader[sample_id]
            stored = json.loads(view.attrs["keypoint_quality"])
            assert reader.index.samples[sample_id]["quality"] == stored
            arrays = [view.read(n) for n in ("keypoint_present", "keypoint_confidence", "keypoints", "frame_indices")]
            assert keypoint_quality(*arrays) == stored  # computed in one place, from the stored arrays
            for name, value in _by_hand(view).items():
                assert stored[name] == pytest.approx(value, abs=1e-4), (sample_id, name)


def test_ids_filter_on_the_figures(reference_run, small_ids):
    out, _, _ = reference_run
    with ShardReader(out) as reader:
        fractions = {s: _by_hand(reader[s])["dominant_hand_fraction"] for s in reader}
        # the median sample's fraction, between two of the stored figures' 4-decimal steps
        threshold = round(float(np.median(list(fractions.values()))), 4) - 0.00005
        chosen = reader.ids(min_quality={"dominant_hand_fraction": threshold})
        assert chosen == sorted(s for s, f in fractions.items() if f >= threshold)
        assert 0 < len(chosen) < len(small_ids)
        assert reader.ids(split="train", min_quality={"dominant_hand_fraction": 0.0}) == sorted(small_ids)
        assert reader.ids(max_quality={"dominant_hand_longest_gap": -1}) == []
        with pytest.raises(ValueError, match="unknown quality figure 'dominant_hand'"):
            reader.ids(min_quality={"dominant_hand": 1})


def test_shards_written_before_the_figures_get_them_recomputed(reference_run, tmp_path):
    out, _, _ = reference_run
    old = tmp_path / "old"
    shutil.copytree(out, old, ignore=shutil.ignore_patterns(".signprep.extraction.lock"))
    index = json.loads((old / INDEX_NAME).read_text())
    expected = {sample_id: entry.pop("quality") for sample_id, entry in index["samples"].items()}
    (old / INDEX_NAME).write_text(json.dumps(index))
    for shard in old.glob("shard-*.h5"):
        with h5py.File(shard, "r+") as f:
            for g in f[SAMPLES_GROUP].values():
                del g.attrs["keypoint_quality"]
    with ShardReader(out) as new, ShardReader(old) as reader:
        for sample_id in reader:
            assert "keypoint_quality" not in reader[sample_id].attrs
            assert reader.quality(sample_id) == expected[sample_id] == new.quality(sample_id)
        bounds = {"dominant_hand_fraction": 0.9}
        assert reader.ids(min_quality=bounds) == new.ids(min_quality=bounds)
