"""The codes of a disentangle model for whole videos of a shard directory.

`encode_videos` runs `DisentangleModel.encode` (eval mode, no augmentation) over every stored
frame of each video, or over evenly spaced ones: what the probes, the reconstruction grid and
`signprep embed disentangle` all read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from signprep.models.disentangle import DisentangleModel
from signprep.shards import ShardReader
from signprep.shards.reader import SampleView

__all__ = ["HAND_DATASETS", "VideoCodes", "encode_videos", "evenly_spaced", "video_batch"]

HAND_DATASETS = ("hand_crops", "hand_crop_valid")  # the hand stream's shard datasets


@dataclass
class VideoCodes:
    """Codes of the encoded frames of one video."""

    sample_id: str
    label: int
    gloss: str
    signer_id: str
    split: str
    f_a: np.ndarray  # (T, A) float32
    f_g: np.ndarray  # (T, G) float32
    sign_feature: np.ndarray  # (hidden,) the running average of the temporal outputs at the last frame


def video_batch(view: SampleView, hand_stream: bool, frames: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
    """A one-video batch (B = 1) of the stored frames `frames` (0-based, default all) of a sample."""
    idx = np.arange(view.num_frames) if frames is None else np.asarray(frames)
    batch = {"background_removed": torch.from_numpy(view.read("background_removed")[idx])[None]}
    if hand_stream:
        for name in HAND_DATASETS:
            batch[name] = torch.from_numpy(view.read(name)[idx])[None]
    return batch


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """Up to k distinct frame indices spread evenly over 0..n-1 (the first and the last included)."""
    return np.unique(np.round(np.linspace(0, n - 1, min(k, n))).astype(int))


@torch.no_grad()
def encode_videos(
    model: DisentangleModel,
    shards: str | Path,
    ids: Sequence[str] | None = None,
    max_frames: int | None = None,
    temporal: bool = True,
) -> list[VideoCodes]:
    """f_a, f_g and the sign feature of each video (default: every sample): of every stored frame, or
    of `max_frames` evenly spaced ones. `temporal=False` skips the temporal model (sign_feature empty)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    with ShardReader(shards) as reader:
        for sid in ids if ids is not None else sorted(reader):
            view = reader[sid]
            frames = None if max_frames is None else evenly_spaced(view.num_frames, max_frames)
            batch = {k: v.to(device) for k, v in video_batch(view, model.config.hand_stream, frames).items()}
            enc = model.encode(batch)
            h = model.sign_outputs(enc["f_g"])[0].float().mean(0).cpu().numpy() if temporal else np.zeros(0)
            a = view.attrs
            out.append(
                VideoCodes(
                    sid,
                    int(a.get("label", -1)),
                    str(a.get("gloss") or ""),
                    str(a.get("signer_id") or ""),
                    str(a.get("split") or ""),
                    enc["f_a"][0].float().cpu().numpy(),
                    enc["f_g"][0].float().cpu().numpy(),
                    h,
                )
            )
    model.train(was_training)
    return out
