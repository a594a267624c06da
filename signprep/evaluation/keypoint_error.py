"""Hand keypoint error of a heatmap network, and the mean-pose baseline it must beat
(the hand-pose recipe's evaluation; docs/methods.md, "Siamese hand-pose embedding")."""

from __future__ import annotations

import torch

from signprep.data.crop_augment import normalize_crops
from signprep.data.hand_crop_set import HandCropSet
from signprep.models.handpose import HandPoseNet, decode_heatmaps, heatmap_loss, heatmap_targets

__all__ = ["evaluate_keypoints", "mean_pose_error"]


@torch.no_grad()
def evaluate_keypoints(
    model: HandPoseNet, crops: HandCropSet, batch_size: int, device: torch.device, radius: float = 2.0
) -> dict[str, float]:
    """{"keypoint_error_px", "loss", "crops"}: mean L2 error (px, at the crops' size) of the heatmap
    arg-max against the stored landmarks, and the heatmap loss (targets of `radius` px), over every
    crop of `crops`."""
    was_training = model.training
    model.eval()
    err_sum, loss_sum, n = 0.0, 0.0, 0
    size = crops.images.shape[1]
    for i in range(0, len(crops), batch_size):
        x = normalize_crops(crops.images[i : i + batch_size].to(device))
        target = crops.keypoints[i : i + batch_size].to(device)
        logits = model(x)
        err_sum += (decode_heatmaps(logits) - target).norm(dim=-1).mean(dim=-1).sum().item()
        loss_sum += heatmap_loss(logits, heatmap_targets(target, size, radius)).item() * len(target)
        n += len(target)
    model.train(was_training)
    return {"keypoint_error_px": err_sum / max(n, 1), "loss": loss_sum / max(n, 1), "crops": float(n)}


def mean_pose_error(train: HandCropSet, test: HandCropSet) -> float:
    """Mean L2 error (px) of predicting every test crop as the training crops' mean landmark positions."""
    mean = train.keypoints.mean(dim=0, keepdim=True)
    return (test.keypoints - mean).norm(dim=-1).mean().item()
