"""The thesis's unseen-class check (its KMNIST experiment, 3.2) on scikit-learn's bundled digits.

KMNIST cannot be downloaded here; `sklearn.datasets.load_digits` ships 1797 8x8 handwritten
digits of 10 classes with scikit-learn. As in the thesis:
1. frozen features: the 64 pixels (`--features pixels`, default), or, as in the thesis, the
   pooled features of a small CNN classifier trained (cross-entropy) on the SEEN digits only
   (`--features cnn`; it specialises on the seen digits and transfers worse, see the model card);
2. the siamese embedding head (`EmbeddingHead`: dual-path layers -> f-dim unit vector, pair BCE
   with positive weight |C| - 1, + 0.25 |beta|) is trained on class-balanced batches of the
   seen digits;
3. the UNSEEN digits are classified from S prototypes per class (`PrototypeClassifier`, max
   rule; mean rule also printed): prototypes drawn at random from the unseen digits, every other
   unseen image a query. Seen digits are scored the same way on a held-out fifth.
The thesis reached 87.7% on its 9 unseen KMNIST characters with S = 10.

Run:  .venv/bin/python experiments/siamese_digits.py [--unseen 7 8 9] [--seeds 0 1 2] [--embed-dim 6 10]
      [--features pixels cnn]
Takes seconds per seed on a CPU.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signprep.data import ClassBalancedBatchSampler  # noqa: E402
from signprep.models.prototypes import PrototypeClassifier, choose_prototypes  # noqa: E402
from signprep.models.siamese import EmbeddingHead, siamese_pair_loss  # noqa: E402
from signprep.training import seed_everything  # noqa: E402


@dataclass(frozen=True)
class DigitsSettings:
    unseen: tuple[int, ...] = (7, 8, 9)
    embed_dim: int = 6  # ~2 log2 |C| for the 7 seen digits (5.6)
    prototypes: int = 10  # S
    features: str = "pixels"  # "pixels" or "cnn" (a classifier of the seen digits, frozen)
    classifier_epochs: int = 30
    siamese_epochs: int = 10  # more epochs fit the seen digits better and the unseen ones worse
    samples_per_class: int = 16  # K; P = all seen classes
    dp_layers: int = 2  # deeper heads overfit the 7 seen digits (8 layers: ~0.6 unseen top-1)
    dp_growth: int = 16
    seed: int = 0


class DigitsCNN(nn.Module):
    """8x8 digit -> 64 pooled features -> logits over the seen classes (the first-stage classifier)."""

    def __init__(self, num_classes: int, width: int = 64) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        )  # fmt: skip
        self.classifier = nn.Linear(width, num_classes)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled(x))


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values are 0..16
    return (x - 0.5) / 0.5, torch.tensor(d.target, dtype=torch.int64)


def _lowshot(emb, labels, pool, queries, head, s: int, rule: str, seed: int) -> float:
    protos = pool[choose_prototypes(labels[pool].numpy(), s, seed)]
    clf = PrototypeClassifier(emb[protos], labels[protos], head.alpha.detach(), head.beta.detach(), rule=rule)
    return (clf.predict(emb[queries]) == labels[queries]).float().mean().item()


def _cnn_features(x, y, seen_train, seen_test, seen_classes, settings: DigitsSettings):
    """Train the first-stage classifier on the seen digits (Adam: the thesis's SGD schedule buys
    nothing at this size); (its frozen pooled features of every image, its seen-test accuracy)."""
    to_seen = torch.full((10,), -1, dtype=torch.int64)
    to_seen[seen_classes] = torch.arange(len(seen_classes))
    cnn = DigitsCNN(len(seen_classes))
    opt = torch.optim.Adam(cnn.parameters(), lr=3e-3)
    for _ in range(settings.classifier_epochs):
        for b in torch.randperm(len(seen_train)).split(128):
            i = seen_train[b]
            loss = F.cross_entropy(cnn(x[i]), to_seen[y[i]])
            opt.zero_grad()
            loss.backward()
            opt.step()
    cnn.eval()
    with torch.no_grad():
        feats = cnn.pooled(x)
        seen_clf_acc = (cnn(x[seen_test]).argmax(1) == to_seen[y[seen_test]]).float().mean().item()
    return feats, seen_clf_acc


def run_digits_check(settings: DigitsSettings = DigitsSettings()) -> dict[str, float]:
    """Train on the seen digits, classify the unseen ones; {"unseen_max", "unseen_mean", "seen_max", ...}."""
    seed_everything(settings.seed)
    x, y = load_digits_tensors()
    rng = np.random.default_rng(settings.seed)
    unseen_mask = torch.isin(y, torch.tensor(settings.unseen))
    seen_idx = torch.nonzero(~unseen_mask).squeeze(1)
    seen_idx = seen_idx[torch.from_numpy(rng.permutation(len(seen_idx)))]
    n_test = len(seen_idx) // 5
    seen_test, seen_train = seen_idx[:n_test], seen_idx[n_test:]
    seen_classes = sorted(set(y[seen_train].tolist()))
    if settings.features == "pixels":
        feats, seen_clf_acc = x.flatten(1), float("nan")
    else:
        feats, seen_clf_acc = _cnn_features(x, y, seen_train, seen_test, seen_classes, settings)

    # the siamese head on the frozen features, class-balanced batches of every seen class
    head = EmbeddingHead(feats.shape[1], settings.embed_dim, settings.dp_layers, settings.dp_growth)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    sampler = ClassBalancedBatchSampler(
        y[seen_train].tolist(), len(seen_classes), settings.samples_per_class, seed=settings.seed
    )
    pos_weight = float(len(seen_classes) - 1)
    for epoch in range(settings.siamese_epochs):
        sampler.set_epoch(epoch)
        for batch in sampler:
            i = seen_train[torch.tensor(batch)]
            out = siamese_pair_loss(head(feats[i]), y[i], head.alpha, head.beta, pos_weight)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
    head.eval()
    with torch.no_grad():
        emb = head(feats)

    unseen_idx = torch.nonzero(unseen_mask).squeeze(1).numpy()
    protos_unseen = unseen_idx[choose_prototypes(y[unseen_idx].numpy(), settings.prototypes, settings.seed)]
    unseen_queries = np.setdiff1d(unseen_idx, protos_unseen)
    result = {
        "unseen_max": _lowshot(emb, y, protos_unseen, unseen_queries, head, settings.prototypes, "max", 0),
        "unseen_mean": _lowshot(emb, y, protos_unseen, unseen_queries, head, settings.prototypes, "mean", 0),
        "seen_max": _lowshot(emb, y, seen_train.numpy(), seen_test.numpy(), head, settings.prototypes, "max", 0),
        "seen_classifier": seen_clf_acc,
        "unseen_queries": float(len(unseen_queries)),
        "chance_unseen": 1 / len(settings.unseen),
        "alpha": head.alpha.item(),
        "beta": head.beta.item(),
    }
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--unseen", type=int, nargs="+", default=[7, 8, 9])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--embed-dim", type=int, nargs="+", default=[6], help="f values to try")
    p.add_argument("--prototypes", type=int, default=10, help="S per class")
    p.add_argument("--features", nargs="+", default=["pixels"], choices=["pixels", "cnn"])
    args = p.parse_args()
    torch.set_num_threads(1)  # tiny tensors: more threads only contend
    seen = 10 - len(args.unseen)
    print(f"digits: {seen} seen classes (2 log2 |C| = {2 * math.log2(seen):.1f}), unseen {args.unseen}, "
          f"S = {args.prototypes}")  # fmt: skip
    for feats, f in [(a, b) for a in args.features for b in args.embed_dim]:
        rows = []
        for seed in args.seeds:
            t = time.time()
            r = run_digits_check(DigitsSettings(tuple(args.unseen), f, args.prototypes, feats, seed=seed))
            rows.append(r)
            print(f"  {feats} f={f} seed={seed}: unseen top-1 {r['unseen_max']:.3f} (max rule), {r['unseen_mean']:.3f} "
                  f"(mean rule), seen {r['seen_max']:.3f} (classifier {r['seen_classifier']:.3f}), "
                  f"alpha {r['alpha']:.2f}, beta {r['beta']:.2f}  [{time.time() - t:.1f} s]")  # fmt: skip
        for k in ("unseen_max", "unseen_mean", "seen_max"):
            vals = [r[k] for r in rows]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            print(f"{feats} f={f} {k}: {statistics.mean(vals):.3f} +- {sd:.3f} over {len(vals)} seeds "
                  f"(chance unseen {rows[0]['chance_unseen']:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
