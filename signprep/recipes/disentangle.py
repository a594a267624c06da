"""Disentangle recipe: appearance/sign encoders (GaitNet losses) on background-removed frames.

`signprep train disentangle` (docs/methods.md, "Disentangled encoders"): a frame encoder splits
each background-removed frame (the `disentangle` pipeline's `background_removed`, 64x64) into an
appearance code f_a (who signs) and a sign code f_g (what is signed); a decoder rebuilds the
frame from (f_a, f_g); a temporal model (LSTM as in GaitNet, or a causal Transformer) runs over
f_g. With `hand_stream` the two hand crops of each frame (the `hand_crops` stage) pass through a
second encoder/decoder of the same form, and the frame's codes are the concatenations
f_a = [body, left hand, right hand] and f_g likewise (`signprep.models.disentangle.DisentangleModel`).

Training items are pairs of videos of one gloss by different signers (`PairClipDataset`):
a batch of `batch_size` pairs holds 2 x batch_size clips of `clip_len` frames. Loss
(`signprep.models.disentangle_losses.disentangle_losses`):
    identity_weight * L_id-inc-avg + reconstruction_weight * L_xrecon
    + similarity_weight * L_sim [+ adversarial_weight * L_signer]
cross reconstruction of every frame from its own f_g and the f_a of another random frame of the
same clip; similarity of the pair's time-averaged f_g; GaitNet's incremental identity loss (gloss
classes) over the running average of the temporal outputs; optionally a signer classifier on the
clip-averaged f_g behind a gradient reversal layer (Ferreira et al.), which pushes signer
information out of f_g.

The disentanglement report (`signprep.evaluation.disentanglement`, run after training, printed,
logged as `probe_*` metrics and written to `RUN/disentangle_report.json`) asks how well a linear
probe recovers the signer and the gloss from f_a and from f_g, beside the untrained model and
chance: on the training videos by grouped cross-validation over videos (`probe_*`), and on the
held-out videos (other splits, `heldout_signers`, `heldout_videos`) by the probe fitted on the
training videos (`probe_heldout_*`); and draws the swapped-reconstruction grid.
The checkpoint's metadata holds the vocabulary and the signers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from signprep.atomic import atomic_write_text
from signprep.data import PairClipDataset, ShardDataset, Vocabulary, collate_pairs
from signprep.evaluation.disentanglement import (
    DisentanglementReportConfig,
    disentanglement_report,
    probe_model,
)
from signprep.evaluation.probes import ProbeResult, probe_metrics
from signprep.evaluation.video_codes import HAND_DATASETS, encode_videos
from signprep.features_file import write_features_file
from signprep.models.disentangle import DisentangleModel, DisentangleNetConfig
from signprep.models.disentangle_losses import disentangle_losses
from signprep.shards import ShardReader
from signprep.training import (
    SchedulerConfig,
    TrainConfig,
    Trainer,
    build_optimizer,
    build_scheduler,
    load_run,
    seed_everything,
)

__all__ = ["DisentangleConfig", "embed_disentangle", "load_disentangle", "train_disentangle"]

log = logging.getLogger(__name__)

INIT_PROBES_FILE = "disentangle_probes_at_init.json"


class DisentangleConfig(TrainConfig, DisentangleNetConfig, DisentanglementReportConfig):
    """`models/disentangle.yaml`: the shared training keys (GaitNet's defaults), the network's
    (`DisentangleNetConfig`), the report's (`DisentanglementReportConfig`), and the data and loss keys."""

    lr: float = Field(default=1e-4, gt=0)  # GaitNet: Adam lr 1e-4, wd 1e-3, betas (0.9, 0.999)
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = Field(default=8, gt=0)  # pairs of videos: 8 pairs = GaitNet's 16 videos
    scheduler: SchedulerConfig = SchedulerConfig(name="constant")
    # data
    clip_len: int = Field(default=20, ge=2)  # frames per training clip (GaitNet: 20)
    sampling: Literal["uniform", "random"] = "random"
    augment: bool = False  # ShardDataset's crop + speed augmentation
    train_splits: tuple[str, ...] | None = ("train",)  # None: every split
    # losses
    identity_weight: float = Field(default=1.0, ge=0)
    identity_step_weights: Literal["gaitnet", "uniform"] = "gaitnet"  # w_t = (t/5)^2/10, or 1
    reconstruction_weight: float = Field(default=20.0, ge=0)  # lambda_r
    similarity_weight: float = Field(default=10.0, ge=0)  # lambda_s
    adversarial_weight: float = Field(default=0.0, ge=0)  # 0: no signer classifier
    # disentanglement report: when to probe (the report's own keys are DisentanglementReportConfig's)
    probe_every: int = Field(default=0, ge=0)  # epochs between probe runs during training; 0: at the end only
    probe_at_init: bool = True  # also probe the untrained model: random conv features already tell signers apart


def train_disentangle(
    shards: str | Path, config: DisentangleConfig, out_dir: str | Path, resume: str | Path | None = None
) -> Trainer:
    """Train on the pairs of `config.train_splits`; writes `out_dir/last.pt`, `metrics.csv`, `tb/` and,
    at the end (rank 0), the disentanglement report and the image grid.

    Returns the finished Trainer: `report` holds the `DisentanglementReport` (None on ranks other than
    0), `final_metrics` its probe accuracies with their chance and at-init values. Raises ValueError when
    the shards lack the background-removed frames or the training splits hold no same-gloss pair by
    two signers.
    """
    shards, out_dir = Path(shards), Path(out_dir)
    _check_shards(shards, config)
    heldout = _heldout_ids(shards, config)
    base = _train_dataset(shards, config, heldout)
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
    gloss_of = {int(e["label"]): e.get("gloss") or "" for e in base.entries}
    labels = sorted(base.label_map or {})
    vocab = Vocabulary({lab: i for i, lab in enumerate(labels)}, [gloss_of[lab] for lab in labels])

    seed_everything(config.seed)
    model = _build_model(config, base.num_classes, signers)
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
        return disentangle_losses(
            out,
            batch["label"],
            model.streams,
            identity_weight=config.identity_weight,
            reconstruction_weight=config.reconstruction_weight,
            similarity_weight=config.similarity_weight,
            adversarial_weight=config.adversarial_weight,
            identity_step_weights=config.identity_step_weights,
            signer_index=signer_index,
        )

    trained_ids = set(base.sample_ids)

    def all_probe_metrics(probes: list[ProbeResult], heldout: list[ProbeResult]) -> dict[str, float]:
        return {**probe_metrics(probes), **probe_metrics(heldout, prefix="probe_heldout")}

    def on_epoch_end(trainer: Trainer, epoch: int) -> dict[str, float]:
        every = config.probe_every
        if every and (epoch + 1) % every == 0 and (epoch + 1) < config.epochs and trainer.is_main:
            return all_probe_metrics(*probe_model(trainer.module, shards, config, trained_ids))
        return {}

    init_file = out_dir / INIT_PROBES_FILE

    def final_report(trainer: Trainer) -> dict[str, float]:
        if not trainer.is_main:
            return {}
        init_probes = None
        if config.probe_at_init and init_file.is_file():
            saved = json.loads(init_file.read_text(encoding="utf-8"))
            init_probes = tuple([ProbeResult(**d) for d in saved[k]] for k in ("trained", "heldout"))
        report = disentanglement_report(trainer.module, shards, config, out_dir, trained_ids, init_probes)
        trainer.report = report
        metrics = all_probe_metrics(report.probes, report.heldout_probes)
        at_init = all_probe_metrics(*init_probes) if init_probes else {}
        metrics.update({f"{k}_at_init": v for k, v in at_init.items() if "chance" not in k})
        trainer.log_metrics(metrics)
        return metrics

    metadata = {"vocabulary": vocab.to_dict(), "signers": signers, "heldout_videos": sorted(heldout)}
    trainer = Trainer(model, optimizer, scheduler, config, out_dir, step_fn, metadata=metadata,
                      on_epoch_end=on_epoch_end, on_fit_end=final_report)  # fmt: skip
    if resume is None and trainer.is_main and config.probe_at_init:
        # no RNG is drawn here (eval mode, no dropout), so the run is the same with or without it
        init = probe_model(trainer.module, shards, config, trained_ids)
        saved = {k: [asdict(p) for p in probes] for k, probes in zip(("trained", "heldout"), init)}
        atomic_write_text(init_file, json.dumps(saved, indent=1))
    return trainer.run(pairs, resume=resume, collate_fn=collate_pairs)  # the loop sets the pairs' epoch


def load_disentangle(checkpoint: str | Path) -> tuple[DisentangleModel, DisentangleConfig, dict]:
    """The model of a `train_disentangle` checkpoint, in eval mode on the CPU, its config and metadata
    (`vocabulary`, `signers`)."""
    run = load_run(checkpoint, metadata_keys=("vocabulary", "signers"))
    config = DisentangleConfig.model_validate(run.config)
    model = _build_model(config, len(run.metadata["vocabulary"]["labels"]), run.metadata["signers"])
    model.load_state_dict(run.model)
    return model.eval(), config, run.metadata


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


# ---------------------------------------------------------------------------------------------- set-up
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


def _heldout_ids(shards: Path, config: DisentangleConfig) -> set[str]:
    """The sample ids kept out of training: `heldout_videos` and every video of `heldout_signers`;
    ValueError naming any that the shard index lacks."""
    with ShardReader(shards) as reader:
        entries = reader.index.samples
    missing = sorted(set(config.heldout_videos) - set(entries))
    signers = {str(e.get("signer_id")) for e in entries.values()}
    missing += [f"signer {s}" for s in sorted(set(config.heldout_signers) - signers)]
    if missing:
        raise ValueError(f"{shards}: no such held-out video or signer in the shard index: {', '.join(missing)}")
    by_signer = {sid for sid, e in entries.items() if str(e.get("signer_id")) in set(config.heldout_signers)}
    return set(config.heldout_videos) | by_signer


def _train_dataset(shards: Path, config: DisentangleConfig, heldout: set[str]) -> ShardDataset:
    return ShardDataset(
        shards,
        modalities=_modalities(config),
        clip_len=config.clip_len,
        sampling=config.sampling,
        split=list(config.train_splits) if config.train_splits is not None else None,
        exclude=heldout,
        augment=config.augment,
        label_map=True,
        seed=config.seed,
    )


def _build_model(config: DisentangleConfig, num_classes: int, signers: list[str]) -> DisentangleModel:
    """The network; the signer classifier only with an adversarial loss (and two signers or more)."""
    return DisentangleModel(config, num_classes, len(signers) if config.adversarial_weight > 0 else 0)
