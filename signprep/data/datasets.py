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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from signprep.data.clips import PadMode, SamplingMode, sample_clip_indices, whole_sample_indices
from signprep.data.keypoint_cache import BYTES_PER_POINT_FRAME, CachedKeypoints, KeypointCache
from signprep.data.transforms import (
    LEFT_SHOULDER,
    RIGHT_SHOULDER,
    crop_sample,
    normalised_fit,
    normalize_keypoints,
    random_crop_box,
)
from signprep.kernels.flow_encoding import decode_flow_uint8
from signprep.kernels.keypoint_gaps import fill_keypoint_gaps
from signprep.shards import ShardReader
from signprep.shards.codecs import DECODE_ERRORS, chunk_decoder

IMAGE_MODALITIES = ("frames", "heatmaps", "flow", "flow_rgb", "person_mask", "background_removed")
MODALITIES = ("keypoints", "hand_crops") + IMAGE_MODALITIES
KEYPOINT_DATASETS = ("keypoints", "keypoint_confidence", "keypoint_present")
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


@dataclass(frozen=True)
class _SampleInfo:
    """What an item needs of a sample's attributes, read once per process (h5py reads every
    attribute of a group for each SampleView: most of an item's time before the cache)."""

    group: h5py.Group
    num_frames: int
    height: int
    width: int
    fit: tuple[np.ndarray, np.ndarray]  # normalised_fit of the image modalities' fit mode
    heatmap_scale: float
    flow_bound: float | None
    points: np.ndarray | slice  # stored K indices the dataset reads (the subset, then shoulders it lacks)
    subset: slice  # positions of keypoint_subset within `points`: the first K
    shoulders: tuple[int, int]  # positions of the left and right shoulders within `points`


def read_frames(ds: h5py.Dataset, idx: np.ndarray) -> np.ndarray:
    """`ds[idx]` along the time axis, decompressing only the chunks that hold a wanted frame, once each.

    A chunk that does not decode (a damaged shard: `signprep verify` finds it) raises OSError naming
    the file, the dataset and the frames.

    idx: (T,) int indices in any order, repeats allowed. Chunks of one frame (image modalities
    under the default `storage.chunk_kib`) stored raw, with gzip or with LZ4 (+ shuffle) are fetched
    with `read_direct_chunk` and decoded here (zlib-ng, lz4, numpy): h5py's own read of one frame costs
    ~100 us of overhead, 3x the copy of an uncompressed 112x112 frame. Otherwise one h5py read
    per touched chunk, covering that chunk's wanted frames (h5py's fancy indexing, and HDF5's
    unions of hyperslabs, measured 3-30x slower than reading the whole span).
    """
    try:
        return _read_frames(ds, idx)
    except DECODE_ERRORS as e:
        frames = f"{int(np.min(idx))}-{int(np.max(idx))}" if len(idx) else "none"
        raise OSError(f"{ds.file.filename}: {ds.name}, frames {frames}: stored data does not decode ({e})") from e


def _read_frames(ds: h5py.Dataset, idx: np.ndarray) -> np.ndarray:
    wanted = np.unique(idx)
    decode = _frame_decoder(ds)
    if decode is not None:
        frames = np.empty((len(wanted),) + ds.shape[1:], ds.dtype)
        read_chunk, zeros = ds.id.read_direct_chunk, (0,) * (ds.ndim - 1)
        for k, t in enumerate(wanted):
            skipped_filters, raw = read_chunk((int(t),) + zeros)
            frames[k] = decode(raw) if not skipped_filters else ds[int(t)]
        return frames[np.searchsorted(wanted, idx)] if len(wanted) != len(idx) or (wanted != idx).any() else frames
    per_chunk = ds.chunks[0] if ds.chunks else len(ds)
    chunk = wanted // per_chunk
    starts = np.flatnonzero(np.r_[True, chunk[1:] != chunk[:-1]])
    ends = np.r_[starts[1:], len(wanted)]
    if len(starts) == 1:
        lo = int(wanted[0])
        return ds[lo : int(wanted[-1]) + 1][idx - lo]
    blocks = []
    for s, e in zip(starts, ends):
        lo, hi = int(wanted[s]), int(wanted[e - 1])
        block = ds[lo : hi + 1]
        blocks.append(block if hi - lo + 1 == e - s else block[wanted[s:e] - lo])
    return np.concatenate(blocks)[np.searchsorted(wanted, idx)]


