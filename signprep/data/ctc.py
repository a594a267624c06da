"""CTC-ready batches for continuous sign language recognition (PHOENIX-2014(T), CSL-Daily).

    from torch.utils.data import DataLoader
    from signprep.data import CTCCollate, GlossVocabulary, ShardDataset
    vocab = GlossVocabulary.from_shards("out/phoenix", split="train")
    train = ShardDataset("out/phoenix", clip_len=None, split="train", keypoint_subset="signvtcl79")
    loader = DataLoader(train, batch_size=4, collate_fn=CTCCollate(vocab))
    batch = next(iter(loader))
    loss = torch.nn.CTCLoss(blank=vocab.BLANK_INDEX)(log_probs, batch["targets"],
                                                    batch["input_lengths"], batch["target_lengths"])

The batch (B items, T_max the longest item's frames, S_max its longest gloss sequence):
- every per-frame tensor of the items (`keypoints` (B, T_max, K, 3), `keypoint_present`,
  `frames`, ..., `frame_indices`), padded with zeros after each item's last frame
  (`keypoint_present` False there);
- `input_lengths` (B,) int64: each item's real frames (CTC's input lengths at frame rate: a
  network that downsamples time divides them likewise);
- `targets` (B, S_max) int64: the gloss indices of `GlossVocabulary` (blank 0 as the padding
  after each sequence: CTC reads only the first `target_lengths[b]`), unknown glosses as 1;
- `target_lengths` (B,) int64;
- the other entries collated as torch's default collate does (`label` stacked, strings as lists).

An item without glosses (an isolated sign) is an error naming its sample: CTC needs a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import default_collate

from signprep.data.vocabulary import GlossVocabulary

__all__ = ["CTCCollate"]


class CTCCollate:
    """collate_fn for a DataLoader over `ShardDataset` items of whole samples (see the module docstring)."""

    def __init__(self, vocabulary: GlossVocabulary) -> None:
        self.vocabulary = vocabulary

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        lengths = [int(item["frame_indices"].shape[0]) for item in items]
        per_frame = [
            key
            for key, value in items[0].items()
            if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == lengths[0]
        ]
        # a key is per-frame if it follows each item's length (the first item alone could mislead)
        per_frame = [k for k in per_frame if all(item[k].shape[0] == n for item, n in zip(items, lengths))]
        batch = default_collate([{k: v for k, v in item.items() if k not in per_frame} for item in items])
        for key in per_frame:
            batch[key] = pad_sequence([item[key] for item in items], batch_first=True)
        batch["input_lengths"] = torch.tensor(lengths, dtype=torch.int64)
        sequences = []
        for item in items:
            glosses = item["glosses"].split()
            if not glosses:
                raise ValueError(f"sample {item['sample_id']!r} has no gloss sequence: CTC needs a target")
            sequences.append(torch.tensor(self.vocabulary.encode(glosses), dtype=torch.int64))
        batch["targets"] = pad_sequence(sequences, batch_first=True, padding_value=GlossVocabulary.BLANK_INDEX)
        batch["target_lengths"] = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
        return batch
