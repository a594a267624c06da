"""Hand-pose recipe: heatmap regression of the 21 hand landmarks on 64x64 hand crops.

`signprep train handpose` (docs/methods.md, "Siamese hand-pose embedding"; thesis 3.1):
`HandPoseNet` regresses Gaussian heatmaps (radius 2 px) of the MediaPipe hand landmarks
stored in crop pixels by the `hand_crops` stage; we have no hand-labelled data offline, so
the network learns to imitate MediaPipe. Only crops where the hand model found the hand
carry targets. Train, validation and test are split by signer (`signprep.data.splits`): the
test signers' crops never reach training, and `val_signers` are held out of it to choose on.

Thesis settings (the config defaults): augmentation (blur r = 1, colour jitter 40%,
normalisation, noise 0.01, 8x8 cutout), Xavier init with zero biases and a zeroed last BN per
residual block, SGD with Nesterov momentum and cosine warm restarts (lr 0.1 -> 1e-4, restarts
at epochs 5 and 10 of 20). Beyond the thesis, for small corpora (`models/handpose.yaml`):
geometric augmentation (rotation, scale, shift and mirroring, applied to image and landmarks
alike; `signprep.data.crop_augment`), AdamW in place of SGD, a per-pixel BCE in place of
Eq. 3.9 and the output bias started at logit(`output_prior`) (`models/handpose.md` gives the
measured effect). Per epoch: the validation and test signers' `keypoint_error_px`, the mean L2
distance at 64x64 between the arg-max of each heatmap and the MediaPipe landmark. At the end
`handpose_eval.json` holds the full evaluation and a mean-pose baseline (every crop
predicted as the training crops' mean landmark positions), the floor a useful network must beat.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from signprep.atomic import atomic_write_text
from signprep.data import Vocabulary
from signprep.data.crop_augment import CropAugmentConfig, augment_crops, normalize_crops, random_affine
from signprep.data.hand_crop_set import HandCropSet
from signprep.data.splits import signer_split
from signprep.evaluation.keypoint_error import evaluate_keypoints, mean_pose_error
from signprep.models.handpose import HandPoseNet, heatmap_bce_loss, heatmap_loss, heatmap_targets
from signprep.training import SGDRConfig, Trainer, build_sgd_warm_restarts, load_run, seed_everything

__all__ = ["EVAL_FILE", "HandPoseConfig", "load_handpose", "train_handpose"]

log = logging.getLogger(__name__)

EVAL_FILE = "handpose_eval.json"


class HandPoseConfig(SGDRConfig, CropAugmentConfig):
    """`models/handpose.yaml` (small-corpus recipe) or `models/handpose-thesis.yaml`: the shared
    training keys, the warm-restart schedule's (`SGDRConfig`), the augmentation's
    (`CropAugmentConfig`) plus the hand-pose network's. The defaults here are the thesis's."""

    epochs: int = Field(default=20, gt=0)
    batch_size: int = Field(default=64, gt=0)  # thesis 1024 on a P100; see models/handpose*.yaml
    expand: int = Field(default=4, gt=0)  # inverted-residual expansion ratio (thesis Fig. 3.8: 4)
    heatmap_radius: float = Field(default=2.0, gt=0)  # r of the Gaussian targets, px at 64x64
    output_prior: float | None = Field(default=None, gt=0, lt=1)  # None: the thesis's zero output bias
    loss: Literal["sigmoid_mse", "bce"] = "sigmoid_mse"  # sigmoid_mse: thesis Eq. 3.9
    augment: bool = True
    hands: tuple[int, ...] = (0, 1)  # 0 the signer's left hand, 1 the right
    frame_stride: int = Field(default=1, gt=0)  # keep every n-th frame (consecutive frames nearly repeat)
    test_signers: tuple[str, ...] | None = None  # None: the signers of the shards' test split
    val_signers: tuple[str, ...] = ()  # held out of training and scored per epoch (`eval_val/`), to choose on
    eval_batch_size: int = Field(default=128, gt=0)
    eval_max_crops: int | None = Field(default=512, gt=0)  # per-epoch evaluation subsample; the final one uses all


def train_handpose(
    shards: str | Path | HandCropSet, config: HandPoseConfig, out_dir: str | Path, resume: str | Path | None = None
) -> Trainer:
    """Train on the non-test signers' landmark crops of `shards` (a shard directory, or its crops
    already in memory: experiments reuse one loaded set); writes `out_dir/last.pt`, `metrics.csv`,
    `tb/`, `handpose_eval.json`. Returns the finished Trainer; its `final_metrics` add the final
    evaluation over every crop (`final_test/*`, `final_train/*`) and `final_test/mean_pose_baseline_px`."""
    out_dir = Path(out_dir)
    crops = shards if isinstance(shards, HandCropSet) else _load_crops(Path(shards), config)
    split = signer_split(crops.signers, crops.splits, config.test_signers, config.val_signers)
    train_set, val_set, test_set = crops.subset(split.train), crops.subset(split.val), crops.subset(split.test)
    held = split.test_signers
    log.info("hand pose: %d train crops, %d val crops (signers %s), %d test crops (signers %s)",
             len(train_set), len(val_set), split.val_signers, len(test_set), held)  # fmt: skip
    eval_subsets = {name: s.evenly_spaced(config.eval_max_crops) for name, s in (("val", val_set), ("test", test_set))}
    eval_subsets = {name: s for name, s in eval_subsets.items() if len(s)}

    seed_everything(config.seed)
    model = HandPoseNet(expand=config.expand, output_prior=config.output_prior)
    optimizer, scheduler = build_sgd_warm_restarts(model.parameters(), config)
    size = int(train_set.images.shape[1])
    loss_fn = heatmap_bce_loss if config.loss == "bce" else heatmap_loss

    def step_fn(m: nn.Module, batch) -> dict[str, torch.Tensor]:
        images, keypoints = batch["image"], batch["keypoints"]
        if config.augment:
            images, keypoints = random_affine(images, keypoints, config)
            x = augment_crops(images, config)
        else:
            x = normalize_crops(images)
        return {"loss": loss_fn(m(x), heatmap_targets(keypoints, size, config.heatmap_radius))}

    def evaluate(trainer: Trainer, subset: HandCropSet) -> dict[str, float]:
        return evaluate_keypoints(trainer.module, subset, config.eval_batch_size, trainer.device, config.heatmap_radius)

    def on_epoch_end(trainer: Trainer, epoch: int) -> dict[str, float]:
        metrics = {}
        for name, subset in eval_subsets.items():
            r = evaluate(trainer, subset)
            metrics.update({f"eval_{name}/keypoint_error_px": r["keypoint_error_px"], f"eval_{name}/loss": r["loss"]})
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        return metrics

    def final_evaluation(trainer: Trainer) -> dict[str, float]:
        if not trainer.is_main:
            return {}
        report = {
            "test_signers": held,
            "val_signers": split.val_signers,
            "train_crops": len(train_set),
            "train_signers": sorted(set(train_set.signers)),
            "test": evaluate(trainer, test_set) if len(test_set) else None,
            "val": evaluate(trainer, val_set) if len(val_set) else None,
            "train": evaluate(trainer, train_set.evenly_spaced(2048)),
            "mean_pose_baseline_px": mean_pose_error(train_set, test_set) if len(test_set) else None,
            "val_mean_pose_baseline_px": mean_pose_error(train_set, val_set) if len(val_set) else None,
            "crop_size": size,
        }
        atomic_write_text(out_dir / EVAL_FILE, json.dumps(report, indent=1) + "\n")
        trainer.report = report
        metrics = {f"final_train/{k}": v for k, v in report["train"].items()}
        if report["test"] is not None:
            log.info(
                "test signers %s: keypoint error %.2f px at %d px (mean-pose baseline %.2f px)",
                held,
                report["test"]["keypoint_error_px"],
                size,
                report["mean_pose_baseline_px"],
            )
            metrics.update({f"final_test/{k}": v for k, v in report["test"].items()})
            metrics["final_test/mean_pose_baseline_px"] = report["mean_pose_baseline_px"]
        if report["val"] is not None:
            metrics.update({f"final_val/{k}": v for k, v in report["val"].items()})
            metrics["final_val/mean_pose_baseline_px"] = report["val_mean_pose_baseline_px"]
        return metrics

    metadata = {"test_signers": held, "val_signers": split.val_signers}
    trainer = Trainer(model, optimizer, scheduler, config, out_dir, step_fn, metadata=metadata,
                      on_epoch_end=on_epoch_end, on_fit_end=final_evaluation)  # fmt: skip
    return trainer.run(train_set, drop_last=len(train_set) > config.batch_size, resume=resume)  # 1-crop batch: BN fails


def load_handpose(checkpoint: str | Path) -> tuple[HandPoseNet, HandPoseConfig]:
    """The network of a `train_handpose` checkpoint, in eval mode on the CPU, and its config."""
    run = load_run(checkpoint)
    config = HandPoseConfig.model_validate(run.config)
    return HandPoseNet.from_state_dict(run.model, config.expand, checkpoint), config


def _load_crops(shards: Path, config: HandPoseConfig) -> HandCropSet:
    """The landmark crops of the labelled samples of `shards`, of the configured hands and frames."""
    vocab = Vocabulary.from_shards(shards)
    return HandCropSet.load(
        shards,
        label_map=vocab.label_map,
        hands=config.hands,
        frame_stride=config.frame_stride,
        progress=config.progress,
    )
