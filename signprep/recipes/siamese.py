"""Siamese recipe: a cosine embedding of hand crops on frozen hand-pose features, with a
low-shot prototype classifier (docs/methods.md, "Siamese hand-pose embedding"; thesis 3.2-3.3).

`signprep train siamese`: the encoder of a `signprep train handpose` checkpoint is frozen
(`signprep.models.siamese.SiameseModel`); its average-pooled features of every crop are
computed once, and only the embedding head (dual-path layers -> f-dimensional unit vector,
alpha, beta) is trained, on class-balanced batches of the training signers' crops (classes:
glosses), with the pairwise BCE loss.

Evaluation, by signer (`signprep.data.splits.signer_split`; `signprep.evaluation.lowshot`):
S prototypes per class are drawn from the training signers' crops, the queries are every
crop of the held-out (test) signers, and of the `val_signers` (held out of training, to
choose on); a class counts when it has both. With `holdout_classes: n`, n such
glosses are left out of the embedding's training and evaluated apart as unseen classes.
Reported per epoch and in `lowshot.json`: top-1/top-2 per crop and per sample (a sample's
class scores averaged over its crops), for the max and the mean prototype rule, with
confusion-matrix images `confusion_*.png`. The checkpoint's metadata holds the vocabulary,
the encoder's expansion ratio and the unseen classes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn
from tqdm import tqdm

from signprep.atomic import atomic_write_text
from signprep.data import BalancedFeatureBatches, ClassBalancedBatchSampler, Vocabulary
from signprep.data.hand_crop_set import HandCropSet
from signprep.data.splits import holdout_classes, signer_split
from signprep.evaluation.lowshot import evaluate_lowshot, lowshot_metrics
from signprep.features_file import write_features_file
from signprep.models.handpose import HandPoseNet
from signprep.models.siamese import SiameseModel, siamese_pair_loss
from signprep.reports.plots import render_confusion
from signprep.shards import ShardReader
from signprep.training import SGDRConfig, Trainer, build_sgd_warm_restarts, load_run, seed_everything

__all__ = ["LOWSHOT_FILE", "SiameseConfig", "embed_siamese", "load_siamese", "train_siamese"]

log = logging.getLogger(__name__)

LOWSHOT_FILE = "lowshot.json"


class SiameseConfig(SGDRConfig):
    """`models/siamese.yaml`: the shared training keys plus the embedding's."""

    epochs: int = Field(default=20, gt=0)
    batch_size: int = Field(default=1, gt=0)  # class-balanced batches concatenated per optimizer step
    handpose_checkpoint: str | None = None  # last.pt of `signprep train handpose`; --handpose overrides
    embed_dim: int = Field(default=10, gt=0)  # f
    dp_layers: int = Field(default=8, ge=0)  # linear dual-path layers (Fig. 3.19: 8, 128 -> 256 channels)
    dp_growth: int = Field(default=16, ge=0)  # channels each dual-path layer adds
    dropout: float = Field(default=0.25, ge=0, lt=1)
    beta_weight: float = Field(default=0.25, ge=0)  # lambda_beta of the |beta| penalty
    pos_weight: float | None = Field(default=None, gt=0)  # None: |C| - 1, C the training classes
    classes_per_batch: int = Field(default=0, ge=0)  # P; 0: every training class in every batch
    samples_per_class: int = Field(default=16, gt=0)  # K
    batches_per_epoch: int | None = Field(default=None, gt=0)  # None: training crops // (P * K)
    hands: tuple[int, ...] = (0, 1)
    frame_stride: int = Field(default=1, gt=0)
    test_signers: tuple[str, ...] | None = None  # None: the signers of the shards' test split
    val_signers: tuple[str, ...] = ()  # held out of training, scored as `val_signer` (training signers' classes)
    holdout_classes: int = Field(default=0, ge=0)  # glosses kept out of training, evaluated as unseen
    prototypes_per_class: int = Field(default=10, gt=0)  # S
    prototype_rule: Literal["max", "mean"] = "max"  # the rule of the per-epoch metrics; lowshot.json has both
    feature_batch_size: int = Field(default=256, gt=0)

    @model_validator(mode="after")
    def _growth_given(self) -> SiameseConfig:
        if self.dp_layers and not self.dp_growth:
            raise ValueError("dp_growth must be > 0 when dp_layers > 0")
        return self


