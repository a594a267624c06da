"""ShardDataset's read path (per-sample attributes once, chunk-wise frame reads, the keypoint cache)
gives the items of the plain path it replaced (signprep.data.reference_clips), bit for bit, on shards
of the old storage default (gzip 4, 64-frame chunks) and of the new one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from signprep.data import ShardDataset
from signprep.data.reference_clips import reference_item
from signprep.shards import ShardReader
from signprep.shards.repack import repack
from signprep.shards.verify import verify_dir
from signprep.shards.writer import Storage

# the storage every shard had before issue 22: still readable, and read the same
OLD_STORAGE = Storage(
    compression="gzip", compression_level=4, chunk_frames=64, chunk_bytes=2**20, one_frame_chunks_above=None
)


def assert_same_item(ours: dict, reference: dict, where) -> None:
    # keys other work adds to items (none here) would be checked by their own tests
    missing = set(reference) - set(ours)
    assert not missing, (where, missing)
    for key, value in reference.items():
        if torch.is_tensor(value):
            got = ours[key]
            assert got.dtype == value.dtype and got.shape == value.shape, (where, key, got.dtype, got.shape)
            assert torch.equal(got, value), (where, key)
        else:
            assert ours[key] == value, (where, key)


@pytest.fixture(scope="module")
def old_format(tmp_path_factory, dsft_shards) -> Path:
    out = tmp_path_factory.mktemp("old-format") / "out"
    repack(dsft_shards, out, OLD_STORAGE)
    return out


KEYPOINT_CONFIGS = [
    {"keypoint_subset": "signvtcl79", "augment": True, "sampling": "random", "seed": 3},
    {"keypoint_subset": "signvtcl79", "augment": True, "sampling": "random", "seed": 3, "keypoint_cache_mb": 0},
    {"keypoint_subset": "hands", "augment": True, "seed": 5},  # no shoulders in the subset: read beside it
    {"keypoint_subset": "all", "normalize_keypoints": False},
    {"keypoint_subset": "face", "pad": "repeat_last", "clip_len": 40, "augment": True, "seed": 1},
    {"keypoint_subset": "signvtcl79", "clip_len": None, "augment": True, "seed": 2},  # whole samples
]


@pytest.mark.parametrize("config", KEYPOINT_CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_keypoint_items_equal_the_reference_path(dsft_shards, old_format, config):
    for root in (dsft_shards, old_format):
        ds = ShardDataset(root, **config)
        with ShardReader(root) as reader:
            for epoch in (0, 1):
                ds.set_epoch(epoch)
                for i in range(len(ds)):
                    assert_same_item(ds[i], reference_item(ds, i, reader), (root.name, epoch, i))
        cache = ds.keypoint_cache
        if ds.keypoint_cache_mb:  # the second epoch came from memory
            assert (len(cache), cache.misses, cache.hits) == (len(ds), len(ds), len(ds))
        else:
            assert len(cache) == cache.hits == cache.misses == 0


@pytest.mark.parametrize(
    "storage",
    [None, OLD_STORAGE, Storage(compression="none"), Storage(compression="lz4"), Storage(compression="lzf")],
    ids=["default", "old", "none", "lz4", "lzf"],
)
def test_every_modality_equals_the_reference_path(all_stages_run, tmp_path, storage):
    out_dir, _ = all_stages_run
    if storage is not None:
        repack(out_dir, tmp_path / "out", storage)
        out_dir = tmp_path / "out"
    modalities = ("keypoints", "frames", "heatmaps", "flow", "flow_rgb", "person_mask", "background_removed")
    for augment in (False, True):
        ds = ShardDataset(out_dir, modalities=modalities + ("hand_crops",), clip_len=12, augment=augment, seed=4)
        with ShardReader(out_dir) as reader:
            chunks = {n: reader[ds.sample_ids[0]][n].chunks[0] for n in ("frames", "heatmaps", "keypoints")}
            for i in range(len(ds)):
                assert_same_item(ds[i], reference_item(ds, i, reader), (augment, i))
    # the new default stores image frames one per chunk (read directly), the old one several (read by span)
    if storage is OLD_STORAGE:
        assert chunks["frames"] > 1 and chunks["heatmaps"] > 1
    else:
        assert chunks["frames"] == chunks["heatmaps"] == 1
    assert chunks["keypoints"] == min(64, ShardReader(out_dir)[ds.sample_ids[0]].num_frames)


def test_the_cache_stays_under_its_bound(dsft_shards):
    ds = ShardDataset(dsft_shards, keypoint_subset="signvtcl79")
    one = ds.keypoint_cache
    [ds[i] for i in range(len(ds))]
    sizes = sorted(e.nbytes for e in one._entries.values())
    # C order along time: clips are cut by rows (a time-strided copy made every clip 5-10x slower)
    assert all(a.flags.c_contiguous for e in one._entries.values() for a in e.arrays)
    # room for the smallest sample only: the others are read clip by clip, with the same items
    small = ShardDataset(dsft_shards, keypoint_subset="signvtcl79", keypoint_cache_mb=(sizes[0] + 1) / 2**20)
    with ShardReader(dsft_shards) as reader:
        for i in range(len(small)):
            assert_same_item(small[i], reference_item(small, i, reader), i)
    assert len(small.keypoint_cache) == 1 and small.keypoint_cache.nbytes == sizes[0]
    # 17 bytes per point and frame: 79 points + the shoulders, which are among them
    frames = sum(e["num_frames"] for e in ShardReader(dsft_shards).index.samples.values())
    assert one.nbytes == frames * 79 * 17
    with pytest.raises(ValueError, match="keypoint_cache_mb"):
        ShardDataset(dsft_shards, keypoint_cache_mb=-1)


def test_dataloader_workers_give_the_reference_items(dsft_shards):
    ds = ShardDataset(dsft_shards, keypoint_subset="signvtcl79", augment=True, sampling="random", seed=11)
    [ds[i] for i in range(len(ds))]  # a filled cache in the parent: forked workers read from it
    loader = DataLoader(ds, batch_size=1, num_workers=2, multiprocessing_context="fork")
    with ShardReader(dsft_shards) as reader:
        for i, batch in enumerate(loader):
            reference = reference_item(ds, i, reader)
            item = {k: (v[0] if torch.is_tensor(v) else v[0]) for k, v in batch.items()}
            assert_same_item(item, reference, i)


def test_repack_keeps_samples_hash_and_checksums(dsft_shards, old_format):
    old, new = ShardReader(old_format), ShardReader(dsft_shards)
    assert old.index.pipeline_hash == new.index.pipeline_hash
    assert old.index.pipeline["storage"]["compression_level"] == 4
    for sid in new:
        assert old[sid].attrs == new[sid].attrs  # content_sha256 included: the data are equal
        assert old[sid]["keypoints"].chunks[0] == min(64, new[sid].num_frames)
    assert verify_dir(old_format).ok
