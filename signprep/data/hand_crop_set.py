"""Hand crops of a shard directory held in memory (the hand models' data; their signer and class
hold-outs are `signprep.data.splits`).

Both hand models (`signprep.recipes.handpose`, `signprep.recipes.siamese`) read every
qualifying crop once (a 64x64 crop is 12 KB: the sample corpus's few thousand crops fit in
tens of MB) instead of one HDF5 read per item per epoch. Which crops qualify is
`FrameDataset`'s rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from signprep.data.datasets import FrameDataset
from signprep.features_file import write_features_file
from signprep.shards import ShardReader

__all__ = ["HandCropSet"]


@dataclass
class HandCropSet(Dataset):
    """N crops: `images` (N, S, S, 3) uint8, `keypoints` (N, 21, 2) float32 crop pixels (0 where
    the hand model missed), `labels` (N,) int64 class index (-1 unlabelled), `frames`, `hands`
    (0 the signer's left, 1 right), `sources` (1 landmarks, 2 estimated from the arm) int64;
    per-crop `sample_ids`, `signers`, `glosses`, `splits`.

    As a Dataset, item i is {"image", "keypoints", "label"} (the trainers' batches).
    """

    images: torch.Tensor
    keypoints: torch.Tensor
    labels: torch.Tensor
    frames: torch.Tensor
    hands: torch.Tensor
    sources: torch.Tensor
    sample_ids: list[str]
    signers: list[str]
    glosses: list[str]
    splits: list[str]

    @classmethod
    def load(
        cls,
        shards: str | Path,
        *,
        label_map: dict[int, int] | None = None,
        require_landmarks: bool = True,
        hands: Sequence[int] = (0, 1),
        frame_stride: int = 1,
        progress: bool = False,
    ) -> HandCropSet:
        """Every crop of `shards` that FrameDataset yields, keeping frames t with t % frame_stride == 0.

        `frame_stride` > 1 thins the near-duplicate consecutive frames of a clip.
        Raises ValueError naming the directory when it holds no such crop (or no hand_crops stage).
        """
        if frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
        with ShardReader(shards) as reader:
            first = next(iter(reader), None)
            if first is None or "hand_crops" not in reader[first].datasets:
                raise ValueError(f"{shards}: no hand crops (extract with a pipeline that has the hand_crops stage)")
        view = FrameDataset(shards, hands=tuple(hands), require_landmarks=require_landmarks, label_map=label_map)
        by_sample: dict[str, list[tuple[int, int]]] = {}
        for sid, t, h in view.items:
            if t % frame_stride == 0:
                by_sample.setdefault(sid, []).append((t, h))
        if not by_sample:
            what = "with hand landmarks " if require_landmarks else ""
            raise ValueError(f"{shards}: no valid hand crops {what}in the selected samples")
        images, keypoints, frames, hands_, sources = [], [], [], [], []
        sample_ids, signers, glosses, splits, labels = [], [], [], [], []
        with ShardReader(shards) as reader:
            for sid, picks in tqdm(by_sample.items(), desc="hand crops", unit="sample", disable=not progress):
                sample = reader[sid]
                t, h = (np.array(x) for x in zip(*picks))
                images.append(sample.read("hand_crops")[t, h])
                keypoints.append(sample.read("hand_keypoints_crop")[t, h].astype(np.float32))
                sources.append(sample.read("hand_crop_source")[t, h].astype(np.int64))
                frames.append(t)
                hands_.append(h)
                entry = view.entries[sid]
                n = len(picks)
                sample_ids += [sid] * n
                signers += [str(entry.get("signer_id") or "")] * n
                glosses += [entry.get("gloss") or ""] * n
                splits += [entry.get("split") or ""] * n
                label = int(entry.get("label", -1))
                labels += [view.label_map.get(label, -1) if view.label_map is not None else label] * n
        return cls(
            images=torch.from_numpy(np.concatenate(images)),
            keypoints=torch.from_numpy(np.concatenate(keypoints)),
            labels=torch.tensor(labels, dtype=torch.int64),
            frames=torch.from_numpy(np.concatenate(frames).astype(np.int64)),
            hands=torch.from_numpy(np.concatenate(hands_).astype(np.int64)),
            sources=torch.from_numpy(np.concatenate(sources)),
            sample_ids=sample_ids,
            signers=signers,
            glosses=glosses,
            splits=splits,
        )

    def save_npz(self, path: str | Path) -> Path:
        """Write every field to one compressed .npz (a cache that travels without the shards)."""
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays = {k: v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=str) for k, v in arrays.items()}
        return write_features_file(Path(path).with_suffix(".npz"), arrays, {}, compress=True)

    @classmethod
    def load_npz(cls, path: str | Path) -> HandCropSet:
        """The set `save_npz` wrote."""
        with np.load(path) as data:
            values = {f.name: data[f.name] for f in fields(cls)}
        return cls(**{k: v.tolist() if v.dtype.kind == "U" else torch.from_numpy(v) for k, v in values.items()})

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "keypoints": self.keypoints[i], "label": self.labels[i]}

    def subset(self, mask: np.ndarray | torch.Tensor) -> HandCropSet:
        """The crops where the boolean `mask` (N,) is set, in order."""
        idx = np.flatnonzero(np.asarray(mask, bool))
        t = torch.from_numpy(idx)
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        return HandCropSet(
            self.images[t], self.keypoints[t], self.labels[t], self.frames[t], self.hands[t], self.sources[t],
            pick(self.sample_ids), pick(self.signers), pick(self.glosses), pick(self.splits),
        )  # fmt: skip

    def evenly_spaced(self, limit: int | None) -> HandCropSet:
        """At most `limit` crops (None: all), spread evenly over the set in order."""
        if limit is None or len(self) <= limit:
            return self
        mask = torch.zeros(len(self), dtype=torch.bool)
        mask[torch.linspace(0, len(self) - 1, limit).long()] = True
        return self.subset(mask.numpy())