def train_siamese(
    shards: str | Path,
    config: SiameseConfig,
    out_dir: str | Path,
    handpose_checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
) -> Trainer:
    """Train the embedding head; writes `out_dir/last.pt`, `metrics.csv`, `tb/`, `lowshot.json`,
    `confusion_*.png`. Returns the finished Trainer: `report` holds the lowshot.json report (rank 0),
    `final_metrics` its accuracies per split and rule (`heldout_signer/max/top1`, ...) with their chance."""
    shards, out_dir = Path(shards), Path(out_dir)
    handpose_checkpoint = handpose_checkpoint or config.handpose_checkpoint
    if handpose_checkpoint is None:
        raise ValueError("no hand-pose checkpoint: give --handpose or `handpose_checkpoint` in the config")
    config = config.model_copy(update={"handpose_checkpoint": str(handpose_checkpoint)})
    vocab = Vocabulary.from_shards(shards)
    crops = HandCropSet.load(
        shards,
        label_map=vocab.label_map,
        hands=config.hands,
        frame_stride=config.frame_stride,
        progress=config.progress,
    )
    split = signer_split(crops.signers, crops.splits, config.test_signers, config.val_signers)
    train_mask, test_mask, held = split.train, split.test, split.test_signers
    labels = crops.labels.numpy()
    unseen = holdout_classes(labels, train_mask, test_mask, config.holdout_classes, config.seed)
    fit_mask = train_mask & ~np.isin(labels, unseen)

    handpose_run = load_run(handpose_checkpoint)
    handpose = HandPoseNet.from_state_dict(handpose_run.model, handpose_run.config.get("expand"), handpose_checkpoint)
    seed_everything(config.seed)
    model = _build_model(config, handpose)
    features = _crop_features(model, crops, config.feature_batch_size, progress=config.progress)
    model.set_feature_scale(features[torch.from_numpy(fit_mask)])
    features = model.standardize(features)
    fit_labels = crops.labels[torch.from_numpy(fit_mask)]
    num_classes = len(torch.unique(fit_labels))
    if num_classes < 2:
        raise ValueError(f"{shards}: the training signers' crops hold {num_classes} class(es); need at least 2")
    pos_weight = config.pos_weight if config.pos_weight is not None else float(num_classes - 1)
    p = config.classes_per_batch or num_classes
    sampler = ClassBalancedBatchSampler(
        fit_labels.tolist(), min(p, num_classes), config.samples_per_class, config.batches_per_epoch, seed=config.seed
    )
    batches = BalancedFeatureBatches(features[torch.from_numpy(fit_mask)], fit_labels, sampler)
    log.info(
        "siamese: %d training crops of %d classes (pos_weight %.3g), %d held-out-signer crops %s, unseen classes %s",
        int(fit_mask.sum()), num_classes, pos_weight, int(test_mask.sum()), held,
        [vocab.glosses[c] for c in unseen],
    )  # fmt: skip

    optimizer, scheduler = build_sgd_warm_restarts(model.head.parameters(), config)

    def step_fn(m: nn.Module, batch) -> dict[str, torch.Tensor]:
        emb = m.head(batch["features"])
        return siamese_pair_loss(emb, batch["label"], m.head.alpha, m.head.beta, pos_weight, config.beta_weight)

    def embed_all(m: SiameseModel) -> torch.Tensor:
        was = m.training
        m.eval()
        with torch.no_grad():
            out = torch.cat([m.head(features[i : i + 4096].to(m.head.out.weight.device)).cpu()
                             for i in range(0, len(features), 4096)])  # fmt: skip
        m.train(was)
        return out

    seen = sorted(int(c) for c in np.unique(labels[fit_mask]))

    def evaluate(m: SiameseModel, rule: str) -> dict[str, dict]:
        emb = embed_all(m)
        a, b = m.head.alpha.item(), m.head.beta.item()
        common = dict(per_class=config.prototypes_per_class, rule=rule, seed=config.seed, sample_ids=crops.sample_ids)
        out = {"heldout_signer": evaluate_lowshot(emb, crops.labels, fit_mask, test_mask, a, b, classes=seen, **common)}
        if split.val.any():  # empty ({}) when the val signers share fewer than 2 glosses with the training signers
            out["val_signer"] = evaluate_lowshot(emb, crops.labels, fit_mask, split.val, a, b, classes=seen, **common)
        if unseen:
            out["unseen_classes"] = evaluate_lowshot(emb, crops.labels, train_mask, test_mask, a, b, classes=unseen,
                                                     **common)  # fmt: skip
        return out

    def on_epoch_end(trainer: Trainer, epoch: int) -> dict[str, float]:
        m = trainer.module
        metrics = {"alpha": m.head.alpha.item(), "beta": m.head.beta.item()}
        for name, r in evaluate(m, config.prototype_rule).items():
            for k in ("top1", "top2", "sample_top1", "sample_top2"):
                if k in r:
                    metrics[f"eval_{name}/{k}"] = r[k]
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        return metrics

    def final_evaluation(trainer: Trainer) -> dict[str, float]:
        if not trainer.is_main:
            return {}
        m = trainer.module
        report: dict = {
            "embed_dim": config.embed_dim,
            "training_classes": num_classes,
            "pos_weight": pos_weight,
            "alpha": m.head.alpha.item(),
            "beta": m.head.beta.item(),
            "test_signers": held,
            "val_signers": split.val_signers,
            "unseen_classes": [vocab.glosses[c] for c in unseen],
            "prototypes_per_class": config.prototypes_per_class,
            "training_crops": int(fit_mask.sum()),
        }
        metrics: dict[str, float] = {}
        for rule in ("max", "mean"):
            for name, r in evaluate(m, rule).items():
                if r:
                    r["class_names"] = [vocab.glosses[c] for c in r["classes"]]
                    if rule == config.prototype_rule:
                        title = f"{name}, f={config.embed_dim}, S={config.prototypes_per_class}: top-1 {r['top1']:.3f}"
                        render_confusion(r["confusion"], r["class_names"], out_dir / f"confusion_{name}.png", title)
                report[f"{name}/{rule}"] = r
                metrics.update(lowshot_metrics(r, f"{name}/{rule}"))
        atomic_write_text(out_dir / LOWSHOT_FILE, json.dumps(report, indent=1) + "\n")
        for key in ("heldout_signer/max", "unseen_classes/max"):
            r = report.get(key)
            if r:
                log.info("%s: top-1 %.3f, top-2 %.3f over %d crops of %d classes (chance %.3f)",
                         key, r["top1"], r["top2"], r["queries"], len(r["classes"]), r["chance_top1"])  # fmt: skip
        trainer.report = report
        return metrics

    metadata = {"vocabulary": vocab.to_dict(), "encoder_expand": handpose.expand, "unseen_classes": unseen}
    trainer = Trainer(model, optimizer, scheduler, config, out_dir, step_fn, metadata=metadata,
                      on_epoch_end=on_epoch_end, on_fit_end=final_evaluation)  # fmt: skip
    return trainer.run(batches, resume=resume, collate_fn=BalancedFeatureBatches.collate)


