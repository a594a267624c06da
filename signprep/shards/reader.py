"""Read a shard directory: one sample, or a slice of its frames, lazily.

    from signprep.shards import ShardReader
    shards = ShardReader("out/")
    sample = shards["90012"]
    sample.attrs["gloss"], sample.num_frames
    xy = sample.read("keypoints", frames=slice(10, 20))[..., :2]   # (10, K, 2) pixels
    hands = sample.keypoints(subset="hands")                       # (T, 42, 3)
    usable = shards.ids(split="train", min_quality={"dominant_hand_fraction": 0.5})

HDF5 handles are opened on first use and belong to the process that opened
them, so a reader created before a DataLoader forks its workers is safe: each
worker opens its own handles.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from signprep.kernels.frame_fit import FrameFit
from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.kernels.keypoint_quality import check_figures, passes, quality_of_arrays
from signprep.shards.index import ShardIndex
from signprep.shards.schema import SAMPLES_GROUP, SchemaError, check_file, check_sample


class SampleView:
    """One sample of a shard: attributes eagerly, arrays on demand."""

    def __init__(self, sample_id: str, group: h5py.Group) -> None:
        self.sample_id = sample_id
        self._group = group
        self.attrs: dict[str, Any] = {k: _attr(v) for k, v in group.attrs.items()}

    @property
    def num_frames(self) -> int:
        return int(self.attrs["num_frames"])

    @property
    def datasets(self) -> list[str]:
        return sorted(k for k, v in self._group.items() if isinstance(v, h5py.Dataset))

    def __getitem__(self, name: str) -> h5py.Dataset:
        """The h5py dataset itself, for lazy slicing (`sample["keypoints"][5:9]`)."""
        if name not in self._group:
            raise KeyError(f"sample {self.sample_id} has no dataset {name!r} (has: {', '.join(self.datasets)})")
        return self._group[name]

    def read(self, name: str, frames: slice | np.ndarray | None = None) -> np.ndarray:
        ds = self[name]
        return ds[()] if frames is None else ds[frames]

    def keypoints(self, subset: str = "all", frames: slice | None = None) -> np.ndarray:
        """(T, K_subset, 3) keypoints in pixels; absent points are 0 (see `keypoint_present`)."""
        layout = self.layout()
        idx = layout.subset(subset)
        return self.read("keypoints", frames)[:, idx]

    def fit(self, attr: str) -> FrameFit:
        """The `FrameFit` a stage stored in `attr` (e.g. "person_mask_fit"): stored-frame -> its pixels."""
        return FrameFit.from_attr(json.loads(self.attrs[attr]), int(self.attrs["height"]), int(self.attrs["width"]))

    def quality(self) -> dict[str, Any] | None:
        """The keypoint quality figures (signprep/kernels/keypoint_quality.py): the stored attribute,
        or computed from the stored arrays for a sample written before it existed; None without keypoints."""
        if self.attrs.get("keypoint_quality"):
            return json.loads(self.attrs["keypoint_quality"])
        names = ("keypoint_present", "keypoint_confidence", "keypoints", "frame_indices")
        if not set(names) <= set(self.datasets):
            return None
        return quality_of_arrays({name: self.read(name) for name in names})

    def layout(self) -> KeypointLayout:
        components = json.loads(self.attrs["keypoint_layout"])
        face = components["face"][1] - components["face"][0]
        return KeypointLayout(face)


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


class ShardReader:
    """A shard directory opened through its `shard_index.json`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        index = ShardIndex.load(self.root)
        if index is None:
            raise SchemaError(
                f"{self.root}: no shard_index.json (not a signprep output directory, or nothing finished)"
            )
        self.index = index
        self._files: dict[str, h5py.File] = {}
        self._checked: set[str] = set()  # sample ids whose group passed check_sample
        self._quality: dict[str, dict | None] = {}  # computed figures of samples the index has none for
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.index.samples)

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self.index.samples

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.index.samples))

    def ids(
        self,
        *,
        min_quality: Mapping[str, float] | None = None,
        max_quality: Mapping[str, float] | None = None,
        **where: Any,
    ) -> list[str]:
        """Sample ids whose index entry matches, e.g. `ids(split="train")`, and whose keypoint quality
        meets the bounds, e.g. `min_quality={"dominant_hand_fraction": 0.5}` (at least half the frames
        with the dominant hand), `max_quality={"shoulder_jitter_px": 2}`. The figures are those of
        docs/shards.md ("Keypoint quality"); a sample without one (no keypoints) fails its bound."""
        low, high = check_figures(min_quality, "min_quality"), check_figures(max_quality, "max_quality")
        chosen = sorted(
            s for s, e in self.index.samples.items() if all(str(e.get(k)) == str(v) for k, v in where.items())
        )
        return [s for s in chosen if passes(self.quality(s), low, high)] if low or high else chosen

    def quality(self, sample_id: str) -> dict[str, Any] | None:
        """A sample's keypoint quality figures: from the index, else from its shard (`SampleView.quality`,
        computed once per reader for shards written before the figures existed)."""
        entry = self.index.samples.get(sample_id)
        if entry is None:
            raise KeyError(f"no sample {sample_id!r} in {self.root}")
        if "quality" not in entry:
            if sample_id not in self._quality:
                self._quality[sample_id] = self[sample_id].quality()
            return self._quality[sample_id]
        return entry["quality"]

    def _file(self, shard: str) -> h5py.File:
        if os.getpid() != self._pid:  # forked: handles of the parent are not ours to use
            self._files, self._pid = {}, os.getpid()
        f = self._files.get(shard)
        if f is None:
            path = self.root / shard
            try:
                f = h5py.File(path, "r")
            except OSError as e:  # h5py's message does not name the file
                raise SchemaError(f"{path}: cannot open as HDF5 ({e})") from None
            # a shard from elsewhere is checked before use: schema and the index's pipeline
            try:
                check_file(f, str(path))
                if f.attrs["pipeline_hash"] != self.index.pipeline_hash:
                    raise SchemaError(
                        f"{path}: pipeline hash {f.attrs['pipeline_hash']} differs from the index's "
                        f"{self.index.pipeline_hash} (a shard of another extraction)"
                    )
            except SchemaError:
                f.close()
                raise
            self._files[shard] = f
        return f

    def __getitem__(self, sample_id: str) -> SampleView:
        entry = self.index.samples.get(sample_id)
        if entry is None:
            raise KeyError(f"no sample {sample_id!r} in {self.root}")
        path = self.root / entry["shard"]
        samples = self._file(entry["shard"])[SAMPLES_GROUP]
        if sample_id not in samples:
            raise SchemaError(f"{path}: indexed sample {sample_id} is absent")
        group = samples[sample_id]
        if sample_id not in self._checked:  # attributes, links and shapes only: no data is read
            check_sample(group, str(path))
            self._checked.add(sample_id)
        return SampleView(sample_id, group)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}

    def __enter__(self) -> ShardReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
