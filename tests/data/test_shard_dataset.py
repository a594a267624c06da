"""signprep.data over real shards: DataLoader workers, filters, samplers, crop consistency, frame view."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from signprep.data import (
    ClassBalancedBatchSampler,
    FrameDataset,
    HeatmapBatchTransform,
    SameGlossPairSampler,
    ShardDataset,
    heatmaps_to_float,
)
from signprep.kernels.frame_fit import FrameFit
from signprep.kernels.gaussian_heatmaps import render_heatmaps_np
from signprep.shards import ShardReader

# Two glosses, each by signers 901 (train) and 912 (test): eat 70 + 67, yes 60 + 71 source frames, decoded at
# 12 fps (about 30 stored frames each, so the 32-frame clips below also exercise the padding) to halve extraction.
PAIR_IDS = ("90008", "90009", "90039", "90040")
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


@pytest.fixture(scope="session")
def pairs_run(tmp_path_factory, records, write_pipeline) -> Path:
    """Keypoint shards of two glosses by two signers each, in two splits. Read only."""
    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.runner import run_extract
    from signprep.manifests import Manifest

    root = tmp_path_factory.mktemp("data-pairs")
    pipeline = load_pipeline(write_pipeline(root / "keypoints-12fps.yaml", decode={"fps": 12}))
    manifest = Manifest([records[i] for i in PAIR_IDS])
    summary = run_extract(manifest, pipeline, root / "out", workers=2, progress=False)
    assert summary.exit_code == 0 and summary.done_now == len(PAIR_IDS), summary.render()
    return root / "out"


def test_dataloader_with_two_workers_matches_the_shards(pairs_run):
    # 90039 has 24 stored frames: its clip is looped up to the DSFT minimum of 25
    ds = ShardDataset(pairs_run, clip_len=25, keypoint_subset="signvtcl79")
    loader = DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context="fork")
    seen = set()
    with ShardReader(pairs_run) as reader:
        for batch in loader:
            assert batch["keypoints"].shape == (2, 25, 79, 3) and batch["keypoints"].dtype == torch.float32
            assert batch["keypoint_present"].shape == (2, 25, 79) and batch["keypoint_present"].dtype == torch.bool
            for b, sid in enumerate(batch["sample_id"]):
                view, seen = reader[sid], seen | {sid}
                assert batch["label"][b].item() == view.attrs["label"]
                assert batch["gloss"][b] == view.attrs["gloss"] and batch["split"][b] == view.attrs["split"]
                assert batch["signer_id"][b] == str(view.attrs["signer_id"])
                assert batch["frame_size"][b].tolist() == [view.attrs["height"], view.attrs["width"]]
                frames = batch["frame_indices"][b].numpy()
                assert frames.min() >= 0 and frames.max() < view.num_frames
                expected = view.keypoints("signvtcl79")[frames]
                np.testing.assert_array_equal(batch["keypoints_px"][b].numpy(), expected)
                present = batch["keypoint_present"][b].numpy()
                assert not batch["keypoints"][b].numpy()[~present].any()
    assert seen == set(PAIR_IDS)


def test_filters_and_label_map(pairs_run):
    with ShardReader(pairs_run) as reader:
        assert ShardDataset(pairs_run, split="train").sample_ids == reader.ids(split="train") == ["90008", "90039"]
        assert ShardDataset(pairs_run, signers=[912]).sample_ids == reader.ids(signer_id="912")
        labels = {sid: reader.index.samples[sid]["label"] for sid in reader}
    assert ShardDataset(pairs_run, glosses=["eat"]).sample_ids == ["90008", "90009"]
    cutoff = max(labels.values())  # WLASLn keeps labels below n
    assert ShardDataset(pairs_run, glosses=f"WLASL{cutoff}").sample_ids == sorted(
        s for s, lab in labels.items() if lab < cutoff
    )
    ds = ShardDataset(pairs_run, label_map=True)
    assert ds.num_classes == 2 and sorted(set(ds.labels)) == [0, 1]
    assert ds[0]["label"].item() == ds.label_map[ds[0]["orig_label"].item()]
    with pytest.raises(ValueError, match="subset"):
        ShardDataset(pairs_run, glosses="WLASL-all")


def test_augmented_clips_are_seeded_and_valid(pairs_run):
    ds = ShardDataset(pairs_run, clip_len=32, sampling="random", augment=True, seed=7, keypoint_subset="hands")
    a, b = ds[1], ds[1]
    assert torch.equal(a["keypoints"], b["keypoints"]) and a["keypoints"].shape == (32, 42, 3)
    assert not a["keypoints_px"][~a["keypoint_present"]].any()  # the crop leaves absent points at 0
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["frame_indices"], a["frame_indices"])


def test_distributed_sampler_partitions_the_dataset(pairs_run):
    ds = ShardDataset(pairs_run)
    parts = [list(DistributedSampler(ds, num_replicas=2, rank=r, shuffle=True, seed=3)) for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == 2
    assert sorted(parts[0] + parts[1]) == list(range(len(ds)))
    loaded = [s for r in (0, 1) for s in DataLoader(ds, sampler=DistributedSampler(ds, 2, r), batch_size=2)]
    assert sorted(sid for batch in loaded for sid in batch["sample_id"]) == sorted(PAIR_IDS)


def test_pair_and_class_balanced_samplers_on_real_shards(pairs_run):
    ds = ShardDataset(pairs_run, clip_len=25, label_map=True)
    pairs = SameGlossPairSampler(ds.glosses, ds.signers, pairs_per_batch=2, seed=0)
    batches = list(DataLoader(ds, batch_sampler=pairs))
    assert len(batches) == 2
    for batch in batches:
        for p in range(2):
            assert batch["gloss"][2 * p] == batch["gloss"][2 * p + 1]
            assert batch["signer_id"][2 * p] != batch["signer_id"][2 * p + 1]
    balanced = ClassBalancedBatchSampler(ds.labels, classes_per_batch=2, samples_per_class=2, num_batches=2)
    for batch in DataLoader(ds, batch_sampler=balanced):
        assert sorted(Counter(batch["label"].tolist()).values()) == [2, 2]


@pytest.mark.parametrize("device", DEVICES)
def test_heatmap_batch_transform_on_loaded_batches(pairs_run, device):
    ds = ShardDataset(pairs_run, clip_len=4)  # normalised keypoints: the transform takes keypoints_px
    batch = next(iter(DataLoader(ds, batch_size=4)))
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    out = HeatmapBatchTransform("signvtcl79", size=(32, 32), sigma=1.0)(batch)
    assert out["heatmaps"].shape == (4, 4, 79, 32, 32) and out["heatmaps"].device.type == device
    with ShardReader(pairs_run) as reader:
        idx = reader[batch["sample_id"][0]].layout().subset("signvtcl79")
    for i in range(4):
        fit = FrameFit(*batch["frame_size"][i].tolist(), 32, 32, "pad")
        for t in range(4):
            xy = fit.map_points(batch["keypoints_px"][i, t, idx, :2].cpu().numpy().astype(np.float64))
            conf, present = (batch[k][i, t, idx].cpu().numpy() for k in ("keypoint_confidence", "keypoint_present"))
            ref = render_heatmaps_np(xy, conf, present, size=(32, 32), sigma=1.0)
            np.testing.assert_allclose(out["heatmaps"][i, t].cpu().numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("run", ["all_stages_run", "person_fit_run"])  # fit: pad, fit: person
def test_crop_augmentation_moves_stored_heatmap_peaks_with_the_keypoints(run, request):
    out_dir, _ = request.getfixturevalue(run)
    modalities = ("keypoints", "frames", "heatmaps", "flow", "person_mask", "background_removed", "hand_crops")
    ds = ShardDataset(out_dir, modalities=modalities, clip_len=8, augment=True, seed=0, normalize_keypoints=False)
    with ShardReader(out_dir) as reader:
        hm_idx = np.array(reader[ds.sample_ids[0]].attrs["heatmap_keypoint_indices"])
        fits = {s: reader[s].fit("heatmap_fit") for s in ds.sample_ids}  # the letterbox, or the person box
    checked = 0
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            assert item["frames"].shape == (8, 96, 96, 3) and item["heatmaps"].shape == (8, 79, 48, 48)
            assert item["flow"].shape == (8, 96, 96, 2) and item["person_mask"].shape == (8, 64, 64)
            fit = fits[item["sample_id"]]
            kp, conf = item["keypoints"][:, hm_idx].numpy(), item["keypoint_confidence"][:, hm_idx].numpy()
            hm = item["heatmaps"].numpy()
            for t in range(8):
                for k in np.nonzero(conf[t] > 0.9)[0]:
                    x, y = fit.map_points(kp[t, k : k + 1, :2].astype(np.float64))[0]
                    if not (4 <= x <= 44 and 4 <= y <= 44):
                        continue  # near an edge neighbouring keypoints or the border bias the peak
                    channel = hm[t, k]
                    row, col = np.unravel_index(channel.argmax(), channel.shape)
                    # the peak pixel holds the keypoint (one pixel of slack: quantisation and resampling)
                    assert abs(col + 0.5 - x) <= 1.0 and abs(row + 0.5 - y) <= 1.0, (i, t, k, (col, row), (x, y))
                    checked += 1
    assert checked > 100


@pytest.mark.parametrize("device", DEVICES)
def test_stored_heatmaps_leave_the_worker_as_stored_and_convert_on_the_device(all_stages_run, device):
    out_dir, _ = all_stages_run
    float_items = ShardDataset(out_dir, modalities=("heatmaps",), clip_len=8, sampling="random", seed=2)
    stored_items = ShardDataset(out_dir, modalities=("heatmaps",), clip_len=8, sampling="random", seed=2,
                                heatmap_dtype="stored")  # fmt: skip
    batch = next(iter(DataLoader(stored_items, batch_size=2)))
    with ShardReader(out_dir) as reader:
        for i, sid in enumerate(batch["sample_id"]):
            stored = reader[sid].read("heatmaps")[batch["frame_indices"][i].numpy()]
            assert batch["heatmaps"][i].dtype == torch.uint8
            np.testing.assert_array_equal(batch["heatmaps"][i].numpy(), stored)  # the stored codes themselves
            assert batch["heatmap_scale"][i] == np.float32(reader[sid].attrs["heatmap_scale"])
    on_device = heatmaps_to_float(batch["heatmaps"].to(device), batch["heatmap_scale"])
    reference = next(iter(DataLoader(float_items, batch_size=2)))["heatmaps"]
    assert on_device.device.type == device and torch.equal(on_device.cpu(), reference)  # the same float32 values
    # augmented: the crop runs in float and the codes are rounded back, within half a code of the float crop
    augmented = [ShardDataset(out_dir, modalities=("heatmaps",), clip_len=8, augment=True, seed=5, heatmap_dtype=d)
                 for d in ("float32", "stored")]  # fmt: skip
    for i in range(len(augmented[0])):
        exact, rounded = augmented[0][i]["heatmaps"], augmented[1][i]
        assert rounded["heatmaps"].dtype == torch.uint8
        back = heatmaps_to_float(rounded["heatmaps"][None], rounded["heatmap_scale"][None])[0]
        assert (back - exact).abs().max() <= 0.5 * rounded["heatmap_scale"] + 1e-7
    with pytest.raises(ValueError, match="heatmap_dtype"):
        ShardDataset(out_dir, heatmap_dtype="float16")


def test_frame_dataset_yields_valid_crops_with_keypoints_inside(all_stages_run):
    out_dir, _ = all_stages_run
    ds = FrameDataset(out_dir, label_map=True)
    with ShardReader(out_dir) as reader:
        expected = sum(
            int(((reader[s].read("hand_crop_valid")) & (reader[s].read("hand_crop_source") == 1)).sum()) for s in reader
        )
        assert len(ds) == expected > 0
        for index in range(len(ds)):
            item = ds[index]
            view = reader[item["sample_id"]]
            t, hand = item["frame"].item(), item["hand"].item()
            assert view.read("hand_crop_valid")[t, hand] and view.read("hand_crop_source")[t, hand] == 1
            size = item["image"].shape[0]
            assert item["image"].shape == (size, size, 3) and item["image"].any()
            kp = item["keypoints"].numpy()
            assert kp.shape == (21, 2) and (kp >= 0).all() and (kp <= size).all()
            assert item["gloss"] == view.attrs["gloss"] and item["signer_id"] == str(view.attrs["signer_id"])
    batch = next(iter(DataLoader(ds, batch_size=8, shuffle=True, num_workers=2, multiprocessing_context="fork")))
    assert batch["image"].shape[0] == 8 and len(batch["sample_id"]) == 8


def test_quality_bounds_choose_the_samples_the_reader_chooses(pairs_run):
    with ShardReader(pairs_run) as reader:
        fractions = {s: reader.quality(s)["dominant_hand_fraction"] for s in reader}
    threshold = sorted(fractions.values())[1]  # leaves out the worst sample, keeps the rest
    ds = ShardDataset(pairs_run, min_quality={"dominant_hand_fraction": threshold})
    assert ds.sample_ids == sorted(s for s, f in fractions.items() if f >= threshold) and len(ds) == len(fractions) - 1
    assert len(ShardDataset(pairs_run, split="test", min_quality={"dominant_hand_fraction": 1.01})) == 0
    with pytest.raises(ValueError, match="unknown quality figure"):
        ShardDataset(pairs_run, min_quality={"hands": 0.5})


@pytest.mark.parametrize("cache_mb", [1024, 0], ids=["cached", "no-cache"])
def test_filled_gaps_equal_filling_the_whole_sample(pairs_run, cache_mb):
    from signprep.kernels.keypoint_gaps import fill_keypoint_gaps

    ds = ShardDataset(pairs_run, clip_len=8, sampling="random", seed=3, normalize_keypoints=False, fill_gaps=4,
                      keypoint_cache_mb=cache_mb)  # fmt: skip
    plain = ShardDataset(pairs_run, clip_len=8, sampling="random", seed=3, normalize_keypoints=False)
    filled_any = 0
    with ShardReader(pairs_run) as reader:
        for i in list(range(len(ds))) * 2:  # the second pass from the cache, when on
            item, raw = ds[i], plain[i]
            view = reader[item["sample_id"]]
            kp, conf, present, filled = fill_keypoint_gaps(
                view.read("keypoints"), view.read("keypoint_confidence"), view.read("keypoint_present"), 4
            )
            t = item["frame_indices"].numpy()
            np.testing.assert_array_equal(t, raw["frame_indices"].numpy())  # the same clip
            np.testing.assert_array_equal(item["keypoints"].numpy(), kp[t])
            np.testing.assert_array_equal(item["keypoint_present"].numpy(), present[t])
            np.testing.assert_array_equal(item["keypoint_filled"].numpy(), filled[t])
            np.testing.assert_array_equal(item["keypoint_confidence"].numpy(), conf[t])
            # what was not filled is the stored data
            kept = ~item["keypoint_filled"].numpy()
            np.testing.assert_array_equal(item["keypoints"].numpy()[kept], raw["keypoints"].numpy()[kept])
            filled_any += int(filled.any())
    assert filled_any > 0  # the real hands of these clips have gaps of up to 4 stored frames
    assert "keypoint_filled" not in plain[0]
    cache = ds.keypoint_cache
    if cache_mb:  # each sample filled once: 18 bytes per point and frame
        assert (len(cache), cache.hits) == (len(ds), len(ds))
        assert cache.nbytes == sum(e["num_frames"] for e in ds.entries) * 543 * 18
    else:
        assert len(cache) == cache.hits == 0
