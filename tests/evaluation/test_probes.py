"""Linear probes of the disentanglement report against hand-made cases: a real linear signal,
a feature that only identifies the video, classes of a single video."""

from __future__ import annotations

import numpy as np
import pytest

from signprep.evaluation.probes import linear_probe


def test_probe_finds_a_linear_signal_and_reports_chance():
    rng = np.random.default_rng(0)
    videos = [f"v{i}" for i in range(12)]
    signer = [f"s{i % 3}" for i in range(12)]
    rows_y, rows_g, feats = [], [], []
    for v, s in zip(videos, signer):
        centre = np.eye(6)[int(s[1])] * 5
        for _ in range(4):
            feats.append(centre + rng.normal(0, 0.3, 6))
            rows_y.append(s)
            rows_g.append(v)
    r = linear_probe(np.array(feats), rows_y, rows_g)
    assert r["accuracy"] == 1.0 and r["classes"] == 3 and r["groups"] == 12 and r["rows"] == 48
    assert r["uniform"] == pytest.approx(1 / 3) and r["chance"] == pytest.approx(max(r["majority"], 1 / 3))
    noise = linear_probe(rng.normal(size=(48, 6)), rows_y, rows_g)
    assert noise["accuracy"] < 0.7


def test_probe_never_scores_a_video_it_was_fitted_on():
    # a feature that only identifies the video (one-hot of the group) would give 100% if frames of one
    # video were on both sides; with grouped folds it carries nothing about the held-out video
    videos = np.repeat(np.arange(10), 3)
    labels = [f"c{v % 2}" for v in videos]
    r = linear_probe(np.eye(10)[videos], labels, videos)
    assert r["accuracy"] <= r["chance"] + 1e-9


def test_probe_leaves_out_classes_of_a_single_video():
    feats = np.arange(10, dtype=float)[:, None]
    labels = ["a", "a", "b", "b", "a", "b", "c", "c", "d", "e"]  # d, e in one video each
    groups = list(range(8)) + [8, 9]
    r = linear_probe(feats, labels, groups)
    assert r["excluded"] == 2 and r["classes"] == 3 and r["rows"] == 8
    r5 = linear_probe(feats, labels, groups, folds=4)
    assert r5["rows"] == 8 and 0 <= r5["accuracy"] <= 1