def _frame_decoder(ds: h5py.Dataset):
    """raw chunk bytes -> one frame, for one-frame chunks with no filter, gzip or LZ4 (each with
    or without shuffle: `shards.codecs.chunk_decoder`); else None."""
    if ds.chunks is None or ds.chunks[0] != 1 or ds.chunks[1:] != ds.shape[1:]:
        return None
    inflate = chunk_decoder(ds)  # None for any other filter (fletcher32, scale-offset, a plugin's)
    if inflate is None:
        return None
    dtype, shape, size = ds.dtype, ds.shape[1:], ds.dtype.itemsize
    if ds.shuffle and size > 1:  # HDF5's shuffle stores byte k of every element together

        def decode(raw: bytes) -> np.ndarray:
            planes = np.frombuffer(inflate(raw), np.uint8).reshape(size, -1)
            return np.ascontiguousarray(planes.T).view(dtype).reshape(shape)

        return decode
    return lambda raw: np.frombuffer(inflate(raw), dtype).reshape(shape)


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
      uint8 (0..255); `heatmaps` (T, K', H, W) float32 (stored value * heatmap_scale), or with
      `heatmap_dtype="stored"` the stored array itself (uint8 codes, or float16) and `heatmap_scale`
      (float32 scalar): `transforms.heatmaps_to_float` makes the float32 values on the device;
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

    heatmap_dtype: "float32" (default) or "stored": stored heatmaps leave the worker as stored, 4x
    fewer bytes for uint8 (a 32-frame clip of 79 x 64 x 64: 10 MB against 41 MB) through the
    DataLoader's shared memory, and the worker skips the conversion that bounds its rate
    (docs/shards.md, "Reading speed"); with `augment` the crop is applied in float and rounded back.

    keypoint_cache_mb: each process (each DataLoader worker) keeps the decompressed keypoints of
    the samples it read, for the points it uses, up to this many MiB (`keypoint_cache.KeypointCache`:
    17 bytes per point and frame, ~1.8 GB for full WLASL's 79 points; 18 with `fill_gaps`, which
    then fills each cached sample once; 0 turns it off). Items are the same with or without it;
    with it, clips of a cached sample are cut from memory.
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
        keypoint_cache_mb: float = 1024,
        heatmap_dtype: Literal["float32", "stored"] = "float32",
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
        if heatmap_dtype not in ("float32", "stored"):
            raise ValueError(f"heatmap_dtype must be 'float32' or 'stored', got {heatmap_dtype!r}")
        self.heatmap_dtype = heatmap_dtype
        if not keypoint_cache_mb >= 0:
            raise ValueError(f"keypoint_cache_mb must be >= 0, got {keypoint_cache_mb}")
        self.keypoint_cache_mb = float(keypoint_cache_mb)
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
        self._info: dict[str, _SampleInfo] = {}
        self._cache = KeypointCache(int(self.keypoint_cache_mb * 2**20))

    def __len__(self) -> int:
        return len(self.sample_ids)

    def reader(self) -> ShardReader:
        reader = _LazyReader.reader(self)
        if getattr(self, "_info_pid", None) != self._reader_pid:
            # h5py groups belong to the reader that opened them; the cached arrays stay valid
            self._info, self._info_pid = {}, self._reader_pid
        return reader

    def __getstate__(self) -> dict:
        # spawn/forkserver workers start with an empty cache instead of a pickled copy
        state = _LazyReader.__getstate__(self)
        state["_info"], state["_info_pid"] = {}, None
        state["_cache"] = KeypointCache(self._cache.max_bytes)
        return state

    @property
    def keypoint_cache(self) -> KeypointCache:
        """This process's cache (hits, misses, nbytes): see `keypoint_cache_mb`."""
        return self._cache

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

    def _sample_info(self, sid: str) -> _SampleInfo:
        reader = self.reader()
        info = self._info.get(sid)
        if info is None:
            view = reader[sid]
            attrs = view.attrs
            height, width = int(attrs["height"]), int(attrs["width"])
            # every image modality shares one fit, the person box included (`fit: person`)
            fit_attr = next((f"{m}_fit" for m in IMAGE_MODALITIES if attrs.get(f"{m}_fit")), None)
            fit = view.fit(fit_attr).normalised() if fit_attr else normalised_fit(height, width, "stretch")
            points, subset, shoulders = slice(None), slice(None), (LEFT_SHOULDER, RIGHT_SHOULDER)
            if "keypoints" in self.modalities and self.keypoint_subset != "all":
                # the subset's points in its own order, then the shoulders it lacks: the item's points
                # are then the first K (a view, not a fancy-indexed copy; every output value depends
                # on its own point only, so the order of the others changes nothing)
                wanted = [int(k) for k in view.layout().subset(self.keypoint_subset)]
                extra = [k for k in (LEFT_SHOULDER, RIGHT_SHOULDER) if k not in wanted]
                points = np.array(wanted + extra, np.int64)
                subset = slice(0, len(wanted)) if extra else slice(None)
                shoulders = tuple(int(np.flatnonzero(points == k)[0]) for k in (LEFT_SHOULDER, RIGHT_SHOULDER))
            bound = attrs.get("flow_bound")
            info = _SampleInfo(
                group=view._group,
                num_frames=view.num_frames,
                height=height,
                width=width,
                fit=fit,
                heatmap_scale=float(attrs.get("heatmap_scale", 1.0)),
                flow_bound=None if bound is None else float(bound),
                points=points,
                subset=subset,
                shoulders=shoulders,
            )
            self._info[sid] = info
        return info

    def _keypoints(self, sid: str, info: _SampleInfo, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """(keypoints (T, P, 3), confidence (T, P), present (T, P)) of clip frames `idx`, points
        `info.points`, and with `fill_gaps` the gaps filled and `keypoint_filled` (T, P) fourth."""
        cached = self._cache.get(sid) if self._cache.max_bytes else None
        if cached is None:
            group, points = info.group, info.points
            n_points = len(points) if isinstance(points, np.ndarray) else group["keypoints"].shape[1]
            per_point = BYTES_PER_POINT_FRAME + (1 if self.fill_gaps else 0)  # + the filled flag
            # a sample that fits is read whole, once; its later clips come from memory
            if self._cache.fits(info.num_frames * n_points * per_point):
                arrays = [group[n][()] for n in KEYPOINT_DATASETS]
                if self.fill_gaps:  # over the whole layout: the filling knows hands and face by it
                    arrays = fill_keypoint_gaps(*arrays, self.fill_gaps)
                # C order: numpy's fancy index along axis 1 returns a time-strided copy, on which
                # every clip's take along time ran 5-10x slower
                whole = CachedKeypoints(*(np.ascontiguousarray(a[:, points]) for a in arrays))
                self._cache.add(sid, whole)
                cached = whole
            elif self.fill_gaps:
                return self._filled_keypoints(info, idx)
            else:
                return tuple(np.ascontiguousarray(read_frames(group[n], idx)[:, points]) for n in KEYPOINT_DATASETS)
        return tuple(np.take(a, idx, axis=0) for a in cached.arrays)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sid, entry = self.sample_ids[index], self.entries[index]
        info = self._sample_info(sid)
        rng = self._rng(index)
        speed = float(rng.uniform(*self.speed_range)) if self.augment else 1.0
        if self.clip_len is None:  # the whole sample: a sentence, as continuous recognition trains on it
            idx = whole_sample_indices(info.num_frames, self.sampling, rng, speed)
        else:
            idx = sample_clip_indices(info.num_frames, self.clip_len, self.sampling, rng, self.pad, speed)

        sample: dict[str, np.ndarray] = {}
        if "keypoints" in self.modalities:
            kp, confidence, present, *filled = self._keypoints(sid, info, idx)
            sample.update(keypoints=kp, keypoint_confidence=confidence, keypoint_present=present)
            if filled:  # fill_gaps
                sample["keypoint_filled"] = filled[0]
        for name in IMAGE_MODALITIES:
            if name in self.modalities:
                sample[name] = read_frames(info.group[name], idx)
        if "heatmaps" in sample and self.heatmap_dtype == "float32":
            # one pass, the same float32 products as astype then multiply (1.5x faster)
            sample["heatmaps"] = np.multiply(sample["heatmaps"], np.float32(info.heatmap_scale), dtype=np.float32)
        if "flow" in sample:
            flow = sample["flow"]
            if flow.dtype == np.uint8:
                sample["flow"] = decode_flow_uint8(flow, info.flow_bound)
            else:
                sample["flow"] = flow.astype(np.float32)
        if "hand_crops" in self.modalities:
            for name in HAND_CROP_DATASETS:
                sample[name] = read_frames(info.group[name], idx)

        height, width = info.height, info.width
        if self.augment:
            sample = crop_sample(sample, random_crop_box(rng, self.crop_scale), info.fit)

        out: dict[str, Any] = {}
        if "keypoints" in sample:
            # points a subset lacks (the shoulders, for the normalisation) go now; every output
            # value depends on its own point and the clip's centre and width only
            k_idx = info.subset
            kp, present = sample.pop("keypoints"), sample.pop("keypoint_present")
            if self.normalize:
                left, right = info.shoulders
                normalised = normalize_keypoints(kp, present, (height, width), left_shoulder=left, right_shoulder=right)
                out["keypoints"] = torch.from_numpy(np.ascontiguousarray(normalised[:, k_idx]))
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
        if "heatmaps" in out and self.heatmap_dtype == "stored":
            out["heatmap_scale"] = torch.from_numpy(np.array(info.heatmap_scale, np.float32))
        out["frame_indices"] = torch.from_numpy(idx)
        # through numpy: torch.tensor of a Python number costs ~5 us, a tenth of a cached clip's read
        out["frame_size"] = torch.from_numpy(np.array([height, width], np.int64))
        out["label"] = torch.from_numpy(np.array(self._label(entry), np.int64))
        out["orig_label"] = torch.from_numpy(np.array(int(entry.get("label", -1)), np.int64))
        out["gloss"] = entry.get("gloss") or ""
        out["glosses"] = " ".join(entry.get("glosses") or ())  # a sentence's glosses, space-separated ("" if none)
        out["translation"] = entry.get("translation") or ""
        out["signer_id"] = str(entry.get("signer_id") or "")
        out["split"] = entry.get("split") or ""
        out["sample_id"] = sid
        return out

    def _filled_keypoints(self, info: _SampleInfo, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """The clip's keypoint arrays (points `info.points`) with gaps of up to `fill_gaps` frames
        filled, and `keypoint_filled`, for a sample the cache has no room for.

        Reads `fill_gaps` frames more on each side of the clip's span, every point (the filling
        knows the hands and face by the whole layout): every gap that short and touching the clip
        has its bounding frames there, so the result equals filling the whole sample, as the
        cached path does."""
        n = self.fill_gaps
        lo, hi = max(0, int(idx.min()) - n), min(info.num_frames, int(idx.max()) + 1 + n)
        span = np.arange(lo, hi)
        arrays = (read_frames(info.group[name], span) for name in KEYPOINT_DATASETS)
        filled_arrays = fill_keypoint_gaps(*arrays, n)
        return tuple(np.ascontiguousarray(a[idx - lo][:, info.points]) for a in filled_arrays)


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
