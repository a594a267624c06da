"""Siamese trainer: a cosine embedding of hand crops on frozen hand-pose features, with a
low-shot prototype classifier (docs/methods.md, "Siamese hand-pose embedding"; thesis 3.2-3.3).

`signprep train siamese`: the encoder of a `signprep train handpose` checkpoint is frozen;
its average-pooled features of every crop are computed once, and only the embedding head
(dual-path layers -> f-dimensional unit vector, alpha, beta) is trained, on class-balanced
batches of the training signers' crops (classes: glosses), with the pairwise BCE loss.

Evaluation, by signer (`signer_split`): S prototypes per class are drawn from the training
signers' crops, the queries are every crop of the held-out signers; a class counts when it
has both. With `holdout_classes: n`, n such glosses are left out of the embedding's training
and evaluated apart as unseen classes. Reported per epoch and in `lowshot.json`: top-1/top-2
per crop and per sample (a sample's class scores averaged over its crops), for the max and
the mean prototype rule, with confusion-matrix images `confusion_*.png`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from signprep.atomic import atomic_write_bytes, atomic_write_text
from signprep.data import ClassBalancedBatchSampler
from signprep.models.handpose import HandPoseNet
from signprep.models.prototypes import PrototypeClassifier, choose_prototypes
from signprep.models.siamese import EmbeddingHead, siamese_pair_loss
from signprep.recipes.dsft import Vocabulary
from signprep.recipes.features_file import write_features_file
from signprep.recipes.hand_crops import HandCropSet, signer_split
from signprep.recipes.handpose import SGDRConfig, build_sgd_warm_restarts, load_handpose, normalize_crops
from signprep.shards import ShardReader
from signprep.training import Trainer, load_checkpoint, save_checkpoint, seed_everything
from signprep.training.metrics import confusion_matrix, per_class_topk_accuracy, topk_accuracy

__all__ = [
    "SiameseConfig",
    "SiameseModel",
    "embed_siamese",
    "evaluate_lowshot",
    "load_siamese",
    "render_confusion",
    "train_siamese",
]

log = logging.getLogger(__name__)

META_FILE = "siamese_meta.pt"


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
    holdout_classes: int = Field(default=0, ge=0)  # glosses kept out of training, evaluated as unseen
    prototypes_per_class: int = Field(default=10, gt=0)  # S
    prototype_rule: Literal["max", "mean"] = "max"  # the rule of the per-epoch metrics; lowshot.json has both
    feature_batch_size: int = Field(default=256, gt=0)

    @model_validator(mode="after")
    def _growth_given(self) -> SiameseConfig:
        if self.dp_layers and not self.dp_growth:
            raise ValueError("dp_growth must be > 0 when dp_layers > 0")
        return self


class SiameseModel(nn.Module):
    """Frozen hand-pose encoder + `EmbeddingHead`. forward: (B, S, S, 3) uint8 crops -> (B, f) unit vectors.

    The pooled features are standardised with the training crops' per-channel mean and std
    (buffers, set by `set_feature_scale`): a hand-pose encoder's pooled features vary little
    from crop to crop (std ~1% of their mean on the sample corpus), and the head trained on
    them raw under SGD lr 0.1 fell to the constant "same class with p = prior" solution.
    """

    def __init__(self, config: SiameseConfig, encoder: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        self.head = EmbeddingHead(feature_dim, config.embed_dim, config.dp_layers, config.dp_growth, config.dropout)

    def set_feature_scale(self, features: torch.Tensor) -> None:
        """Standardise with these (N, c) raw training features from now on."""
        self.feature_mean.copy_(features.mean(0))
        self.feature_std.copy_(features.std(0).clamp_min(1e-6))

    def standardize(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feature_mean) / self.feature_std

    def train(self, mode: bool = True) -> SiameseModel:
        super().train(mode)
        self.encoder.eval()  # frozen: its BN statistics must not move
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, c) raw pooled encoder features (not standardised)."""
        return self.encoder(normalize_crops(images)).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.standardize(self.features(images)))


