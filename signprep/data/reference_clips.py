"""The ShardDataset item as it was read before the fast read path (issue 22): the reference.

`reference_item(dataset, index)` builds item `index` of a `ShardDataset` the plain way:
a `ShardReader` sample view per item, every attribute read, each dataset read over the
span of frames the clip covers (the whole compressed chunks under it decompressed
again every time), the augmentation and normalisation applied to all K keypoints and
the subset taken last. It is slow and obviously correct; `tests/data/test_fast_read_path.py`
checks that the dataset's own items equal it, and `benchmarks/loader.py` times it as
"today's path". It reads only what `ShardDataset` holds (root, modalities, options,
sample ids, seed and epoch), so it follows the same filters and label map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from signprep.data.clips import sample_clip_indices, whole_sample_indices
from signprep.data.transforms import CropBox, crop_sample, normalised_fit, random_crop_box
from signprep.kernels.flow_encoding import decode_flow_uint8
from signprep.shards import ShardReader

if TYPE_CHECKING:
    from signprep.data.datasets import ShardDataset

IMAGE_MODALITIES = ("frames", "heatmaps", "flow", "flow_rgb", "person_mask", "background_removed")
HAND_CROP_DATASETS = ("hand_crops", "hand_crop_valid", "hand_crop_source", "hand_crop_boxes", "hand_keypoints_crop")


def reference_item(ds: ShardDataset, index: int, reader: ShardReader | None = None) -> dict[str, Any]:
    """Item `index` of `ds`, read the pre-issue-22 way (one `ShardReader` per call unless given)."""
    own = reader is None
    reader = ShardReader(ds.root) if own else reader
    try:
        return _item(ds, index, reader)
    finally:
        if own:
            reader.close()


def _item(ds: ShardDataset, index: int, reader: ShardReader) -> dict[str, Any]:
    sid, entry = ds.sample_ids[index], ds.entries[index]
    view = reader[sid]
    attrs = view.attrs
    rng = np.random.default_rng() if ds.seed is None else np.random.default_rng([ds.seed, ds.epoch, index])
    speed = float(rng.uniform(*ds.speed_range)) if ds.augment else 1.0
    if ds.clip_len is None:  # the whole sample
        idx = whole_sample_indices(view.num_frames, ds.sampling, rng, speed)
    else:
        idx = sample_clip_indices(view.num_frames, ds.clip_len, ds.sampling, rng, ds.pad, speed)
    first, last = int(idx.min()), int(idx.max())
    offsets = idx - first

    def read(name: str) -> np.ndarray:
        return view.read(name, slice(first, last + 1))[offsets]

    sample: dict[str, np.ndarray] = {}
    if "keypoints" in ds.modalities:
        sample["keypoints"] = read("keypoints")
        sample["keypoint_confidence"] = read("keypoint_confidence")
        sample["keypoint_present"] = read("keypoint_present")
    for name in IMAGE_MODALITIES:
        if name in ds.modalities:
            sample[name] = read(name)
    if "heatmaps" in sample:
        sample["heatmaps"] = sample["heatmaps"].astype(np.float32) * np.float32(attrs.get("heatmap_scale", 1.0))
    if "flow" in sample:
        flow = sample["flow"]
        if flow.dtype == np.uint8:
            sample["flow"] = decode_flow_uint8(flow, float(attrs["flow_bound"]))
        else:
            sample["flow"] = flow.astype(np.float32)
    if "hand_crops" in ds.modalities:
        for name in HAND_CROP_DATASETS:
            sample[name] = read(name)

    height, width = int(attrs["height"]), int(attrs["width"])
    if ds.augment:
        # the image modalities' shared fit, the person box included (issue 21's `fit: person`, which
        # the item had before issue 22's read path: the reference follows it)
        fit_attr = next((f"{m}_fit" for m in IMAGE_MODALITIES if attrs.get(f"{m}_fit")), None)
        fit = view.fit(fit_attr).normalised() if fit_attr else normalised_fit(height, width, "stretch")
        box = random_crop_box(rng, ds.crop_scale)
        kp = sample.pop("keypoints", None)
        sample = crop_sample(sample, box, fit)
        if kp is not None:
            kp = kp.copy()
            moved = _crop_keypoints(kp[..., :2], box, fit)
            moved[~np.asarray(sample["keypoint_present"], bool)] = 0
            kp[..., :2] = moved
            sample["keypoints"] = kp

    out: dict[str, Any] = {}
    if "keypoints" in sample:
        k_idx = view.layout().subset(ds.keypoint_subset) if ds.keypoint_subset != "all" else slice(None)
        kp, present = sample.pop("keypoints"), sample.pop("keypoint_present")
        if ds.normalize:
            out["keypoints"] = torch.from_numpy(_normalize_keypoints(kp, present, (height, width))[:, k_idx])
            out["keypoints_px"] = torch.from_numpy(np.ascontiguousarray(kp[:, k_idx], np.float32))
        else:
            out["keypoints"] = torch.from_numpy(np.ascontiguousarray(kp[:, k_idx], np.float32))
        confidence = sample.pop("keypoint_confidence")
        out["keypoint_confidence"] = torch.from_numpy(np.ascontiguousarray(confidence[:, k_idx]))
        out["keypoint_present"] = torch.from_numpy(np.ascontiguousarray(present[:, k_idx]))
    for name, value in sample.items():
        out[name] = torch.from_numpy(np.ascontiguousarray(value))
    out["frame_indices"] = torch.from_numpy(idx)
    out["frame_size"] = torch.tensor([height, width], dtype=torch.int64)
    out["label"] = torch.tensor(ds._label(entry), dtype=torch.int64)
    out["orig_label"] = torch.tensor(int(entry.get("label", -1)), dtype=torch.int64)
    out["gloss"] = entry.get("gloss") or ""
    out["glosses"] = " ".join(entry.get("glosses") or ())
    out["translation"] = entry.get("translation") or ""
    out["signer_id"] = str(entry.get("signer_id") or "")
    out["split"] = entry.get("split") or ""
    out["sample_id"] = sid
    return out


def _normalize_keypoints(kp: np.ndarray, present: np.ndarray, frame_size, left: int = 11, right: int = 12):
    """transforms.normalize_keypoints before issue 22 (a (2,) operand broadcast over (T, K, 2))."""
    kp = np.asarray(kp, np.float32)
    present = np.asarray(present, bool)
    both = present[:, left] & present[:, right]
    centre, width = np.array([frame_size[1] / 2, frame_size[0] / 2], np.float64), float(frame_size[1])
    if both.any():
        lp, rp = kp[both, left, :2].astype(np.float64), kp[both, right, :2].astype(np.float64)
        w = float(np.linalg.norm(lp - rp, axis=-1).mean())
        if w > 1e-6:
            centre, width = ((lp + rp) / 2).mean(0), w
    out = np.empty_like(kp)
    out[..., :2] = (kp[..., :2] - centre) / width
    out[..., 2:] = kp[..., 2:] / width
    out[~present] = 0
    return out.astype(np.float32, copy=False)


def _crop_keypoints(xy: np.ndarray, box: CropBox, fit: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """transforms.crop_keypoints before issue 22."""
    scale, offset = fit
    u = xy * scale + offset
    u = (u - np.array([box.x0, box.y0])) / box.side
    return ((u - offset) / scale).astype(np.float32)
