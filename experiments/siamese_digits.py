"""The thesis's unseen-class check (its KMNIST experiment, 3.2) on scikit-learn's bundled digits.

KMNIST cannot be downloaded here; `sklearn.datasets.load_digits` ships 1797 8x8 handwritten
digits of 10 classes with scikit-learn. The protocol follows the thesis as far as that allows:

1. first stage: the thesis's classifier (Fig. 3.7: Conv+BN+ReLU6, inverted residual blocks of
   expansion 4 with 32, 64, 96, 128, 32 channels, average pool to 32 extracted features,
   Dropout 0.5, linear classifier), on 8x8 instead of 28x28 images (its three stride-2 blocks
   take 8 -> 4 -> 2 -> 1), trained with cross-entropy on the SEEN digits only, by the thesis's
   procedure (3.1.2: SGD, Nesterov momentum 0.9, lr 0.1 -> 1e-4 with warm restarts at epochs 5
   and 10 of 20), then frozen;
2. the siamese head (Fig. 3.9: 8 linear dual-path layers adding 16 channels each, 32 -> 160,
   Dropout 0.5, FC to f; pair BCE with positive weight |C| - 1, + 0.25 |beta|) on the frozen,
   standardised features, class-balanced batches of the seen digits, the same SGD procedure;
3. the UNSEEN digits are classified from S = 10 and S = 25 prototypes per class (max rule;
   mean rule also printed), drawn at random from the unseen digits' images, every other unseen
   image a query; averaged over several prototype draws.

Class splits: rotation j holds out the k digits j, j+1, ..., j+k-1 (mod 10) as the test
unseen classes; the other 10 - k are seen. Choices (f, head depth, head epochs) are made per
rotation on VALIDATION classes: the last 2 seen digits are held out as unseen classes of an
inner run (first stage and head trained on the other 10 - k - 2), the configuration with the
best validation top-1 (S = 10) is retrained on all seen digits and scored once on the test
unseen digits. k = 5 is the default: the most that still leaves the inner run 3 training
classes (a pair loss over 2 classes learns one direction, not an embedding).

The thesis: 40 seen KMNIST characters, 9 unseen, 87.7% (S = 10) and 90.1% (S = 25) unseen
top-1 (chance 1/9). Here: 5 seen, 5 unseen 8x8 digits (chance 1/5); fewer seen classes teach
fewer strokes, and the thesis's selection protocol for f is not stated.

Run:  .venv/bin/python experiments/siamese_digits.py [--unseen 5] [--rotations 0 1 ... 9] [--cnn-epochs 20]
                                                    [--embed-dims 4 6 10] [--depths 2 8]
The first stage dominates the time: 24 s an epoch of 720 images on this project's loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signprep.data import ClassBalancedBatchSampler  # noqa: E402
from signprep.models.handpose import InvertedResidual  # noqa: E402
from signprep.models.prototypes import PrototypeClassifier, choose_prototypes  # noqa: E402
from signprep.models.siamese import EmbeddingHead, siamese_pair_loss  # noqa: E402
from signprep.training import SGDRConfig, build_sgd_warm_restarts, seed_everything  # noqa: E402

THESIS_UNSEEN = {10: 0.877, 25: 0.901}  # 9 unseen KMNIST characters after training on 40 (thesis 3.2.2)


@dataclass(frozen=True)
class DigitsProtocol:
    unseen: int = 5  # k test-unseen digits per rotation
    val_classes: int = 2  # seen digits held out as the inner run's unseen classes
    prototypes: tuple[int, ...] = (10, 25)  # S
    embed_dims: tuple[int, ...] = (4, 6, 10)  # f candidates (2 log2 |C| = 4.6 for 5 seen digits)
    depths: tuple[int, ...] = (2, 8)  # dual-path layers (thesis: 8)
    head_epochs: tuple[int, ...] = (5, 10, 20)  # candidates: the ends of the warm-restart cycles
    cnn_epochs: int = 20  # thesis 3.1.2: restarts at 5 and 10 of 20
    samples_per_class: int = 16  # K of the class-balanced batches (P = every seen class)
    prototype_draws: int = 5
    seed: int = 0


@dataclass(frozen=True)
class HeadChoice:
    embed_dim: int
    depth: int
    epochs: int


class ThesisDigitsCNN(nn.Module):
    """Thesis Fig. 3.7 on 8x8 digits: (B, 1, 8, 8) -> 32 pooled features -> Dropout 0.5 -> logits."""

    BLOCKS = ((32, 1), (32, 1), (32, 1), (64, 2), (64, 1), (64, 1), (64, 1), (64, 1), (96, 2), (128, 1), (32, 2))

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
        c = 32
        for out_c, stride in self.BLOCKS:
            layers.append(InvertedResidual(c, out_c, stride, expand=4))
            c = out_c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(c, num_classes))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled(x))


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """(1797, 1, 8, 8) images in [-1, 1] and (1797,) labels."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values are 0..16
    return (x - 0.5) / 0.5, torch.tensor(d.target, dtype=torch.int64)