@torch.no_grad()
def compute_features(model: SiameseModel, crops: HandCropSet, batch_size: int, device: torch.device) -> torch.Tensor:
    """(N, c) pooled frozen-encoder features of every crop, on the CPU."""
    model.eval()
    out = []
    for i in tqdm(range(0, len(crops), batch_size), desc="features", unit="batch", leave=False):
        out.append(model.features(crops.images[i : i + batch_size].to(device)).float().cpu())
    return torch.cat(out)


class BalancedFeatureBatches(Dataset):
    """Item i = the i-th class-balanced batch of this epoch's plan: {"features" (P*K, c), "label" (P*K,)}.

    The shared Trainer iterates items, so the ClassBalancedBatchSampler's batches are items here
    and `collate` concatenates `batch_size` of them.
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, sampler: ClassBalancedBatchSampler) -> None:
        self.features, self.labels, self.sampler = features, labels, sampler
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.plan = [torch.tensor(b) for b in self.sampler]

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        idx = self.plan[i]
        return {"features": self.features[idx], "label": self.labels[idx]}

    @staticmethod
    def collate(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {k: torch.cat([it[k] for it in items]) for k in items[0]}


@torch.no_grad()
def evaluate_lowshot(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    prototype_pool: np.ndarray,
    query_mask: np.ndarray,
    alpha: float,
    beta: float,
    *,
    classes: Sequence[int] | None = None,
    per_class: int = 10,
    rule: str = "max",
    seed: int = 0,
    sample_ids: Sequence[str] | None = None,
) -> dict:
    """Low-shot accuracy of `per_class` prototypes drawn from the crops in `prototype_pool` (bool (N,)),
    classifying the crops in `query_mask`; only classes (in `classes`, default all) with both count.

    Returns {"classes", "queries", "chance_top1", "top1", "top2", "top1_per_class", "confusion"
    (C, C) list, and with `sample_ids` "samples", "sample_top1", "sample_top2"}; empty dict
    when fewer than 2 classes qualify.
    """
    labels_np = labels.numpy()
    allowed = set(np.unique(labels_np)) if classes is None else {int(c) for c in classes}
    common = sorted(int(c) for c in allowed & set(labels_np[prototype_pool]) & set(labels_np[query_mask]))
    if len(common) < 2:
        return {}
    pool = np.flatnonzero(prototype_pool & np.isin(labels_np, common))
    queries = np.flatnonzero(query_mask & np.isin(labels_np, common))
    protos = pool[choose_prototypes(labels_np[pool], per_class, seed)]
    clf = PrototypeClassifier(embeddings[protos], labels[protos], alpha, beta, rule=rule)  # type: ignore[arg-type]
    scores = clf.scores(embeddings[queries])
    column = {int(c): i for i, c in enumerate(clf.classes.tolist())}
    y = torch.tensor([column[int(c)] for c in labels_np[queries]])
    top = topk_accuracy(scores, y, (1, 2))
    result = {
        "classes": common,
        "queries": int(len(queries)),
        "prototypes": int(len(protos)),
        "chance_top1": 1 / len(common),
        "top1": top[1],
        "top2": top[2],
        "top1_per_class": per_class_topk_accuracy(scores, y, (1,))[1],
        "confusion": confusion_matrix(scores.argmax(1), y, len(common)).tolist(),
    }
    if sample_ids is not None:
        sids = np.asarray(sample_ids)[queries]
        names = sorted(set(sids))
        s_scores = torch.stack([scores[torch.from_numpy(sids == s)].mean(0) for s in names])
        s_y = torch.stack([y[torch.from_numpy(sids == s)][0] for s in names])
        s_top = topk_accuracy(s_scores, s_y, (1, 2))
        result.update({"samples": len(names), "sample_top1": s_top[1], "sample_top2": s_top[2]})
    return result


def render_confusion(confusion: Sequence[Sequence[int]], names: Sequence[str], path: str | Path, title: str) -> Path:
    """Write a row-normalised confusion matrix (rows true, columns predicted) as a PNG, drawn with OpenCV.

    Both axes carry the class names (cut to 14 characters): rows on the left, columns in a band
    above the cells, rotated to read bottom-up so each name stays within its 28-pixel column.
    Rotated names rather than column numbers: with 20-100 classes a number would send the
    reader to the row labels for every cell.
    """
    m = np.asarray(confusion, np.float64)
    c = len(m)
    rows = m / np.maximum(m.sum(1, keepdims=True), 1)
    labels = [str(n)[:14] for n in names[:c]]
    cell, left, header = _CELL, _LEFT, _HEADER
    band = _column_labels(labels, cell)
    top = header + band.shape[0]
    img = np.full((top + c * cell + 10, left + c * cell + 10, 3), 255, np.uint8)
    img[header:top, left : left + c * cell] = band
    colours = cv2.applyColorMap((rows * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (4, 16), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    # axis titles: "predicted" over the column names, "true" over the row names
    cv2.putText(img, "predicted", (left, header - 6), font, 0.35, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(img, "true", (4, top - 6), font, 0.35, (60, 60, 60), 1, cv2.LINE_AA)
    for i in range(c):
        cv2.putText(img, labels[i], (4, top + i * cell + cell // 2 + 4), font, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(c):
            x, y = left + j * cell, top + i * cell
            img[y : y + cell - 1, x : x + cell - 1] = colours[i, j]
            if m[i, j]:
                ink = (0, 0, 0) if rows[i, j] > 0.6 else (255, 255, 255)
                cv2.putText(img, str(int(m[i, j])), (x + 2, y + cell // 2 + 4), font, 0.3, ink, 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode the confusion matrix for {path}")
    return atomic_write_bytes(path, png.tobytes())


# render_confusion's layout (pixels): cell side, row-label width, height of the title lines
_CELL, _LEFT, _HEADER = 28, 110, 40


def _column_labels(labels: Sequence[str], cell: int) -> np.ndarray:
    """The band of column names above the matrix, (height, len(labels) * cell, 3) BGR.

    OpenCV draws only horizontal text: the names are written one per `cell`-high line of a
    strip, as the row names are, and the strip is turned 90 degrees counter-clockwise, so
    line i becomes column i with its name reading upwards from the cells.
    """
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.35
    longest = max((cv2.getTextSize(t, font, scale, 1)[0][0] for t in labels), default=0)
    strip = np.full((len(labels) * cell, longest + 8, 3), 255, np.uint8)
    for i, text in enumerate(labels):
        cv2.putText(strip, text, (4, i * cell + cell // 2 + 4), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.ascontiguousarray(np.rot90(strip))


def _holdout(labels: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray, n: int, seed: int) -> list[int]:
    """n classes (seeded choice) among those with crops on both sides of the signer split."""
    if n == 0:
        return []
    both = sorted(set(labels[train_mask]) & set(labels[test_mask]))
    if n >= len(both):
        raise ValueError(f"holdout_classes {n}: only {len(both)} classes have crops by both train and test signers")
    return sorted(int(c) for c in np.random.default_rng(seed).choice(both, n, replace=False))


def train_siamese(
    shards: str | Path,
    config: SiameseConfig,
    out_dir: str | Path,
    handpose_checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
) -> tuple[Trainer, dict]:
    """Train the embedding head; writes `out_dir/last.pt`, `siamese_meta.pt`, `metrics.csv`, `tb/`,
    `lowshot.json`, `confusion_*.png`. Returns (Trainer, the lowshot.json report)."""
    shards, out_dir = Path(shards), Path(out_dir)
    handpose_checkpoint = handpose_checkpoint or config.handpose_checkpoint
    if handpose_checkpoint is None:
        raise ValueError("no hand-pose checkpoint: give --handpose or `handpose_checkpoint` in the config")
    config = config.model_copy(update={"handpose_checkpoint": str(handpose_checkpoint)})
    vocab = Vocabulary.from_shards(shards)
    crops = HandCropSet.load(
        shards, label_map=vocab.label_map, hands=config.hands, frame_stride=config.frame_stride, progress=True
    )
    train_mask, test_mask, held = signer_split(crops.signers, crops.splits, config.test_signers)
    labels = crops.labels.numpy()
    unseen = _holdout(labels, train_mask, test_mask, config.holdout_classes, config.seed)
    fit_mask = train_mask & ~np.isin(labels, unseen)

    handpose, hp_config = load_handpose(handpose_checkpoint)
    seed_everything(config.seed)
    model = SiameseModel(config, handpose.encoder, handpose.feature_dim)
    features = compute_features(model, crops, config.feature_batch_size, torch.device("cpu"))
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

    head = model.head
    optimizer, scheduler = build_sgd_warm_restarts(head.parameters(), config)

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
        if unseen:
            out["unseen_classes"] = evaluate_lowshot(emb, crops.labels, train_mask, test_mask, a, b, classes=unseen,
                                                     **common)  # fmt: skip
        return out

    def on_epoch_end(trainer: Trainer, epoch: int) -> dict[str, float]:
        batches.set_epoch(epoch + 1)
        m = trainer.module
        metrics = {"alpha": m.head.alpha.item(), "beta": m.head.beta.item()}
        for name, r in evaluate(m, config.prototype_rule).items():
            for k in ("top1", "top2", "sample_top1", "sample_top2"):
                if k in r:
                    metrics[f"eval_{name}/{k}"] = r[k]
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        return metrics

    trainer = Trainer(model, optimizer, scheduler, config, out_dir, step_fn, on_epoch_end=on_epoch_end)
    try:
        if resume is not None:
            trainer.resume(resume)
            batches.set_epoch(trainer.epoch)
        trainer.fit(batches, collate_fn=BalancedFeatureBatches.collate)
    finally:
        trainer.close()

    report: dict = {
        "embed_dim": config.embed_dim,
        "training_classes": num_classes,
        "pos_weight": pos_weight,
        "alpha": model.head.alpha.item(),
        "beta": model.head.beta.item(),
        "test_signers": held,
        "unseen_classes": [vocab.glosses[c] for c in unseen],
        "prototypes_per_class": config.prototypes_per_class,
        "training_crops": int(fit_mask.sum()),
    }
    if trainer.is_main:
        for rule in ("max", "mean"):
            for name, r in evaluate(trainer.module, rule).items():
                if r:
                    r["class_names"] = [vocab.glosses[c] for c in r["classes"]]
                    if rule == config.prototype_rule:
                        title = f"{name}, f={config.embed_dim}, S={config.prototypes_per_class}: top-1 {r['top1']:.3f}"
                        render_confusion(r["confusion"], r["class_names"], out_dir / f"confusion_{name}.png", title)
                report[f"{name}/{rule}"] = r
        save_checkpoint(
            out_dir / META_FILE,
            {"vocabulary": vocab.to_dict(), "encoder_expand": hp_config.expand, "unseen_classes": unseen},
        )
        atomic_write_text(out_dir / "lowshot.json", json.dumps(report, indent=1) + "\n")
        for key in ("heldout_signer/max", "unseen_classes/max"):
            r = report.get(key)
            if r:
                log.info("%s: top-1 %.3f, top-2 %.3f over %d crops of %d classes (chance %.3f)",
                         key, r["top1"], r["top2"], r["queries"], len(r["classes"]), r["chance_top1"])  # fmt: skip
    return trainer, report


def load_siamese(checkpoint: str | Path) -> tuple[SiameseModel, SiameseConfig, dict]:
    """(model in eval mode on the CPU, config, meta) of a `train_siamese` checkpoint (meta file beside it)."""
    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    meta_file = checkpoint.parent / META_FILE
    if not meta_file.is_file():
        raise ValueError(f"{checkpoint}: no {META_FILE} beside it (not a `signprep train siamese` run)")
    meta = load_checkpoint(meta_file)
    config = SiameseConfig.model_validate(ckpt["config"])
    net = HandPoseNet(expand=int(meta["encoder_expand"]))
    model = SiameseModel(config, net.encoder, net.feature_dim)
    model.load_state_dict(ckpt["model"])
    return model.eval(), config, meta


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
