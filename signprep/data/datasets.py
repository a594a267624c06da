"""PyTorch datasets over a shard directory: clips of a sample, and single hand-crop frames.

    from torch.utils.data import DataLoader
    from signprep.data import ShardDataset
    ds = ShardDataset("out/", modalities=("keypoints", "frames"), clip_len=32, split="train",
                      glosses="WLASL100", augment=True, label_map=True)
    loader = DataLoader(ds, batch_size=8, num_workers=4, shuffle=True)

HDF5 handles cannot be shared across processes, so each dataset opens its
`ShardReader` lazily in the process that reads (a DataLoader worker), and again after a
fork. Construction reads only `shard_index.json` (ShardDataset) or the small per-frame
validity arrays (FrameDataset) and keeps no handle open. The default collate of
torch works: tensors are stacked and strings (`gloss`, `signer_id`, `split`,
`sample_id`) become lists.

Filtering: `split` and `signers` match the index entries (strings compared), `exclude` drops
sample ids (videos held out of training); `min_quality` and `max_quality` bound the keypoint
quality figures (`ShardReader.ids`, docs/shards.md), e.g.
`min_quality={"dominant_hand_fraction": 0.5}`; `glosses` is
a list of gloss names or a WLASL subset name, "WLASL100"/"WLASL300"/"WLASL1000"/"WLASL2000",
meaning the glosses of class index below that number (WLASL's subsets are the first N
glosses of WLASL_v0.3.json, whose order gives the label). Labels: the stored class index
(`label_map=None`), or with `label_map=True` remapped to 0..C-1 in the order of the stored
labels of the filtered samples (`dataset.label_map` stored -> new, `dataset.num_classes`);
a dict gives the map itself (samples whose label it lacks are dropped).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from signprep.data.clips import PadMode, SamplingMode, sample_clip_indices, whole_sample_indices
from signprep.data.transforms import crop_sample, normalised_fit, normalize_keypoints, random_crop_box
from signprep.kernels.flow_encoding import decode_flow_uint8
from signprep.kernels.keypoint_gaps import fill_keypoint_gaps
from signprep.shards import ShardReader

IMAGE_MODALITIES = ("frames", "heatmaps", "flow", "flow_rgb", "person_mask", "background_removed")
MODALITIES = ("keypoints", "hand_crops") + IMAGE_MODALITIES
HAND_CROP_DATASETS = ("hand_crops", "hand_crop_valid", "hand_crop_source", "hand_crop_boxes", "hand_keypoints_crop")
_WLASL_SUBSET = re.compile(r"^wlasl(\d+)$", re.IGNORECASE)


def select_samples(
    entries: dict[str, dict],
    split: str | Iterable[str] | None = None,
    signers: Iterable[str | int] | None = None,
    glosses: str | Iterable[str] | None = None,
    exclude: Iterable[str] = (),
) -> list[str]:
    """Sorted sample ids of index `entries` (shard_index.json "samples") that pass every filter and are
    not in `exclude`."""
    splits = None if split is None else {split} if isinstance(split, str) else set(split)
    excluded = {str(s) for s in exclude}
    signer_set = None if signers is None else {str(s) for s in signers}
    max_label, gloss_set = None, None
    if isinstance(glosses, str):
        m = _WLASL_SUBSET.match(glosses)
        if m is None:
            raise ValueError(f"glosses: unknown subset {glosses!r} (WLASL100/300/1000/2000, or a list of glosses)")
        max_label = int(m.group(1))
    elif glosses is not None:
        gloss_set = set(glosses)
    keep = []
    for sid, e in entries.items():
        if sid in excluded:
            continue
        if splits is not None and e.get("split") not in splits:
            continue
        if signer_set is not None and str(e.get("signer_id")) not in signer_set:
            continue
        if max_label is not None and not 0 <= int(e.get("label", -1)) < max_label:
            continue
        if gloss_set is not None and e.get("gloss") not in gloss_set:
            continue
        keep.append(sid)
    return sorted(keep)


def _make_label_map(labels: Iterable[int], label_map: bool | dict[int, int] | None) -> dict[int, int] | None:
    if label_map is None or label_map is False:
        return None
    if label_map is True:
        return {old: new for new, old in enumerate(sorted(set(labels)))}
    return {int(k): int(v) for k, v in label_map.items()}


class _LazyReader:
    """A ShardReader opened on first use in the current process (again after a fork)."""

    root: Path
    _reader: ShardReader | None = None
    _reader_pid: int | None = None

    def reader(self) -> ShardReader:
        if self._reader is None or self._reader_pid != os.getpid():
            # the parent's handles (if any) are left alone: closing them here would close the parent's file
            self._reader, self._reader_pid = ShardReader(self.root), os.getpid()
        return self._reader

    def __getstate__(self) -> dict:
        # spawn/forkserver workers pickle the dataset: send no HDF5 handles
        state = dict(self.__dict__)
        state["_reader"], state["_reader_pid"] = None, None
        return state


class ShardDataset(_LazyReader, Dataset):
    """One item per sample: a clip of `clip_len` frames of the requested modalities.

    Item keys (torch tensors unless noted; T = clip_len, K = keypoints of `keypoint_subset`):
    - `keypoints` (T, K, 3) float32: stored-frame pixels, or with `normalize_keypoints`
      shoulder-normalised (`transforms.normalize_keypoints`); then also `keypoints_px`, the
      pixels. `keypoint_confidence` (T, K) float32, `keypoint_present` (T, K) bool. With
      `fill_gaps` N > 0, hand and face gaps of up to N stored frames are filled linearly in time
      (`signprep.kernels.keypoint_gaps`, over the whole sample, not only the clip): filled points
      are present, and `keypoint_filled` (T, K) bool marks them.
    - `frames`, `background_removed`, `flow_rgb` (T, H, W, 3) uint8; `person_mask` (T, H, W)
      uint8 (0..255); `heatmaps` (T, K', H, W) float32 (stored value * heatmap_scale);
      `flow` (T, H, W, 2) float32 pixels of the flow image (uint8 decoded with flow_bound).
    - `hand_crops` (T, 2, S, S, 3) uint8, `hand_crop_valid` (T, 2) bool, `hand_crop_source`
      (T, 2) uint8, `hand_crop_boxes` (T, 2, 4) float32 (stored-frame pixels, not moved by
      the crop augmentation), `hand_keypoints_crop` (T, 2, 21, 2) float32 crop pixels.
    - `frame_indices` (T,) int64 stored frames of the clip; `frame_size` (2,) int64 stored (H, W).
    - `label` int64 scalar (remapped by `label_map`), `orig_label`; `gloss`, `signer_id`,
      `split`, `sample_id` str ("" when unknown).
    - `glosses` str: a sentence's gloss sequence, space-separated (glosses hold no spaces;
      `.split()` gives the list; "" for an isolated sign), `translation` str ("" if none).
      Strings, so the default collate makes them lists; `data.ctc.CTCCollate` turns them into
      CTC targets.

    clip_len None: the whole sample (every stored frame; with `augment`, resampled to the speed
    factor: `clips.whole_sample_indices`), so T differs between items: batch them with
    `data.ctc.CTCCollate`, which pads T.

    sampling/pad: `clips.sample_clip_indices`. augment: SignVTCL's augmentation, a speed
    (frame-rate) factor uniform in `speed_range` and a spatial crop of side uniform in
    `crop_scale` applied identically to the image modalities and the keypoints
    (`transforms.crop_sample`). seed: None draws fresh randomness per item; an int makes
    item i of epoch e reproducible (`set_epoch`, as with DistributedSampler).
    """

    def __init__(
        self,
        root: str | Path,
        modalities: Sequence[str] = ("keypoints",),
        clip_len: int | None = 32,
        sampling: SamplingMode = "uniform",
        pad: PadMode = "loop",
        split: str | Iterable[str] | None = None,
        signers: Iterable[str | int] | None = None,
        glosses: str | Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        augment: bool = False,
        normalize_keypoints: bool = True,
        keypoint_subset: str = "all",
        label_map: bool | dict[int, int] | None = None,
        crop_scale: tuple[float, float] = (0.7, 1.0),
        speed_range: tuple[float, float] = (0.5, 1.5),
        seed: int | None = None,
        min_quality: dict[str, float] | None = None,
        max_quality: dict[str, float] | None = None,
        fill_gaps: int = 0,
    ) -> None:
        unknown = set(modalities) - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; known: {', '.join(MODALITIES)}")
        self.root = Path(root)
        self.modalities = tuple(modalities)
        self.clip_len, self.sampling, self.pad = (None if clip_len is None else int(clip_len)), sampling, pad
        self.augment, self.normalize = augment, normalize_keypoints
        self.keypoint_subset = keypoint_subset
        self.crop_scale, self.speed_range = crop_scale, speed_range
        self.seed, self.epoch = seed, 0
        self.fill_gaps = int(fill_gaps)
        entries = self.reader().index.samples
        self.sample_ids = select_samples(entries, split, signers, glosses, exclude)
        if min_quality or max_quality:
            usable = set(self.reader().ids(min_quality=min_quality, max_quality=max_quality))
            self.sample_ids = [s for s in self.sample_ids if s in usable]
        self.entries = [entries[s] for s in self.sample_ids]
        self.label_map = _make_label_map((int(e.get("label", -1)) for e in self.entries), label_map)
        if self.label_map is not None:  # drop samples whose label the map lacks
            keep = [i for i, e in enumerate(self.entries) if int(e.get("label", -1)) in self.label_map]
            self.sample_ids = [self.sample_ids[i] for i in keep]
            self.entries = [self.entries[i] for i in keep]
        self._reader = None  # built again lazily, in whichever process reads

    def __len__(self) -> int:
        return len(self.sample_ids)

    @property
    def num_classes(self) -> int:
        return len(set(self.label_map.values())) if self.label_map is not None else 1 + max(self.labels, default=-1)

    @property
    def labels(self) -> list[int]:
        """Label of each item (after `label_map`), without reading a shard."""
        return [self._label(e) for e in self.entries]

    @property
    def glosses(self) -> list[str]:
        return [e.get("gloss") or "" for e in self.entries]

    @property
    def signers(self) -> list[str]:
        return [str(e.get("signer_id") or "") for e in self.entries]

    def _label(self, entry: dict) -> int:
        label = int(entry.get("label", -1))
        return self.label_map[label] if self.label_map is not None else label

    def set_epoch(self, epoch: int) -> None:
        """With a seed, item randomness depends on (seed, epoch, index): call once per epoch."""
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        sid, entry = self.sample_ids[index], self.entries[index]
        view = self.reader()[sid]
        attrs = view.attrs
        rng = self._rng(index)
        speed = float(rng.uniform(*self.speed_range)) if self.augment else 1.0
        if self.clip_len is None:  # the whole sample: a sentence, as continuous recognition trains on it
            idx = whole_sample_indices(view.num_frames, self.sampling, rng, speed)
        else:
            idx = sample_clip_indices(view.num_frames, self.clip_len, self.sampling, rng, self.pad, speed)
        # Read the span the clip covers, then pick frames in numpy: h5py's fancy indexing
        # into chunked, compressed data measured 3-10x slower than reading the whole span.
        first, last = int(idx.min()), int(idx.max())
        offsets = idx - first

        def read(name: str) -> np.ndarray:
            return view.read(name, slice(first, last + 1))[offsets]

        sample: dict[str, np.ndarray] = {}
        if "keypoints" in self.modalities and self.fill_gaps:
            sample.update(self._filled_keypoints(view, first, last, offsets))
        elif "keypoints" in self.modalities:
            sample["keypoints"] = read("keypoints")
            sample["keypoint_confidence"] = read("keypoint_confidence")
            sample["keypoint_present"] = read("keypoint_present")
        for name in IMAGE_MODALITIES:
            if name in self.modalities:
                sample[name] = read(name)
        if "heatmaps" in sample:
            sample["heatmaps"] = sample["heatmaps"].astype(np.float32) * np.float32(attrs.get("heatmap_scale", 1.0))
        if "flow" in sample:
            flow = sample["flow"]
            if flow.dtype == np.uint8:
                sample["flow"] = decode_flow_uint8(flow, float(attrs["flow_bound"]))
            else:
                sample["flow"] = flow.astype(np.float32)
        if "hand_crops" in self.modalities:
            for name in HAND_CROP_DATASETS:
                sample[name] = read(name)

        height, width = int(attrs["height"]), int(attrs["width"])
        if self.augment:
            # every image modality shares one fit, the person box included (`fit: person`)
            fit_attr = next((f"{m}_fit" for m in IMAGE_MODALITIES if attrs.get(f"{m}_fit")), None)
            fit = view.fit(fit_attr).normalised() if fit_attr else normalised_fit(height, width, "stretch")
            sample = crop_sample(sample, random_crop_box(rng, self.crop_scale), fit)

        out: dict[str, Any] = {}
        if "keypoints" in sample:
            k_idx = self._keypoint_indices(view)
            kp, present = sample.pop("keypoints"), sample.pop("keypoint_present")
            if self.normalize:
                out["keypoints"] = torch.from_numpy(normalize_keypoints(kp, present, (height, width))[:, k_idx])
                out["keypoints_px"] = torch.from_numpy(np.ascontiguousarray(kp[:, k_idx], np.float32))
            else:
                out["keypoints"] = torch.from_numpy(np.ascontiguousarray(kp[:, k_idx], np.float32))
            confidence = sample.pop("keypoint_confidence")
            out["keypoint_confidence"] = torch.from_numpy(np.ascontiguousarray(confidence[:, k_idx]))
            out["keypoint_present"] = torch.from_numpy(np.ascontiguousarray(present[:, k_idx]))
            if "keypoint_filled" in sample:
                out["keypoint_filled"] = torch.from_numpy(np.ascontiguousarray(sample.pop("keypoint_filled")[:, k_idx]))
        for name, value in sample.items():
            out[name] = torch.from_numpy(np.ascontiguousarray(value))
        out["frame_indices"] = torch.from_numpy(idx)
        out["frame_size"] = torch.tensor([height, width], dtype=torch.int64)
        out["label"] = torch.tensor(self._label(entry), dtype=torch.int64)
        out["orig_label"] = torch.tensor(int(entry.get("label", -1)), dtype=torch.int64)
        out["gloss"] = entry.get("gloss") or ""
        out["glosses"] = " ".join(entry.get("glosses") or ())  # a sentence's glosses, space-separated ("" if none)
        out["translation"] = entry.get("translation") or ""
        out["signer_id"] = str(entry.get("signer_id") or "")
        out["split"] = entry.get("split") or ""
        out["sample_id"] = sid
        return out

    def _filled_keypoints(self, view, first: int, last: int, offsets: np.ndarray) -> dict[str, np.ndarray]:
        """The clip's keypoint arrays with gaps of up to `fill_gaps` frames filled, and `keypoint_filled`.

        Reads `fill_gaps` frames more on each side of the clip's span: every gap that short and
        touching the clip has its bounding frames there, so the result equals filling the whole sample."""
        n = self.fill_gaps
        lo, hi = max(0, first - n), min(view.num_frames, last + 1 + n)
        span = slice(lo, hi)
        kp, conf, present, filled = fill_keypoint_gaps(
            view.read("keypoints", span), view.read("keypoint_confidence", span), view.read("keypoint_present", span), n
        )
        pick = offsets + (first - lo)
        return {"keypoints": kp[pick], "keypoint_confidence": conf[pick], "keypoint_present": present[pick],
                "keypoint_filled": filled[pick]}  # fmt: skip

    def _keypoint_indices(self, view) -> np.ndarray:
        return view.layout().subset(self.keypoint_subset) if self.keypoint_subset != "all" else slice(None)


class FrameDataset(_LazyReader, Dataset):
    """Frame-level view for the hand-crop models: one item per (sample, frame, hand) with a valid crop.

    A crop qualifies when `hand_crop_valid` is set and, with `require_landmarks` (default),
    its source is the hand landmarks (1), so `hand_keypoints_crop` holds real targets.
    Needs a shard directory written with the `hand_crops` stage.

    Item keys: `image` (S, S, 3) uint8 crop, `keypoints` (21, 2) float32 hand landmarks in crop
    pixels (continuous, origin top-left of the crop), `box` (4,) float32 x1, y1, x2, y2 of the
    crop in stored-frame pixels, `hand` int64 (0 the signer's left, 1 right), `frame` int64
    stored frame index, `label` int64 (after `label_map`), `gloss`, `signer_id`, `split`,
    `sample_id` str. Filters and labels as ShardDataset.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | Iterable[str] | None = None,
        signers: Iterable[str | int] | None = None,
        glosses: str | Iterable[str] | None = None,
        hands: Sequence[int] = (0, 1),
        require_landmarks: bool = True,
        label_map: bool | dict[int, int] | None = None,
        min_quality: dict[str, float] | None = None,
        max_quality: dict[str, float] | None = None,
    ) -> None:
        self.root = Path(root)
        reader = self.reader()
        entries = reader.index.samples
        ids = select_samples(entries, split, signers, glosses)
        if min_quality or max_quality:
            usable = set(reader.ids(min_quality=min_quality, max_quality=max_quality))
            ids = [s for s in ids if s in usable]
        self.label_map = _make_label_map((int(entries[s].get("label", -1)) for s in ids), label_map)
        items: list[tuple[str, int, int]] = []
        for sid in ids:
            if self.label_map is not None and int(entries[sid].get("label", -1)) not in self.label_map:
                continue
            view = reader[sid]
            ok = view.read("hand_crop_valid")
            if require_landmarks:
                ok = ok & (view.read("hand_crop_source") == 1)
            for t, h in zip(*np.nonzero(ok[:, list(hands)])):
                items.append((sid, int(t), int(hands[h])))
        self.items = items
        self.entries = entries
        reader.close()
        self._reader = None

    def __len__(self) -> int:
        return len(self.items)

    def _label(self, entry: dict) -> int:
        label = int(entry.get("label", -1))
        return self.label_map[label] if self.label_map is not None else label

    @property
    def labels(self) -> list[int]:
        return [self._label(self.entries[sid]) for sid, _, _ in self.items]

    @property
    def signers(self) -> list[str]:
        return [str(self.entries[sid].get("signer_id") or "") for sid, _, _ in self.items]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sid, t, hand = self.items[index]
        view, entry = self.reader()[sid], self.entries[sid]
        return {
            "image": torch.from_numpy(view["hand_crops"][t, hand]),
            "keypoints": torch.from_numpy(np.asarray(view["hand_keypoints_crop"][t, hand], np.float32)),
            "box": torch.from_numpy(np.asarray(view["hand_crop_boxes"][t, hand], np.float32)),
            "hand": torch.tensor(hand, dtype=torch.int64),
            "frame": torch.tensor(t, dtype=torch.int64),
            "label": torch.tensor(self._label(entry), dtype=torch.int64),
            "gloss": entry.get("gloss") or "",
            "signer_id": str(entry.get("signer_id") or ""),
            "split": entry.get("split") or "",
            "sample_id": sid,
        }
