"""Disentangled appearance/sign encoders (GaitNet losses) on background-removed frames.

`signprep train disentangle` (docs/methods.md, "Disentangled encoders"): a frame encoder splits
each background-removed frame (the `disentangle` pipeline's `background_removed`, 64x64) into an
appearance code f_a (who signs) and a sign code f_g (what is signed); a decoder rebuilds the
frame from (f_a, f_g); a temporal model (LSTM as in GaitNet, or a causal Transformer) runs over
f_g. With `hand_stream` the two hand crops of each frame (the `hand_crops` stage) pass through a
second encoder/decoder of the same form, and the frame's codes are the concatenations
f_a = [body, left hand, right hand] and f_g likewise.

Training items are pairs of videos of one gloss by different signers (`SameGlossPairSampler`):
a batch of `batch_size` pairs holds 2 x batch_size clips of `clip_len` frames. Loss:
    identity_weight * L_id-inc-avg + reconstruction_weight * L_xrecon
    + similarity_weight * L_sim [+ adversarial_weight * L_signer]
(`signprep.models.disentangle_losses`): cross reconstruction of every frame from its own f_g and
the f_a of another random frame of the same clip; similarity of the pair's time-averaged f_g;
GaitNet's incremental identity loss (gloss classes) over the running average of the temporal
outputs; optionally a signer classifier on the clip-averaged f_g behind a gradient reversal
layer (Ferreira et al.), which pushes signer information out of f_g.

The disentanglement report (`signprep.recipes.disentangle_report`, run after training, printed,
logged as `probe_*` metrics and written to `RUN/disentangle_report.json`) asks how well a linear
probe recovers the signer and the gloss from f_a and from f_g (grouped cross-validation over
videos, beside the untrained model and chance), and draws the swapped-reconstruction grid.
A good split: signer from f_a high and from f_g near chance; gloss the other way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.utils.data import Dataset, default_collate

from signprep.atomic import atomic_write_text
from signprep.data import SameGlossPairSampler, ShardDataset
from signprep.models.disentangle import FrameDecoder, FrameEncoder, GradientReversal, TemporalModel
from signprep.models.disentangle_losses import (
    cross_reconstruction_loss,
    incremental_average,
    incremental_identity_loss,
    incremental_identity_weights,
    sign_similarity_loss,
)
from signprep.recipes.disentangle_report import (
    HAND_DATASETS,
    DisentanglementReport,
    ProbeResult,
    disentanglement_report,
    encode_videos,
    probe_metrics,
    probe_model,
)
from signprep.recipes.features_file import write_features_file
from signprep.shards import ShardReader
from signprep.training import (
    SchedulerConfig,
    TrainConfig,
    Trainer,
    build_optimizer,
    build_scheduler,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)

__all__ = [
    "DisentangleConfig",
    "DisentangleModel",
    "DisentanglementReport",
    "PairClipDataset",
    "disentanglement_report",
    "embed_disentangle",
    "load_disentangle",
    "train_disentangle",
]

log = logging.getLogger(__name__)

META_FILE = "disentangle_meta.pt"
INIT_PROBES_FILE = "disentangle_probes_at_init.json"


class DisentangleConfig(TrainConfig):
    """`models/disentangle.yaml`: the shared training keys (GaitNet's defaults) plus the model's."""

    lr: float = Field(default=1e-4, gt=0)  # GaitNet: Adam lr 1e-4, wd 1e-3, betas (0.9, 0.999)
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = Field(default=8, gt=0)  # pairs of videos: 8 pairs = GaitNet's 16 videos
    scheduler: SchedulerConfig = SchedulerConfig(name="constant")
    # data
    image_size: tuple[int, int] = (64, 64)  # (H, W) the encoder sees; stored frames are resized to it
    clip_len: int = Field(default=20, ge=2)  # frames per training clip (GaitNet: 20)
    sampling: Literal["uniform", "random"] = "random"
    augment: bool = False  # ShardDataset's crop + speed augmentation
    train_splits: tuple[str, ...] | None = ("train",)  # None: every split
    hand_stream: bool = False  # hand crops as a second stream (needs the hand_crops stage)
    hand_size: int = Field(default=64, gt=0)
    # model
    channels: tuple[int, ...] = (32, 64, 128, 256)  # one stride-2 conv stage each
    convs_per_stage: int = Field(default=1, ge=1)  # > 1: residual 3x3 convs per stage (deeper encoder)
    appearance_dim: int = Field(default=256, gt=0)  # f_a (GaitNet 256)
    sign_dim: int = Field(default=64, gt=0)  # f_g (GaitNet 64)
    hand_appearance_dim: int = Field(default=64, gt=0)
    hand_sign_dim: int = Field(default=32, gt=0)
    temporal: Literal["lstm", "transformer"] = "lstm"
    temporal_hidden: int = Field(default=256, gt=0)  # GaitNet's LSTM hidden size
    temporal_layers: int = Field(default=3, gt=0)  # GaitNet: 3-layer LSTM
    transformer_heads: int = Field(default=4, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    # losses
    identity_weight: float = Field(default=1.0, ge=0)
    identity_step_weights: Literal["gaitnet", "uniform"] = "gaitnet"  # w_t = (t/5)^2/10, or 1
    reconstruction_weight: float = Field(default=20.0, ge=0)  # lambda_r
    similarity_weight: float = Field(default=10.0, ge=0)  # lambda_s
    adversarial_weight: float = Field(default=0.0, ge=0)  # 0: no signer classifier
    grl_coefficient: float = Field(default=1.0, gt=0)
    signer_hidden: int = Field(default=128, gt=0)
    # disentanglement report
    probe_folds: int = Field(default=0, ge=0)  # 0: leave one video out; k >= 2: GroupKFold(k)
    probe_frames_per_video: int = Field(default=16, gt=0)  # evenly spaced frames encoded per video
    probe_c: float = Field(default=1.0, gt=0)
    probe_every: int = Field(default=0, ge=0)  # epochs between probe runs during training; 0: at the end only
    probe_at_init: bool = True  # also probe the untrained model: random conv features already tell signers apart
    grid_pairs: int = Field(default=2, ge=1)
    grid_columns: int = Field(default=8, ge=1)


# ---------------------------------------------------------------------------------------------- data
class PairClipDataset(Dataset):
    """Item k: the k-th pair (two clip dicts of `base`) of the current epoch's `SameGlossPairSampler`
    plan. The sampler runs unsharded here; the Trainer's DistributedSampler shards the pairs.
    `collate_pairs` flattens a list of pairs into one batch [i1, j1, i2, j2, ...], the layout the
    sampler yields (items 2p and 2p + 1 form pair p)."""

    def __init__(self, base: ShardDataset, seed: int = 0) -> None:
        self.base = base
        self.sampler = SameGlossPairSampler(
            base.glosses, base.signers, pairs_per_batch=1, seed=seed, num_replicas=1, rank=0
        )
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.pairs = [tuple(batch) for batch in self.sampler]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> tuple[dict, dict]:
        i, j = self.pairs[k]
        return self.base[i], self.base[j]


def collate_pairs(pairs: Sequence[tuple[dict, dict]]) -> dict:
    return default_collate([item for pair in pairs for item in pair])


def _modalities(config: DisentangleConfig) -> tuple[str, ...]:
    return ("background_removed", "hand_crops") if config.hand_stream else ("background_removed",)


def _check_shards(shards: Path, config: DisentangleConfig) -> None:
    with ShardReader(shards) as reader:
        if not len(reader):
            raise ValueError(f"{shards}: no samples in the shard index")
        have = set(reader[next(iter(reader))].datasets)
    need = {"background_removed", *(HAND_DATASETS if config.hand_stream else ())}
    if need - have:
        raise ValueError(
            f"{shards}: the shards lack {', '.join(sorted(need - have))}; extract with `--pipeline disentangle`"
            + (" plus the hand_crops stage" if "hand_crops" in need - have else "")
        )


# ---------------------------------------------------------------------------------------------- model
class DisentangleModel(nn.Module):
    """Encoders/decoders per stream + temporal model + gloss classifier (+ adversarial signer classifier).

    forward(batch) with `background_removed` (B, T, H, W, 3) uint8 (and `hand_crops` (B, T, 2, S, S, 3),
    `hand_crop_valid` (B, T, 2) with the hand stream) -> dict:
    `f_a` (B, T, A), `f_g` (B, T, G) float; `step_logits` (B, T, C), the gloss classifier on the
    running average of the temporal outputs; `signer_logits` (B, S) when adversarial; and per stream
    s in `streams`: `recon_s` (B, T, K, 3, h, w) the cross reconstructions, `target_s` the input
    images, `valid_s` (B, T, K) bool or None (K = 1 body, 2 hands).
    """

    def __init__(self, config: DisentangleConfig, num_classes: int, num_signers: int = 0) -> None:
        super().__init__()
        self.config = config
        c = config
        self.streams = ["body", "hands"] if c.hand_stream else ["body"]
        self.sizes = {"body": tuple(c.image_size), "hands": (c.hand_size, c.hand_size)}
        self.dims = {"body": (c.appearance_dim, c.sign_dim), "hands": (c.hand_appearance_dim, c.hand_sign_dim)}
        self.copies = {"body": 1, "hands": 2}
        self.encoders = nn.ModuleDict()
        self.decoders = nn.ModuleDict()
        for s in self.streams:
            da, dg = self.dims[s]
            self.encoders[s] = FrameEncoder(self.sizes[s], c.channels, da, dg, c.convs_per_stage)
            self.decoders[s] = FrameDecoder(self.sizes[s], c.channels, da, dg, c.convs_per_stage)
        self.appearance_dim = sum(self.dims[s][0] * self.copies[s] for s in self.streams)
        self.sign_dim = sum(self.dims[s][1] * self.copies[s] for s in self.streams)
        self.temporal = TemporalModel(
            self.sign_dim, c.temporal_hidden, c.temporal_layers, c.temporal, c.transformer_heads, c.dropout
        )
        self.classifier = nn.Linear(c.temporal_hidden, num_classes)
        self.signer_classifier: nn.Module | None = None
        if c.adversarial_weight > 0 and num_signers > 1:
            self.signer_classifier = nn.Sequential(
                GradientReversal(c.grl_coefficient),
                nn.Linear(self.sign_dim, c.signer_hidden),
                nn.ReLU(inplace=True),
                nn.Linear(c.signer_hidden, num_signers),
            )

    # images -------------------------------------------------------------------------------------
    def stream_images(self, batch: Mapping[str, Any]) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """Per stream: images (B, T, K, 3, h, w) float in [0, 1] at the configured size, valid (B, T, K) or None."""
        out = {"body": (_to_images(batch["background_removed"].unsqueeze(2), self.sizes["body"]), None)}
        if "hands" in self.streams:
            out["hands"] = (_to_images(batch["hand_crops"], self.sizes["hands"]), batch["hand_crop_valid"].bool())
        return out

    def encode_stream(self, stream: str, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, K, 3, h, w) -> f_a (B, T, K, da), f_g (B, T, K, dg)."""
        B, T, K = images.shape[:3]
        f_a, f_g = self.encoders[stream](images.flatten(0, 2))
        return f_a.view(B, T, K, -1), f_g.view(B, T, K, -1)

    def encode(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """`f_a` (B, T, A), `f_g` (B, T, G) concatenated over streams, and `codes`/`images` per stream."""
        images = self.stream_images(batch)
        codes = {s: self.encode_stream(s, images[s][0]) for s in self.streams}
        f_a = torch.cat([codes[s][0].flatten(2) for s in self.streams], dim=2)
        f_g = torch.cat([codes[s][1].flatten(2) for s in self.streams], dim=2)
        return {"f_a": f_a, "f_g": f_g, "codes": codes, "images": images}

    def decode(self, stream: str, f_a: torch.Tensor, f_g: torch.Tensor) -> torch.Tensor:
        """(..., da), (..., dg) of one stream -> images (..., 3, h, w)."""
        lead = f_a.shape[:-1]
        out = self.decoders[stream](f_a.reshape(-1, f_a.shape[-1]), f_g.reshape(-1, f_g.shape[-1]))
        return out.view(*lead, *out.shape[1:])

    def sign_outputs(self, f_g: torch.Tensor) -> torch.Tensor:
        """Temporal outputs h^1..h^T (B, T, hidden)."""
        return self.temporal(f_g)

    # training forward ---------------------------------------------------------------------------
    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        enc = self.encode(batch)
        f_a, f_g = enc["f_a"], enc["f_g"]
        B, T = f_a.shape[:2]
        # appearance source of each target frame: another random frame t1 != t2 of the same clip
        shift = torch.randint(1, T, (B, T), device=f_a.device) if T > 1 else torch.zeros(B, T, dtype=torch.long)
        t1 = (torch.arange(T, device=f_a.device)[None] + shift.to(f_a.device)) % T  # (B, T)
        out: dict[str, torch.Tensor] = {"f_a": f_a, "f_g": f_g}
        for s in self.streams:
            sa, sg = enc["codes"][s]
            images, valid = enc["images"][s]
            src = torch.gather(sa, 1, t1[:, :, None, None].expand_as(sa))
            out[f"recon_{s}"] = self.decode(s, src, sg)
            out[f"target_{s}"] = images
            if valid is not None:
                out[f"valid_{s}"] = valid & torch.gather(valid, 1, t1[:, :, None].expand_as(valid))
        out["step_logits"] = self.classifier(incremental_average(self.sign_outputs(f_g)))
        if self.signer_classifier is not None:
            out["signer_logits"] = self.signer_classifier(f_g.mean(1))
        return out


def _to_images(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, T, K, h, w, 3) uint8 -> (B, T, K, 3, H, W) float in [0, 1], resized to `size` if needed."""
    B, T, K = x.shape[:3]
    images = x.permute(0, 1, 2, 5, 3, 4).float().div(255)
    if tuple(images.shape[-2:]) != tuple(size):
        flat = F.interpolate(
            images.flatten(0, 2), size=tuple(size), mode="bilinear", antialias=True, align_corners=False
        )
        images = flat.view(B, T, K, 3, *size)
    return images


def disentangle_losses(
    model_out: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    config: DisentangleConfig,
    streams: Sequence[str],
    signer_index: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The weighted total `loss` and its parts of one pair batch (items 2p, 2p + 1 form pair p)."""
    c = config
    f_g = model_out["f_g"]
    T = f_g.shape[1]
    xrecon = sum(
        cross_reconstruction_loss(model_out[f"recon_{s}"], model_out[f"target_{s}"], model_out.get(f"valid_{s}"))
        for s in streams
    )
    sim = sign_similarity_loss(f_g[0::2], f_g[1::2])
    weights = incremental_identity_weights(T, c.identity_step_weights, device=f_g.device)
    identity = incremental_identity_loss(model_out["step_logits"], labels, weights)
    losses = {"identity": identity, "xrecon": xrecon, "similarity": sim}
    total = c.identity_weight * identity + c.reconstruction_weight * xrecon + c.similarity_weight * sim
    if "signer_logits" in model_out and signer_index is not None:
        adv = F.cross_entropy(model_out["signer_logits"].float(), signer_index)
        losses["adversarial"] = adv
        total = total + c.adversarial_weight * adv
    return {"loss": total, **losses}


# ---------------------------------------------------------------------------------------------- training
def _train_dataset(shards: Path, config: DisentangleConfig) -> ShardDataset:
    return ShardDataset(
        shards,
        modalities=_modalities(config),
        clip_len=config.clip_len,
        sampling=config.sampling,
        split=list(config.train_splits) if config.train_splits is not None else None,
        augment=config.augment,
        label_map=True,
        seed=config.seed,
    )


def train_disentangle(
    shards: str | Path, config: DisentangleConfig, out_dir: str | Path, resume: str | Path | None = None
) -> tuple[Trainer, DisentanglementReport | None]:
    """Train on the pairs of `config.train_splits`; writes `out_dir/last.pt`, `metrics.csv`, `tb/`,
    `disentangle_meta.pt` and, at the end (rank 0), the disentanglement report and the image grid.

    Returns the finished Trainer and the report (None on ranks other than 0). Raises ValueError when
    the shards lack the background-removed frames or the training splits hold no same-gloss pair by
    two signers.
    """
    shards, out_dir = Path(shards), Path(out_dir)
    _check_shards(shards, config)
    base = _train_dataset(shards, config)
    if len(base) == 0:
        raise ValueError(f"{shards}: no labelled samples in the splits {config.train_splits}")
    try:
        pairs = PairClipDataset(base, seed=config.seed)
    except ValueError as e:
        raise ValueError(
            f"{shards}, splits {config.train_splits}: {e}. The similarity loss needs two videos of a gloss by "
            "different signers; with signer-disjoint splits use a larger corpus, or set `train_splits: null`"
        ) from None
    signers = sorted(set(base.signers))
    signer_of = {s: i for i, s in enumerate(signers)}
    label_map = base.label_map or {}
    gloss_of = {int(e["label"]): e.get("gloss") or "" for e in base.entries}

    seed_everything(config.seed)
    model = DisentangleModel(config, base.num_classes, len(signers))
    optimizer = build_optimizer(model.parameters(), config)
    scheduler = build_scheduler(optimizer, config)
    log.info(
        "%d training pairs (%d videos, %d glosses, %d signers)", len(pairs), len(base), base.num_classes, len(signers)
    )

    def step_fn(m: nn.Module, batch) -> dict[str, torch.Tensor]:
        out = m(batch)
        signer_index = None
        if "signer_logits" in out:
            signer_index = torch.tensor([signer_of[s] for s in batch["signer_id"]], device=out["f_g"].device)
        return disentangle_losses(out, batch["label"], config, model.streams, signer_index)

    def on_epoch_end(trainer: Trainer, epoch: int) -> dict[str, float]:
        every = config.probe_every
        if every and (epoch + 1) % every == 0 and (epoch + 1) < config.epochs and trainer.is_main:
            return probe_metrics(probe_model(trainer.module, shards, config))
        return {}

    trainer = Trainer(model, optimizer, scheduler, config, out_dir, step_fn, on_epoch_end=on_epoch_end)
    report = None
    try:
        if trainer.is_main:
            labels = sorted(label_map)
            meta = {"labels": labels, "glosses": [gloss_of[k] for k in labels], "signers": signers}
            save_checkpoint(out_dir / META_FILE, meta)
        init_file = out_dir / INIT_PROBES_FILE
        if resume is not None:
            trainer.resume(resume)  # the loop sets the pair dataset's epoch from the checkpoint
        elif trainer.is_main and config.probe_at_init:
            # no RNG is drawn here (eval mode, no dropout), so the run is the same with or without it
            init = probe_model(trainer.module, shards, config)
            atomic_write_text(init_file, json.dumps([asdict(p) for p in init], indent=1))
        trainer.fit(pairs, collate_fn=collate_pairs)
        if trainer.is_main:
            init_probes = None
            if config.probe_at_init and init_file.is_file():
                init_probes = [ProbeResult(**d) for d in json.loads(init_file.read_text(encoding="utf-8"))]
            report = disentanglement_report(trainer.module, shards, config, out_dir, init_probes)
            metrics = probe_metrics(report.probes)
            metrics.update(
                {f"{k}_at_init": v for k, v in probe_metrics(init_probes or []).items() if "chance" not in k}
            )
            trainer.log_metrics(metrics)
    finally:
        trainer.close()
    return trainer, report


def load_disentangle(checkpoint: str | Path) -> tuple[DisentangleModel, DisentangleConfig, dict]:
    """The model of a `train_disentangle` checkpoint (its `disentangle_meta.pt` beside it), in eval mode on the CPU."""
    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    config = DisentangleConfig.model_validate(ckpt["config"])
    meta = load_checkpoint(checkpoint.parent / META_FILE)
    model = DisentangleModel(config, len(meta["labels"]), len(meta["signers"]))
    model.load_state_dict(ckpt["model"])
    return model.eval(), config, meta


def embed_disentangle(shards: str | Path, checkpoint: str | Path, out_file: str | Path, sequences: bool = True) -> Path:
    """Write the codes of every sample of `shards` to `out_file` (`.h5`/`.hdf5`, or `.npz`).

    Per sample (N rows): `sample_id`, `gloss`, `signer_id`, `split` str; `label` int64 (the shards'),
    `num_frames` int64; `f_a_mean` (N, A), `f_g_mean` (N, G) the codes averaged over every stored
    frame; `sign_feature` (N, hidden) the averaged temporal output (GaitNet's gait feature). With
    `sequences`: `f_a` (F, A), `f_g` (F, G) for every stored frame, sample n in rows
    `frame_offsets[n]:frame_offsets[n + 1]` (`frame_offsets` (N + 1,) int64). `code_layout` (str)
    names the slices of f_a and f_g per stream. float32 throughout; HDF5 attrs repeat the dims and
    name the checkpoint.
    """
    model, config, _ = load_disentangle(checkpoint)
    videos = encode_videos(model, shards)
    counts = np.array([len(v.f_a) for v in videos], np.int64)
    layout = {
        "f_a": [[s, model.dims[s][0] * model.copies[s]] for s in model.streams],
        "f_g": [[s, model.dims[s][1] * model.copies[s]] for s in model.streams],
        "hands": "left then right" if config.hand_stream else None,
    }
    arrays: dict[str, np.ndarray] = {
        "sample_id": np.array([v.sample_id for v in videos], dtype=object),
        "label": np.array([v.label for v in videos], np.int64),
        "gloss": np.array([v.gloss for v in videos], dtype=object),
        "signer_id": np.array([v.signer_id for v in videos], dtype=object),
        "split": np.array([v.split for v in videos], dtype=object),
        "num_frames": counts,
        "f_a_mean": np.stack([v.f_a.mean(0) for v in videos]).astype(np.float32),
        "f_g_mean": np.stack([v.f_g.mean(0) for v in videos]).astype(np.float32),
        "sign_feature": np.stack([v.sign_feature for v in videos]).astype(np.float32),
        "code_layout": np.array([json.dumps(layout)], dtype=object),
    }
    if sequences:
        arrays["frame_offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        arrays["f_a"] = np.concatenate([v.f_a for v in videos]).astype(np.float32)
        arrays["f_g"] = np.concatenate([v.f_g for v in videos]).astype(np.float32)
    return write_features_file(
        out_file,
        arrays,
        {
            "appearance_dim": model.appearance_dim,
            "sign_dim": model.sign_dim,
            "temporal": config.temporal,
            "checkpoint": str(checkpoint),
        },
    )
