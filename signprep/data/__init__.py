"""PyTorch data path over signprep shards: datasets, clip sampling, transforms, samplers, vocabularies.

Needs the `train` extra (torch). See `datasets.py` for the item contract. Hand crops held in
memory (`hand_crop_set`), their augmentation kernels (`crop_augment`) and the class vocabulary
(`vocabulary`) are imported from their modules; `ctc` batches whole sentences with CTC targets.
"""

from signprep.data.clips import MIN_CLIP_FRAMES, sample_clip_indices, whole_sample_indices
from signprep.data.ctc import CTCCollate
from signprep.data.datasets import FrameDataset, ShardDataset, select_samples
from signprep.data.samplers import (
    BalancedFeatureBatches,
    ClassBalancedBatchSampler,
    PairClipDataset,
    SameGlossPairSampler,
    collate_pairs,
)
from signprep.data.transforms import (
    CropBox,
    HeatmapBatchTransform,
    crop_images,
    crop_keypoints,
    crop_sample,
    heatmaps_to_float,
    normalize_keypoints,
    random_crop_box,
)
from signprep.data.vocabulary import GlossVocabulary, Vocabulary

__all__ = [
    "MIN_CLIP_FRAMES",
    "BalancedFeatureBatches",
    "CTCCollate",
    "ClassBalancedBatchSampler",
    "CropBox",
    "FrameDataset",
    "GlossVocabulary",
    "HeatmapBatchTransform",
    "PairClipDataset",
    "SameGlossPairSampler",
    "ShardDataset",
    "Vocabulary",
    "collate_pairs",
    "crop_images",
    "crop_keypoints",
    "crop_sample",
    "heatmaps_to_float",
    "normalize_keypoints",
    "random_crop_box",
    "sample_clip_indices",
    "select_samples",
    "whole_sample_indices",
]
