"""The disentanglement report of `signprep train disentangle`: linear probes and the swap grid.

Probe design (splits are by signer, so "fit on train, test on test" could never predict a
signer; see also signprep/recipes/disentangle.py and models/disentangle.md):
- Every video of the shard directory (all splits) is encoded at `probe_frames_per_video` evenly
  spaced frames (no augmentation, eval-mode batch norm).
- Grouped cross-validation over videos: leave one video out (`probe_folds: 0`) or GroupKFold;
  frames of one video are never in both the fitting and the scoring set.
- Two levels: "video", one row per video (the mean code over those frames); "frame", each of
  those frames a row, grouped by video.
- Probe: standardisation + multinomial logistic regression (scikit-learn), inverse strength
  `probe_c`. Only classes present in at least two videos are scored; the excluded count is
  reported. Chance: the larger of 1/K and always predicting the fitting folds' most frequent class.

The grid (`RUN/reconstructions.png`) shows, for pairs of videos of one gloss by different
signers, the input frames, their reconstructions, and D(f_a of signer A, f_g of signer B) and
the reverse.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from signprep.atomic import atomic_write_text
from signprep.reports.contact_sheet import write_png
from signprep.shards import ShardReader

if TYPE_CHECKING:  # type hints only: the trainer imports this module
    from signprep.recipes.disentangle import DisentangleConfig, DisentangleModel

REPORT_FILE = "disentangle_report.json"
GRID_FILE = "reconstructions.png"
HAND_DATASETS = ("hand_crops", "hand_crop_valid")


@dataclass
class VideoCodes:
    """Codes of every stored frame of one video."""

    sample_id: str
    label: int
    gloss: str
    signer_id: str
    split: str
    f_a: np.ndarray  # (T, A) float32
    f_g: np.ndarray  # (T, G) float32
    sign_feature: np.ndarray  # (hidden,) the running average of the temporal outputs at the last frame


def _video_batch(view, config: DisentangleConfig, frames: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """A one-video batch (B = 1) of the stored frames `frames` (default all) of a SampleView."""
    idx = np.arange(view.num_frames) if frames is None else np.asarray(frames)
    batch = {"background_removed": torch.from_numpy(view.read("background_removed")[idx])[None]}
    if config.hand_stream:
        for name in HAND_DATASETS:
            batch[name] = torch.from_numpy(view.read(name)[idx])[None]
    return batch


@torch.no_grad()
def encode_videos(
    model: DisentangleModel,
    shards: str | Path,
    ids: Sequence[str] | None = None,
    max_frames: int | None = None,
    temporal: bool = True,
) -> list[VideoCodes]:
    """f_a, f_g and the sign feature of each video (default: every sample): of every stored frame, or
    of `max_frames` evenly spaced ones. `temporal=False` skips the temporal model (sign_feature empty)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    with ShardReader(shards) as reader:
        for sid in ids if ids is not None else sorted(reader):
            view = reader[sid]
            frames = None if max_frames is None else _evenly_spaced(view.num_frames, max_frames)
            batch = {k: v.to(device) for k, v in _video_batch(view, model.config, frames).items()}
            enc = model.encode(batch)
            h = model.sign_outputs(enc["f_g"])[0].float().mean(0).cpu().numpy() if temporal else np.zeros(0)
            a = view.attrs
            out.append(
                VideoCodes(
                    sid,
                    int(a.get("label", -1)),
                    str(a.get("gloss") or ""),
                    str(a.get("signer_id") or ""),
                    str(a.get("split") or ""),
                    enc["f_a"][0].float().cpu().numpy(),
                    enc["f_g"][0].float().cpu().numpy(),
                    h,
                )
            )
    model.train(was_training)
    return out


def _evenly_spaced(n: int, k: int) -> np.ndarray:
    """Up to k distinct frame indices spread evenly over 0..n-1 (the first and the last included)."""
    return np.unique(np.round(np.linspace(0, n - 1, min(k, n))).astype(int))


