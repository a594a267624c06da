"""Gloss classification and video -> text retrieval over a split that spans several batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from signprep.evaluation.classification import evaluate_gloss_classifier
from signprep.evaluation.metrics import retrieval_topk


class _Clips(Dataset):
    """n clips of C classes: features near their class's text vector (retrieval top-1 = 1 by construction)."""

    def __init__(self, n: int, text: torch.Tensor, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % len(text)
        self.x = text[self.labels] + 0.05 * torch.randn(n, text.shape[1], generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "label": self.labels[i]}


class _RotatingModel(nn.Module):
    """Applies a fresh random rotation R per forward to the clips AND to the text, as a batch-dependent
    transform does: within a batch, cosines (and so retrieval) are those of x against the text."""

    def __init__(self, text: torch.Tensor) -> None:
        super().__init__()
        self.text = text
        self.g = torch.Generator().manual_seed(99)

    def forward(self, batch):
        R, _ = torch.linalg.qr(torch.randn(self.text.shape[1], self.text.shape[1], generator=self.g))
        x = batch["x"] @ R
        return {"logits": batch["x"] @ self.text.T, "features": x, "text": self.text @ R}


def test_retrieval_pairs_each_batch_with_its_own_text():
    text = F.normalize(torch.randn(6, 16, generator=torch.Generator().manual_seed(1)), dim=1)
    clips = _Clips(30, text)
    expected = retrieval_topk(clips.x, text, clips.labels, torch.arange(6), (1, 5))
    assert expected[1] == 1.0  # what a correct evaluation must report (chance 1/6)
    scores = evaluate_gloss_classifier(_RotatingModel(text), clips, 4, torch.device("cpu"), F.cross_entropy)
    assert scores["retrieval_top1"] == expected[1] and scores["retrieval_top5"] == expected[5]
    assert scores["top1"] == 1.0
