"""HandCropSet on real hand-crop shards of the sample corpus (conftest's hand_shards)."""

from __future__ import annotations

import numpy as np
import torch

from signprep.data.hand_crop_set import HandCropSet
from signprep.data.splits import signer_split


def test_crops_split_by_signer(hand_shards):
    crops = HandCropSet.load(hand_shards)
    assert len(crops) > 20 and crops.images.shape[1:] == (64, 64, 3) and crops.images.dtype == torch.uint8
    assert (crops.sources == 1).all() and (crops.keypoints > 0).any()  # landmark crops carry targets
    split = signer_split(crops.signers, crops.splits)
    assert split.test_signers == ["912"] and split.train.any() and split.test.any() and not split.val.any()
    assert {crops.signers[i] for i in np.flatnonzero(split.train)} == {"901"}
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
