"""PyTorch data path over signprep shards: datasets, clip sampling, transforms, samplers.

Needs the `train` extra (torch). See `datasets.py` for the item contract.
"""

from signprep.data.clips import MIN_CLIP_FRAMES, sample_clip_indices
from signprep.data.datasets import FrameDataset, ShardDataset, select_samples
from signprep.data.samplers import ClassBalancedBatchSampler, SameGlossPairSampler
from signprep.data.transforms import (
    CropBox,
    HeatmapBatchTransform,
    crop_images,
    crop_keypoints,
    crop_sample,
    normalize_keypoints,
    random_crop_box,
)

__all__ = [
    "MIN_CLIP_FRAMES",
    "ClassBalancedBatchSampler",
    "CropBox",
    "FrameDataset",
    "HeatmapBatchTransform",
    "SameGlossPairSampler",
    "ShardDataset",
    "crop_images",
    "crop_keypoints",
    "crop_sample",
    "normalize_keypoints",
    "random_crop_box",
    "sample_clip_indices",
    "select_samples",
]
