"""Linear probes: how well does a code predict the signer, or the gloss? (the disentanglement report)

Probe design (splits are by signer, so "fit on train, test on test" could never predict a
signer; see also models/disentangle.md):
- On the videos the encoders trained on (`run_probes`): grouped cross-validation over videos,
  leave one video out (`folds` 0) or GroupKFold; frames of one video are never in both the
  fitting and the scoring set.
- On held-out videos (`run_heldout_probes`): the probe is fitted on the training videos' codes
  and scores the videos the encoders never saw; only held-out rows whose class the training
  videos have can be scored (a held-out signer's signer never can, their glosses can).
- Two levels: "video", one row per video (the mean code over its encoded frames); "frame", each
  of those frames a row, grouped by video.
- Probe: standardisation + multinomial logistic regression (scikit-learn), inverse strength `C`.
  Only classes present in at least two videos are scored; the excluded count is reported.
  Chance: the larger of 1/K and always predicting the fitting folds' most frequent class.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from signprep.evaluation.video_codes import VideoCodes

__all__ = ["ProbeResult", "linear_probe", "probe_metrics", "run_heldout_probes", "run_probes", "transfer_probe"]


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


def transfer_probe(
    fit_features: np.ndarray,
    fit_labels: Sequence,
    features: np.ndarray,
    labels: Sequence,
    groups: Sequence,
    C: float = 1.0,
) -> dict[str, float]:
    """Accuracy on (`features`, `labels`) of the probe fitted on (`fit_features`, `fit_labels`): standardised
    multinomial logistic regression, as `linear_probe`. Scored rows whose class the fitting rows lack are left
    out (`excluded`). `chance` = max(`majority`, `uniform`): always the fitting rows' most frequent class, and
    1/K for the K fitting classes. Same keys as `linear_probe`; `groups` counts the scored videos."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fy = np.asarray([str(v) for v in fit_labels])
    y, g = np.asarray([str(v) for v in labels]), np.asarray([str(v) for v in groups])
    classes, counts = np.unique(fy, return_counts=True)
    keep = np.isin(y, classes)
    X, y, g = np.asarray(features, np.float64)[keep], y[keep], g[keep]
    result = {"rows": int(len(y)), "groups": len(set(g)), "classes": len(classes), "excluded": int((~keep).sum())}
    if len(classes) < 2 or not len(y):
        return {**result, "accuracy": math.nan, "majority": math.nan, "uniform": math.nan, "chance": math.nan}
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="The number of unique classes")
        clf.fit(np.asarray(fit_features, np.float64), fy)
    accuracy = float((clf.predict(X) == y).mean())
    maj, uni = float((y == classes[np.argmax(counts)]).mean()), 1.0 / len(classes)
    return {**result, "accuracy": accuracy, "majority": maj, "uniform": uni, "chance": max(maj, uni)}


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


def run_probes(videos: Sequence[VideoCodes], folds: int = 0, C: float = 1.0) -> list[ProbeResult]:
    """The eight probes: level (video, frame) x target (signer, gloss) x code (f_a, f_g). `videos` hold
    the codes of the frames to use (`encode_videos(..., max_frames=...)`): the video level averages
    them, the frame level takes each as a row. `folds`, `C`: as in `linear_probe`."""
    from threadpoolctl import threadpool_limits

    results = []
    for level in ("video", "frame"):
        feats, signer, gloss, group = _rows(videos, level)
        for target, labels in (("signer", signer), ("gloss", gloss)):
            for code in ("appearance", "sign"):
                # one BLAS thread: hundreds of tiny fits; more threads only contend (measured 5-10x slower)
                with threadpool_limits(1):
                    r = linear_probe(feats[code], labels, group, folds, C)
                results.append(ProbeResult(level, target, code, **r))
    return results


def _rows(videos: Sequence[VideoCodes], level: str) -> tuple[dict[str, np.ndarray], list[str], list[str], list[str]]:
    """The probe rows of `videos` at `level`: ({code: (N, D) features}, signers, glosses, groups)."""
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
    return {k: np.concatenate(f) for k, f in feats.items()}, signer, gloss, group


def run_heldout_probes(
    trained: Sequence[VideoCodes], heldout: Sequence[VideoCodes], C: float = 1.0
) -> list[ProbeResult]:
    """The eight probes (as `run_probes`) fitted on the `trained` videos' codes, scored on the `heldout` ones."""
    from threadpoolctl import threadpool_limits

    results = []
    for level in ("video", "frame"):
        fit_feats, fit_signer, fit_gloss, _ = _rows(trained, level)
        feats, signer, gloss, group = _rows(heldout, level)
        for target, fit_labels, labels in (("signer", fit_signer, signer), ("gloss", fit_gloss, gloss)):
            for code in ("appearance", "sign"):
                with threadpool_limits(1):
                    r = transfer_probe(fit_feats[code], fit_labels, feats[code], labels, group, C)
                results.append(ProbeResult(level, target, code, **r))
    return results


def probe_metrics(probes: Sequence[ProbeResult], prefix: str = "probe") -> dict[str, float]:
    """{`<prefix>_<level>/<target>_from_<code>`: accuracy, `<prefix>_<level>/chance_<target>_from_<code>`: chance}."""
    metrics = {}
    for p in probes:
        metrics[f"{prefix}_{p.level}/{p.name}"] = p.accuracy
        metrics[f"{prefix}_{p.level}/chance_{p.name}"] = p.chance
    return metrics