def load_siamese(checkpoint: str | Path) -> tuple[SiameseModel, SiameseConfig, dict]:
    """(model in eval mode on the CPU, config, metadata) of a `train_siamese` checkpoint; the metadata
    holds `vocabulary`, `encoder_expand` and `unseen_classes` (class indices)."""
    run = load_run(checkpoint, metadata_keys=("vocabulary", "encoder_expand"))
    config = SiameseConfig.model_validate(run.config)
    model = _build_model(config, HandPoseNet(expand=int(run.metadata["encoder_expand"])))
    model.load_state_dict(run.model)
    return model.eval(), config, run.metadata


@torch.no_grad()
def embed_siamese(shards: str | Path, checkpoint: str | Path, out_file: str | Path, batch_size: int = 256) -> Path:
    """Write the embedding of every valid hand crop of `shards`, and per sample, to `out_file`.

    Crops (both hands, landmark and arm-estimated crops alike): `crop_sample_id` (M,) str,
    `crop_frame`, `crop_hand` (0 left, 1 right), `crop_source` (1 landmarks, 2 arm) (M,) int64,
    `crop_embedding` (M, f) float32. Samples: `sample_id`, `gloss`, `split`, `signer_id` (N,) str,
    `label` (N,) int64 (the model's class index, -1 if the gloss is not in its vocabulary),
    `num_crops` (N,) int64, `embedding` (N, f) float32, the normalised mean of its crops'
    embeddings (zeros for a sample without crops: num_crops 0). Attrs (HDF5) `alpha`, `beta`,
    `embed_dim`, `checkpoint`. `.h5`/`.hdf5` or `.npz`.
    """
    model, config, meta = load_siamese(checkpoint)
    vocab = Vocabulary.from_dict(meta["vocabulary"])
    crops = HandCropSet.load(shards, require_landmarks=False, hands=(0, 1), progress=True)
    steps = range(0, len(crops), batch_size)
    emb = torch.cat([model(crops.images[i : i + batch_size]) for i in tqdm(steps, desc="embed", unit="batch")]).float()
    with ShardReader(shards) as reader:
        entries = reader.index.samples
        sample_ids = sorted(entries)
    crop_sids = np.asarray(crops.sample_ids)
    sample_emb = np.zeros((len(sample_ids), config.embed_dim), np.float32)
    counts = np.zeros(len(sample_ids), np.int64)
    for k, sid in enumerate(sample_ids):
        sel = torch.from_numpy(crop_sids == sid)
        counts[k] = int(sel.sum())
        if counts[k]:
            sample_emb[k] = torch.nn.functional.normalize(emb[sel].mean(0), dim=0).numpy()
    arrays = {
        "crop_sample_id": crop_sids.astype(object),
        "crop_frame": crops.frames.numpy(),
        "crop_hand": crops.hands.numpy(),
        "crop_source": crops.sources.numpy(),
        "crop_embedding": emb.numpy().astype(np.float32),
        "sample_id": np.array(sample_ids, dtype=object),
        "gloss": np.array([entries[s].get("gloss") or "" for s in sample_ids], dtype=object),
        "split": np.array([entries[s].get("split") or "" for s in sample_ids], dtype=object),
        "signer_id": np.array([str(entries[s].get("signer_id") or "") for s in sample_ids], dtype=object),
        "label": np.array([vocab.label_map.get(int(entries[s].get("label", -1)), -1) for s in sample_ids], np.int64),
        "num_crops": counts,
        "embedding": sample_emb,
    }
    return write_features_file(
        out_file,
        arrays,
        {
            "alpha": model.head.alpha.item(),
            "beta": model.head.beta.item(),
            "embed_dim": config.embed_dim,
            "checkpoint": str(checkpoint),
        },
    )


# ---------------------------------------------------------------------------------------------- set-up
def _build_model(config: SiameseConfig, handpose: HandPoseNet) -> SiameseModel:
    """The embedding model on the (frozen) encoder of `handpose`."""
    return SiameseModel(
        handpose.encoder, handpose.feature_dim, config.embed_dim, config.dp_layers, config.dp_growth, config.dropout
    )


@torch.no_grad()
def _crop_features(model: SiameseModel, crops: HandCropSet, batch_size: int, progress: bool) -> torch.Tensor:
    """(N, c) pooled frozen-encoder features of every crop, computed on the CPU."""
    model.eval()
    out = []
    steps = range(0, len(crops), batch_size)
    for i in tqdm(steps, desc="features", unit="batch", leave=False, disable=not progress):
        out.append(model.features(crops.images[i : i + batch_size]).float().cpu())
    return torch.cat(out)