def rotation_classes(rotation: int, protocol: DigitsProtocol) -> tuple[list[int], list[int], list[int]]:
    """(inner training digits, validation digits, test unseen digits) of a rotation; seen = inner + val."""
    test = [(rotation + i) % 10 for i in range(protocol.unseen)]
    seen = [(rotation + protocol.unseen + i) % 10 for i in range(10 - protocol.unseen)]
    return seen[: -protocol.val_classes], seen[-protocol.val_classes :], test


def _sgdr(epochs: int) -> SGDRConfig:
    """Thesis 3.1.2: SGD, Nesterov 0.9, lr 0.1 -> 1e-4, warm restarts at 1/4 and 1/2 of the run."""
    return SGDRConfig(epochs=epochs, lr=0.1, lr_min=1e-4, restarts=sorted({epochs // 4, epochs // 2} - {0}))


def train_first_stage(x, y, classes: list[int], epochs: int, seed: int) -> ThesisDigitsCNN:
    """Cross-entropy on the images of `classes` (their class order gives the logits); eval mode."""
    seed_everything(seed)
    to_index = torch.full((10,), -1, dtype=torch.int64)
    to_index[classes] = torch.arange(len(classes))
    cnn = ThesisDigitsCNN(len(classes))
    optimizer, scheduler = build_sgd_warm_restarts(cnn.parameters(), _sgdr(epochs))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=gen).split(128):
            loss = F.cross_entropy(cnn(x[batch]), to_index[y[batch]])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    return cnn.eval()


def train_head(features, y, choice_dims: tuple[int, int], epochs: tuple[int, ...], protocol, seed: int):
    """Train one head (f, depth) for max(epochs) epochs; {epoch: head copy (eval mode)} at each of `epochs`."""
    embed_dim, depth = choice_dims
    seed_everything(seed)
    head = EmbeddingHead(features.shape[1], embed_dim, depth, growth=16, dropout=0.25, out_dropout=0.5)
    optimizer, scheduler = build_sgd_warm_restarts(head.parameters(), _sgdr(max(epochs)))
    classes = sorted(set(y.tolist()))
    sampler = ClassBalancedBatchSampler(y.tolist(), len(classes), protocol.samples_per_class, seed=seed)
    pos_weight = float(len(classes) - 1)
    snapshots = {}
    for epoch in range(max(epochs)):
        head.train()
        sampler.set_epoch(epoch)
        for batch in sampler:
            i = torch.tensor(batch)
            out = siamese_pair_loss(head(features[i]), y[i], head.alpha, head.beta, pos_weight)
            optimizer.zero_grad()
            out["loss"].backward()
            optimizer.step()
        scheduler.step()
        if epoch + 1 in epochs:
            snapshots[epoch + 1] = copy.deepcopy(head).eval()
    return snapshots


@torch.no_grad()
def lowshot_top1(head: EmbeddingHead, features, y, classes: list[int], per_class: int, draws: int, rule: str = "max",
                 queries_from: torch.Tensor | None = None) -> float:  # fmt: skip
    """Mean over `draws` prototype draws: S = `per_class` prototypes per class of `classes` drawn from their
    images, every other image of those classes (or of `queries_from`, a bool mask) a query; top-1."""
    emb = head(features)
    pool = np.flatnonzero(np.isin(y.numpy(), classes))
    accs = []
    for draw in range(draws):
        protos = pool[choose_prototypes(y[pool].numpy(), per_class, seed=draw)]
        mask = torch.zeros(len(y), dtype=torch.bool)
        mask[pool] = True
        mask[protos] = False
        if queries_from is not None:
            mask &= queries_from
        clf = PrototypeClassifier(emb[protos], y[protos], head.alpha, head.beta, rule=rule)
        accs.append((clf.predict(emb[mask]) == y[mask]).float().mean().item())
    return statistics.fmean(accs)


def _standardise(cnn: ThesisDigitsCNN, x: torch.Tensor, fit: torch.Tensor) -> torch.Tensor:
    """Frozen pooled features of every image, standardised with the `fit` images' per-channel mean and std."""
    with torch.no_grad():
        feats = cnn.pooled(x)
    mean, std = feats[fit].mean(0), feats[fit].std(0).clamp(min=1e-6)
    return (feats - mean) / std


def run_rotation(rotation: int, protocol: DigitsProtocol = DigitsProtocol(), log=print) -> dict:
    """Choose (f, depth, epochs) on the validation digits, retrain on every seen digit, score the test unseen ones."""
    x, y = load_digits_tensors()
    inner, val, test = rotation_classes(rotation, protocol)
    seen = inner + val
    rng = np.random.default_rng(protocol.seed + rotation)
    seen_idx = np.flatnonzero(np.isin(y.numpy(), seen))
    held = np.zeros(len(y), bool)
    held[rng.choice(seen_idx, len(seen_idx) // 5, replace=False)] = True  # a fifth of the seen images, for seen top-1
    fit = np.isin(y.numpy(), seen) & ~held

    # inner run: first stage and heads on the inner digits, every choice scored on the validation digits
    candidates = list(itertools.product(protocol.embed_dims, protocol.depths, protocol.head_epochs))
    val_top1: dict[HeadChoice, float] = {}
    if len(candidates) > 1:  # a single candidate needs no choosing
        inner_fit = torch.from_numpy(np.isin(y.numpy(), inner) & ~held)
        cnn = train_first_stage(x[inner_fit], y[inner_fit], inner, protocol.cnn_epochs, protocol.seed)
        feats = _standardise(cnn, x, inner_fit)
        for dims in itertools.product(protocol.embed_dims, protocol.depths):
            heads = train_head(feats[inner_fit], y[inner_fit], dims, protocol.head_epochs, protocol, protocol.seed)
            for epochs, head in heads.items():
                val_top1[HeadChoice(*dims, epochs)] = lowshot_top1(head, feats, y, val, 10, protocol.prototype_draws)
        chosen = max(val_top1, key=lambda c: (val_top1[c], -c.embed_dim, -c.depth, -c.epochs))  # ties: the smaller
    else:
        chosen = HeadChoice(*candidates[0])
        val_top1[chosen] = float("nan")

    # final run: every seen digit, the chosen head, scored once on the test unseen digits
    seen_fit = torch.from_numpy(fit)
    cnn = train_first_stage(x[seen_fit], y[seen_fit], seen, protocol.cnn_epochs, protocol.seed)
    to_index = {c: i for i, c in enumerate(seen)}
    with torch.no_grad():
        pred = cnn(x[torch.from_numpy(held)]).argmax(1)
    truth = torch.tensor([to_index[int(c)] for c in y[torch.from_numpy(held)]])
    feats = _standardise(cnn, x, seen_fit)
    held_out = torch.from_numpy(held)
    head = train_head(feats[seen_fit], y[seen_fit], (chosen.embed_dim, chosen.depth), (chosen.epochs,), protocol,
                      protocol.seed)[chosen.epochs]  # fmt: skip
    result = {
        "rotation": rotation,
        "seen": seen,
        "val_classes": val,
        "unseen": test,
        "chosen": chosen,
        "val_top1": val_top1[chosen],
        "chance_unseen": 1 / len(test),
        "first_stage_seen_top1": (pred == truth).float().mean().item(),
        "seen_top1": lowshot_top1(head, feats, y, seen, 10, protocol.prototype_draws, queries_from=held_out),
    }
    for s in protocol.prototypes:
        for rule in ("max", "mean"):
            result[f"unseen_{rule}_S{s}"] = lowshot_top1(head, feats, y, test, s, protocol.prototype_draws, rule)
    log(f"rotation {rotation}: seen {seen}, chose f={chosen.embed_dim} depth={chosen.depth} epochs={chosen.epochs} "
        f"on val (digits {val}: top-1 {val_top1[chosen]:.3f}, chance {1 / len(val):.2f}), test on unseen {test}: "
        + ", ".join(f"S={s} {result[f'unseen_max_S{s}']:.3f}" for s in protocol.prototypes)
        + f" (chance {1 / len(test):.2f}); seen {result['seen_top1']:.3f}, "
        f"first stage {result['first_stage_seen_top1']:.3f}")  # fmt: skip
    return result


def summarize(results: list[dict], protocol: DigitsProtocol) -> str:
    k = protocol.unseen

    def cell(key: str) -> str:
        vals = [r[key] for r in results]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return f"{statistics.fmean(vals):.3f} +- {sd:.3f}"

    chosen = [r["chosen"] for r in results]
    lines = [
        f"{len(results)} rotations, {10 - k} seen / {k} unseen digits; choices made on 2 validation digits per "
        f"rotation: f {sorted({c.embed_dim for c in chosen})}, depth {sorted({c.depth for c in chosen})}, "
        f"epochs {sorted({c.epochs for c in chosen})} (per rotation above)",
        f"{'figure (mean +- sd over rotations)':<44}{'value':>16}{'chance':>8}  thesis (KMNIST, 9 unseen of 49)",
    ]
    for s in protocol.prototypes:
        thesis = f"  {THESIS_UNSEEN[s]:.3f} (chance 0.111)" if s in THESIS_UNSEEN else ""
        lines.append(f"{f'unseen top-1, S = {s}, max rule':<44}{cell(f'unseen_max_S{s}'):>16}{1 / k:8.3f}{thesis}")
        lines.append(f"{f'unseen top-1, S = {s}, mean rule':<44}{cell(f'unseen_mean_S{s}'):>16}{1 / k:8.3f}")
    lines.append(f"{'seen top-1 (embedding, S = 10, held-out fifth)':<44}{cell('seen_top1'):>16}{1 / (10 - k):8.3f}"
                 "  0.921 (40 seen)")  # fmt: skip
    lines.append(f"{'seen top-1 (first-stage classifier)':<44}{cell('first_stage_seen_top1'):>16}{1 / (10 - k):8.3f}"
                 "  0.947 (40 seen)")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--unseen", type=int, default=DigitsProtocol.unseen, help="k test-unseen digits per rotation")
    p.add_argument("--rotations", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--cnn-epochs", type=int, default=DigitsProtocol.cnn_epochs)
    p.add_argument("--embed-dims", type=int, nargs="+", default=list(DigitsProtocol.embed_dims), help="f candidates")
    p.add_argument("--depths", type=int, nargs="+", default=list(DigitsProtocol.depths), help="head depth candidates")
    p.add_argument("--draws", type=int, default=DigitsProtocol.prototype_draws, help="prototype draws per figure")
    args = p.parse_args()
    if not 1 <= args.unseen <= 10 - DigitsProtocol.val_classes - 2:
        p.error(f"--unseen must leave at least 2 inner training digits besides {DigitsProtocol.val_classes} val")
    torch.set_num_threads(1)  # tiny tensors: more threads only contend
    protocol = replace(DigitsProtocol(), unseen=args.unseen, cnn_epochs=args.cnn_epochs, prototype_draws=args.draws,
                       embed_dims=tuple(args.embed_dims), depths=tuple(args.depths))  # fmt: skip
    print(f"protocol: {protocol}")
    results = []
    for rotation in args.rotations:
        t = time.time()
        results.append(run_rotation(rotation, protocol, log=lambda s: print(s, end="")))
        print(f"  [{time.time() - t:.0f} s]", flush=True)
    print()
    print(summarize(results, protocol))


if __name__ == "__main__":
    main()
