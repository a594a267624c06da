"""Disentangle trainer on real background-removed shards of the sample corpus (CPU), and its probe."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from signprep.cli import app
from signprep.data import ShardDataset
from signprep.recipes.disentangle import (
    DisentangleConfig,
    DisentangleModel,
    PairClipDataset,
    collate_pairs,
    embed_disentangle,
    train_disentangle,
)
from signprep.recipes.disentangle_report import GRID_FILE, REPORT_FILE, linear_probe
from signprep.shards import ShardReader

# eat and yes, each by signer 901 (train) and 912 (test), decoded at 12 fps (24-35 stored frames each)
PAIR_IDS = ("90008", "90009", "90039", "90040")
TINY = dict(
    epochs=6,
    batch_size=2,
    clip_len=8,
    lr=1e-3,
    channels=(8, 16, 32, 32),
    appearance_dim=16,
    sign_dim=8,
    hand_appearance_dim=8,
    hand_sign_dim=4,
    temporal_hidden=16,
    temporal_layers=2,
    signer_hidden=8,
    train_splits=None,  # the splits are signer-disjoint: pairs exist only across them
    progress=False,
    log_every=1,
    num_workers=0,
    device="cpu",
    probe_frames_per_video=4,
    grid_pairs=1,
    grid_columns=4,
)


@pytest.fixture(scope="session")
def disentangle_shards(tmp_path_factory, records, write_pipeline) -> Path:
    """The `disentangle` pipeline (person mask, background-removed 64x64 frames) plus hand crops, 12 fps."""
    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.runner import run_extract
    from signprep.manifests import Manifest

    shipped = yaml.safe_load(Path("pipelines/disentangle.yaml").read_text())["stages"]
    root = tmp_path_factory.mktemp("disentangle-pairs")
    stages = {"person_mask": shipped["person_mask"], "hand_crops": {"size": 64}}
    pipeline = load_pipeline(write_pipeline(root / "disentangle-12fps.yaml", decode={"fps": 12}, stages=stages))
    summary = run_extract(Manifest([records[i] for i in PAIR_IDS]), pipeline, root / "out", workers=2, progress=False)
    assert summary.exit_code == 0 and summary.done_now == len(PAIR_IDS), summary.render()
    return root / "out"


def _metrics(out: Path) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    with (out / "metrics.csv").open() as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["name"], []).append(float(r["value"]))
    return rows


def test_pairs_are_same_gloss_different_signer_and_collate_in_sampler_order(disentangle_shards):
    base = ShardDataset(disentangle_shards, modalities=("background_removed",), clip_len=8, label_map=True, seed=0)
    pairs = PairClipDataset(base, seed=0)
    assert len(pairs) == 4  # every video is an anchor once
    batch = collate_pairs([pairs[0], pairs[1]])
    assert batch["background_removed"].shape == (4, 8, 64, 64, 3) and batch["background_removed"].dtype == torch.uint8
    for p in range(2):
        assert batch["gloss"][2 * p] == batch["gloss"][2 * p + 1]
        assert batch["signer_id"][2 * p] != batch["signer_id"][2 * p + 1]
        assert batch["label"][2 * p] == batch["label"][2 * p + 1]


def test_cross_reconstruction_takes_appearance_from_another_frame_of_the_same_video():
    cfg = DisentangleConfig(**{**TINY, "clip_len": 5})
    model = DisentangleModel(cfg, num_classes=2)
    B, T = 3, 5
    # f_a of frame t of video b is 100 b + t; the "decoder" returns the appearance code it is given
    marks = (100 * torch.arange(B)[:, None] + torch.arange(T)[None]).float()
    model.encode_stream = lambda s, images: (marks[:, :, None, None].expand(B, T, 1, 16), torch.zeros(B, T, 1, 8))
    model.decode = lambda s, f_a, f_g: f_a[..., :1]
    out = model({"background_removed": torch.zeros(B, T, 64, 64, 3, dtype=torch.uint8)})
    src = out["recon_body"][..., 0, 0]  # (B, T): the appearance source of each reconstructed frame
    assert torch.equal(src // 100, torch.arange(B)[:, None].expand(B, T).float())  # same video
    assert (src % 100 != torch.arange(T)[None].float()).all()  # another frame


def test_training_loss_falls_on_real_shards(disentangle_shards, tmp_path):
    out = tmp_path / "run"
    trainer, report = train_disentangle(disentangle_shards, DisentangleConfig(**TINY), out)
    assert trainer.epoch == 6 and trainer.step == 12 and (out / "last.pt").is_file()
    m = _metrics(out)
    loss = m["train/loss"]
    assert len(loss) == 12 and all(np.isfinite(loss))
    assert np.mean(loss[-3:]) < 0.8 * np.mean(loss[:3]), loss
    assert np.mean(m["train/xrecon"][-3:]) < np.mean(m["train/xrecon"][:3])
    for part in ("identity", "similarity"):
        assert all(np.isfinite(m[f"train/{part}"]))

    # the report: 8 probes, logged, written; the grid image
    assert report is not None and len(report.probes) == 8
    assert {(p.level, p.target, p.code) for p in report.probes} == {
        (lv, t, c) for lv in ("video", "frame") for t in ("signer", "gloss") for c in ("appearance", "sign")
    }
    for p in report.probes:
        assert 0 <= p.accuracy <= 1 and p.classes == 2 and p.groups == 4 and p.excluded == 0
    assert "probe_video/signer_from_appearance" in m and "probe_frame/gloss_from_sign_chance" in m
    assert "probe_video/signer_from_appearance_at_init" in m  # the untrained model's, for reference
    assert report.init_probes is not None and len(report.init_probes) == 8 and "at init" in report.render()
    saved = json.loads((out / REPORT_FILE).read_text())
    assert len(saved["probes"]) == 8 and saved["grid"] == str(out / GRID_FILE)
    assert "signer" in report.render() and "f_a appearance" in report.render()
    import cv2

    grid = cv2.imread(str(out / GRID_FILE))
    # header + pair rows: A input, A recon, B input, B recon, two swaps; 4 frames + the source column
    assert grid is not None and grid.shape[0] > 6 * 128 and grid.shape[1] > 5 * 128


def test_cli_train_and_embed_with_hands_transformer_and_adversary(disentangle_shards, tmp_path):
    out = tmp_path / "cli-run"
    config = tmp_path / "disentangle.yaml"
    data = yaml.safe_load(Path("models/disentangle.yaml").read_text())
    extra = {"hand_stream": True, "temporal": "transformer", "transformer_heads": 2, "adversarial_weight": 0.1}
    data.update({**TINY, **extra, "channels": [8, 16, 32, 32]})
    config.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    args = ["train", "disentangle", "--shards", str(disentangle_shards), "--config", str(config), "--out", str(out)]
    r = runner.invoke(app, [*args, "--epochs", "2"])
    assert r.exit_code == 0, r.output
    assert "trained 2 epochs" in r.output and "disentanglement report" in r.output
    assert (out / GRID_FILE).is_file()
    m = _metrics(out)
    assert all(np.isfinite(m["train/adversarial"])) and all(np.isfinite(m["train/loss"]))

    with ShardReader(disentangle_shards) as reader:
        frames = {sid: reader[sid].num_frames for sid in reader}
    r = runner.invoke(
        app,
        [
            "embed",
            "disentangle",
            "--shards",
            str(disentangle_shards),
            "--checkpoint",
            str(out / "last.pt"),
            "--out",
            str(tmp_path / "codes.h5"),
        ],
    )
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "codes.h5") as f:
        ids = f["sample_id"].asstr()[:]
        assert sorted(ids) == sorted(PAIR_IDS)
        assert f["f_a_mean"].shape == (4, 16 + 2 * 8) and f["f_g_mean"].shape == (4, 8 + 2 * 4)
        assert f["sign_feature"].shape == (4, 16)
        off = f["frame_offsets"][:]
        assert off[-1] == sum(frames.values()) and f["f_g"].shape == (off[-1], 16)
        for n, sid in enumerate(ids):
            assert off[n + 1] - off[n] == frames[sid] == f["num_frames"][n]
            assert np.allclose(f["f_a"][off[n] : off[n + 1]].mean(0), f["f_a_mean"][n], atol=1e-5)
        assert json.loads(f["code_layout"].asstr()[0])["f_a"] == [["body", 16], ["hands", 16]]

    path = embed_disentangle(disentangle_shards, out / "last.pt", tmp_path / "means.npz", sequences=False)
    npz = np.load(path)
    assert npz["f_g_mean"].shape == (4, 16) and "f_g" not in npz.files


def test_cli_error_when_the_training_splits_hold_no_pair(disentangle_shards, tmp_path):
    config = tmp_path / "train-only.yaml"
    config.write_text(yaml.safe_dump({**TINY, "train_splits": ["train"], "channels": [8, 16, 32, 32]}))
    r = CliRunner().invoke(
        app,
        [
            "train",
            "disentangle",
            "--shards",
            str(disentangle_shards),
            "--config",
            str(config),
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert r.exit_code == 2
    assert "different signers" in r.output and "train_splits" in r.output


# ------------------------------------------------------------------------------------------------- probe
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
