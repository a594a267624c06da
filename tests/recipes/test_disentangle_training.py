"""Disentangle recipe end to end on real background-removed shards of the sample corpus (CPU;
conftest's disentangle_shards)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from signprep.cli import app
from signprep.evaluation.disentanglement import GRID_FILE, REPORT_FILE
from signprep.recipes.disentangle import DisentangleConfig, embed_disentangle, train_disentangle
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


def _metrics(out: Path) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    with (out / "metrics.csv").open() as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["name"], []).append(float(r["value"]))
    return rows


def test_training_loss_falls_on_real_shards(disentangle_shards, tmp_path):
    out = tmp_path / "run"
    trainer = train_disentangle(disentangle_shards, DisentangleConfig(**TINY), out)
    report = trainer.report
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
        assert p.classes == 2 and p.groups == 4 and p.excluded == 0 and p.chance == 0.5
    probes = {(p.level, p.target, p.code): p.accuracy for p in report.probes}
    # 901 (white background) and 912 (brown top) look nothing alike: a left-out video's signer is named from f_a
    assert probes[("video", "signer", "appearance")] == 1.0
    assert report.heldout_videos == 0 and report.heldout_probes == []  # every video trained (train_splits null)
    assert "probe_video/signer_from_appearance" in m and "probe_frame/chance_gloss_from_sign" in m
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


def test_heldout_videos_stay_out_of_training_and_are_probed_apart(disentangle_shards, tmp_path):
    """yes by 901 (90039) held out: the eat pair trains; the held-out video is scored by the probe fitted on the
    three training videos' codes, beside the cross-validated probes of those three."""
    out = tmp_path / "run"
    trainer = train_disentangle(disentangle_shards, DisentangleConfig(**{**TINY, "heldout_videos": ("90039",)}), out)
    report = trainer.report
    assert (report.videos, report.heldout_videos) == (3, 1) and trainer.step == 6  # one pair, one batch an epoch
    assert trainer.metadata["heldout_videos"] == ["90039"]
    heldout = {(p.level, p.target, p.code): p for p in report.heldout_probes}
    assert len(heldout) == 8 and all(p.groups == 1 and p.classes == 2 for p in heldout.values())
    assert heldout[("video", "signer", "appearance")].accuracy == 1.0  # 901 named from the codes of 901's eat
    assert heldout[("frame", "signer", "appearance")].rows == 4  # probe_frames_per_video frames of the one video
    m = trainer.final_metrics
    assert m["probe_heldout_video/signer_from_appearance"] == 1.0
    assert m["probe_heldout_video/chance_signer_from_appearance"] == 0.5
    assert "probe_heldout_video/signer_from_appearance_at_init" in m
    assert "held-out videos (1, never trained on)" in report.render()


def test_heldout_ids_must_exist(disentangle_shards, tmp_path):
    cfg = DisentangleConfig(**{**TINY, "heldout_videos": ("12345",), "heldout_signers": ("777",)})
    with pytest.raises(ValueError, match="no such held-out video or signer in the shard index: 12345, signer 777"):
        train_disentangle(disentangle_shards, cfg, tmp_path / "run")