# ---------------------------------------------------------------------------------------------- probes
def linear_probe(
    features: np.ndarray, labels: Sequence, groups: Sequence, folds: int = 0, C: float = 1.0
) -> dict[str, float]:
    """Grouped cross-validated accuracy of a standardised multinomial logistic regression.

    features (N, D); labels (N,) the class of each row; groups (N,) its video (rows of one group are
    never split between fitting and scoring). folds 0: leave one group out; k: GroupKFold(k).
    Rows whose class occurs in fewer than 2 groups are left out (`excluded`). Returns `accuracy`,
    `chance` = max(`majority`, `uniform`), `majority` (always the fitting folds' most frequent
    class, same folds), `uniform` (1/K), `classes` K, `rows`, `groups`, `excluded`.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(features, np.float64)
    y, g = np.asarray([str(v) for v in labels]), np.asarray([str(v) for v in groups])
    groups_of = {c: len(set(g[y == c])) for c in set(y)}
    keep = np.array([groups_of[c] >= 2 for c in y], bool)
    X, y, g = X[keep], y[keep], g[keep]
    n_classes, n_groups = len(set(y)), len(set(g))
    result = {"rows": int(len(y)), "groups": n_groups, "classes": n_classes, "excluded": int((~keep).sum())}
    if n_classes < 2:
        return {**result, "accuracy": math.nan, "majority": math.nan, "uniform": math.nan, "chance": math.nan}
    splitter = LeaveOneGroupOut() if folds == 0 else GroupKFold(n_splits=min(folds, n_groups))
    correct = baseline = 0
    for fit_rows, test_rows in splitter.split(X, y, g):
        classes, counts = np.unique(y[fit_rows], return_counts=True)
        majority = classes[np.argmax(counts)]
        baseline += int((y[test_rows] == majority).sum())
        if len(classes) == 1:
            pred = np.full(len(test_rows), majority)
        else:
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                # video-level gloss probes have ~2 rows per class, which sklearn flags as "maybe regression"
                warnings.filterwarnings("ignore", message="The number of unique classes")
                clf.fit(X[fit_rows], y[fit_rows])
            pred = clf.predict(X[test_rows])
        correct += int((pred == y[test_rows]).sum())
    maj, uni = baseline / len(y), 1.0 / n_classes
    return {**result, "accuracy": correct / len(y), "majority": maj, "uniform": uni, "chance": max(maj, uni)}


@dataclass
class ProbeResult:
    level: str  # "video" or "frame"
    target: str  # "signer" or "gloss"
    code: str  # "appearance" (f_a) or "sign" (f_g)
    accuracy: float
    chance: float
    majority: float
    uniform: float
    classes: int
    rows: int
    groups: int
    excluded: int

    @property
    def name(self) -> str:
        return f"{self.target}_from_{self.code}"


def run_probes(videos: Sequence[VideoCodes], config: DisentangleConfig) -> list[ProbeResult]:
    """The eight probes: level (video, frame) x target (signer, gloss) x code (f_a, f_g). `videos` hold
    the codes of the frames to use (`encode_videos(..., max_frames=config.probe_frames_per_video)`):
    the video level averages them, the frame level takes each as a row."""
    from threadpoolctl import threadpool_limits

    results = []
    for level in ("video", "frame"):
        feats: dict[str, list[np.ndarray]] = {"appearance": [], "sign": []}
        signer, gloss, group = [], [], []
        for v in videos:
            if level == "video":
                feats["appearance"].append(v.f_a.mean(0, keepdims=True))
                feats["sign"].append(v.f_g.mean(0, keepdims=True))
            else:
                feats["appearance"].append(v.f_a)
                feats["sign"].append(v.f_g)
            n = len(feats["sign"][-1])
            signer += [v.signer_id] * n
            gloss += [v.gloss] * n
            group += [v.sample_id] * n
        for target, labels in (("signer", signer), ("gloss", gloss)):
            for code in ("appearance", "sign"):
                # one BLAS thread: hundreds of tiny fits; more threads only contend (measured 5-10x slower)
                with threadpool_limits(1):
                    r = linear_probe(np.concatenate(feats[code]), labels, group, config.probe_folds, config.probe_c)
                results.append(ProbeResult(level, target, code, **r))
    return results


def probe_model(model: DisentangleModel, shards: str | Path, config: DisentangleConfig) -> list[ProbeResult]:
    """`run_probes` on the codes of `probe_frames_per_video` evenly spaced frames of every video of `shards`."""
    return run_probes(encode_videos(model, shards, max_frames=config.probe_frames_per_video, temporal=False), config)


def probe_metrics(probes: Sequence[ProbeResult]) -> dict[str, float]:
    metrics = {}
    for p in probes:
        metrics[f"probe_{p.level}/{p.name}"] = p.accuracy
        metrics[f"probe_{p.level}/{p.name}_chance"] = p.chance
    return metrics


@dataclass
class DisentanglementReport:
    probes: list[ProbeResult]
    videos: int
    signers: int
    glosses: int
    folds: int
    grid: Path | None = None
    grid_pairs: list[tuple[str, str]] = field(default_factory=list)
    init_probes: list[ProbeResult] | None = None  # the same probes on the untrained model

    def to_dict(self) -> dict:
        d = asdict(self)
        d["grid"] = str(self.grid) if self.grid else None
        return d

    def render(self) -> str:
        cv = "leave one video out" if self.folds == 0 else f"GroupKFold({self.folds}) over videos"
        lines = [
            f"disentanglement report: {self.videos} videos, {self.signers} signers, {self.glosses} glosses",
            f"linear probe (standardised logistic regression), {cv}; classes in < 2 videos left out;",
            "chance = max(1/K, always the fitting folds' most frequent class)",
            f"{'level':6} {'predict':7} {'from':14} {'accuracy':>8} {'at init':>7} {'chance':>7} {'K':>3} {'rows':>5} "
            f"{'videos':>6} {'left out':>8}",
        ]
        init = {(p.level, p.target, p.code): p.accuracy for p in self.init_probes or []}
        for p in self.probes:
            code = "f_a appearance" if p.code == "appearance" else "f_g sign"
            at_init = init.get((p.level, p.target, p.code))
            at_init_text = f"{at_init:7.3f}" if at_init is not None else f"{'-':>7}"
            lines.append(
                f"{p.level:6} {p.target:7} {code:14} {p.accuracy:8.3f} {at_init_text} {p.chance:7.3f} {p.classes:3d} "
                f"{p.rows:5d} {p.groups:6d} {p.excluded:8d}"
            )
        lines.append(
            "a good split: signer from f_a high, from f_g near chance; gloss from f_g high, from f_a near chance"
        )
        if self.grid is not None:
            lines.append(f"reconstructions and swaps: {self.grid}")
        return "\n".join(lines)


def disentanglement_report(
    model: DisentangleModel,
    shards: str | Path,
    config: DisentangleConfig,
    out_dir: str | Path,
    init_probes: list[ProbeResult] | None = None,
) -> DisentanglementReport:
    """Probe every video of `shards`, draw the reconstruction grid; writes `disentangle_report.json`
    and `reconstructions.png` into `out_dir`. `init_probes`: the untrained model's, shown beside."""
    out_dir = Path(out_dir)
    videos = encode_videos(model, shards, max_frames=config.probe_frames_per_video, temporal=False)
    probes = run_probes(videos, config)
    pairs = _grid_pairs(videos, config.grid_pairs)
    grid = out_dir / GRID_FILE
    write_png(reconstruction_grid(model, shards, pairs, config.grid_columns), grid)
    report = DisentanglementReport(
        probes,
        videos=len(videos),
        signers=len({v.signer_id for v in videos}),
        glosses=len({v.gloss for v in videos}),
        folds=config.probe_folds,
        grid=grid,
        grid_pairs=pairs,
        init_probes=init_probes,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / REPORT_FILE, json.dumps(report.to_dict(), indent=1))
    return report


# ---------------------------------------------------------------------------------------------- image grid
def _grid_pairs(videos: Sequence[VideoCodes], n: int) -> list[tuple[str, str]]:
    """Up to n (A, B) pairs of videos of one gloss by different signers, else of any two signers."""
    by_gloss: dict[str, list[VideoCodes]] = {}
    for v in videos:
        by_gloss.setdefault(v.gloss, []).append(v)
    pairs = []
    for g in sorted(by_gloss):
        vs = by_gloss[g]
        for a in vs:
            b = next((b for b in vs if b.signer_id != a.signer_id), None)
            if b is not None:
                pairs.append((a.sample_id, b.sample_id))
                break
    if not pairs:
        firsts: dict[str, str] = {}
        for v in videos:
            firsts.setdefault(v.signer_id, v.sample_id)
        ids = list(firsts.values())
        pairs = list(zip(ids[0::2], ids[1::2])) or [(ids[0], ids[0])]
    return pairs[:n]


TILE = 128  # pixels per tile in the grid (64x64 frames drawn at 2x)


def _tile(image: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return cv2.resize(np.ascontiguousarray(image), (TILE, TILE), interpolation=cv2.INTER_NEAREST)


def _text(lines: Sequence[str], width: int, height: int = TILE) -> np.ndarray:
    img = np.full((height, width, 3), 24, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(img, line, (6, 20 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    return img


@torch.no_grad()
def reconstruction_grid(
    model: DisentangleModel, shards: str | Path, pairs: Sequence[tuple[str, str]], columns: int = 8
) -> np.ndarray:
    """(H, W, 3) uint8 RGB: per pair (A, B), rows A input, D(f_a^t, f_g^t) of A, B input, its
    reconstruction, D(f_a of A, f_g of B at t) and D(f_a of B, f_g of A at t); `columns` evenly
    spaced frames; the first column of a swap row is the appearance source frame (the video's
    middle frame). Body stream only."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    label_w, gap = 250, 4
    blank = np.full((TILE, TILE, 3), 40, np.uint8)
    rows: list[np.ndarray] = []

    def row(label: list[str], first: np.ndarray, tiles: list[np.ndarray]) -> None:
        body = np.hstack([np.pad(t, ((0, gap), (0, gap), (0, 0))) for t in [first, *tiles]])
        rows.append(np.hstack([_text(label, label_w, body.shape[0]), body]))

    with ShardReader(shards) as reader:
        for a_id, b_id in pairs:
            data = {}
            for sid in (a_id, b_id):
                view = reader[sid]
                frames = _evenly_spaced(view.num_frames, columns)
                batch = {k: v.to(device) for k, v in _video_batch(view, model.config, frames).items()}
                enc = model.encode(batch)
                fa, fg = enc["codes"]["body"]
                mid = view.num_frames // 2
                mid_batch = {k: v.to(device) for k, v in _video_batch(view, model.config, [mid]).items()}
                mid_a = model.encode(mid_batch)["codes"]["body"][0][0, 0, 0]  # (da,)
                a = view.attrs
                data[sid] = {
                    "images": enc["images"]["body"][0][0, :, 0],  # (t, 3, h, w)
                    "fa": fa[0, :, 0],
                    "fg": fg[0, :, 0],
                    "mid_a": mid_a,
                    "mid_image": _tile(view.read("background_removed", slice(mid, mid + 1))[0]),
                    "desc": f"{sid} '{a.get('gloss')}' signer {a.get('signer_id')}",
                }
            for sid in dict.fromkeys((a_id, b_id)):
                d = data[sid]
                row([d["desc"], "input frames"], blank, [_tile(x) for x in d["images"]])
                recon = model.decode("body", d["fa"], d["fg"])
                row([d["desc"], "reconstruction D(f_a^t, f_g^t)"], blank, [_tile(x) for x in recon])
            if a_id != b_id:
                for look, sign in ((a_id, b_id), (b_id, a_id)):
                    fg = data[sign]["fg"]
                    fa = data[look]["mid_a"].expand(fg.shape[0], -1)
                    swap = model.decode("body", fa, fg)
                    label = ["swap: appearance of", data[look]["desc"], "+ sign code of", data[sign]["desc"]]
                    row(label, data[look]["mid_image"], [_tile(x) for x in swap])
            rows.append(np.full((gap * 3, 1, 3), 0, np.uint8))
    model.train(was_training)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    header = _text(
        ["disentangled encoders: reconstructions and swaps (first column of a swap: appearance source)"], width, 30
    )
    return np.vstack([header, *rows])


# ---------------------------------------------------------------------------------------------- embed
