"""DSFT trainer end to end on real keypoint shards of the sample corpus (CPU, a few epochs)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from signprep.cli import app
from signprep.recipes.dsft import TEXT_CACHE_DIR, DSFTConfig, embed_dsft, train_dsft

# eat and yes, each by signer 901 (train) and 912 (test), decoded at 12 fps: conftest's dsft_shards
PAIR_IDS = ("90008", "90009", "90039", "90040")
TINY = dict(
    epochs=8,
    batch_size=2,
    clip_len=25,
    feature_dim=32,
    rank=4,
    bank_size=8,
    depth=1,
    heads=2,
    dropout=0.0,
    augment=False,
    progress=False,
    log_every=1,
    num_workers=0,
    device="cpu",
)


def _seed_cache(text_cache: Path, out: Path) -> None:
    shutil.copytree(text_cache, out / TEXT_CACHE_DIR)


def _metrics(out: Path) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    with (out / "metrics.csv").open() as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["name"], []).append(float(r["value"]))
    return rows


@pytest.mark.parametrize("use_dsft", [True, False])
def test_training_fits_the_training_videos_and_trains_the_text_projection(dsft_shards, text_cache, tmp_path, use_dsft):
    """Both arms learn the two training videos (eat, yes by signer 901: a separable problem, chance 0.5)
    by class and by video -> text retrieval: the alignment loss they share trains the text projection
    with and without DSFT (without it, the old recipe never trained it)."""
    out = tmp_path / "run"
    _seed_cache(text_cache, out)
    # 20 steps at a constant 3e-3 (the cosine default decays too soon for 20 steps); rank 2 = the 2 glosses
    fit = {"epochs": 20, "lr": 3e-3, "scheduler": {"name": "constant"}, "rank": 2}
    cfg = DSFTConfig(**{**TINY, **fit}, label_smoothing=0.1 if use_dsft else 0.0)
    trainer = train_dsft(dsft_shards, cfg, out, use_dsft=use_dsft)
    assert trainer.epoch == 20 and (out / "last.pt").is_file()
    m = _metrics(out)
    assert all(np.isfinite(m["train/loss"])) and m["grad_nonfinite"] == [0.0] * 20
    assert m["eval_train/loss"][-1] < 0.7 * m["eval_train/loss"][0]
    assert np.mean(m["train/alignment"][-5:]) < 0.7 * np.mean(m["train/alignment"][:5])
    final = trainer.final_metrics
    assert final["eval_train/chance_top1"] == 0.5 and final["eval_train/chance_retrieval_top1"] == 0.5
    assert final["eval_train/top1"] == 1.0 and final["eval_train/retrieval_top1"] == 1.0
    assert len(m["eval_test/top1"]) == 20  # the held-out signer 912, evaluated every epoch

    run = torch.load(out / "last.pt", weights_only=True)
    assert run["metadata"]["test_signers"] == ["912"] and run["metadata"]["val_signers"] == []

    if use_dsft:
        feats = tmp_path / "features.h5"
        embed_dsft(dsft_shards, out / "last.pt", feats)
        with h5py.File(feats) as f:
            assert f["features"].shape == (4, 32) and f["logits"].shape == (4, 2)
            assert sorted(s.decode() for s in f["sample_id"][:]) == sorted(PAIR_IDS)
            train_rows = f["split"].asstr()[:] == "train"
            assert (f["logits"][:][train_rows].argmax(1) == f["class_index"][:][train_rows]).all()


def test_features_and_logits_do_not_depend_on_batch_mates(dsft_shards, text_cache, tmp_path):
    """Inductive evaluation through the recipe: embedding the clips one at a time or all together gives the
    same features and logits (H comes from the trained banks and the vocabulary, not from the batch)."""
    out = tmp_path / "run"
    _seed_cache(text_cache, out)
    train_dsft(dsft_shards, DSFTConfig(**{**TINY, "epochs": 2}), out)
    one = np.load(embed_dsft(dsft_shards, out / "last.pt", tmp_path / "one.npz", batch_size=1))
    four = np.load(embed_dsft(dsft_shards, out / "last.pt", tmp_path / "four.npz", batch_size=4))
    assert list(one["sample_id"]) == list(four["sample_id"])
    np.testing.assert_allclose(one["features"], four["features"], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(one["logits"], four["logits"], atol=1e-5, rtol=1e-5)


def test_cli_train_and_embed(dsft_shards, text_cache, tmp_path):
    out = tmp_path / "cli-run"
    _seed_cache(text_cache, out)
    config = tmp_path / "dsft.yaml"
    data = yaml.safe_load(Path("models/dsft.yaml").read_text()) if Path("models/dsft.yaml").is_file() else {}
    data.update({**TINY, "epochs": 2})
    data.pop("scheduler", None)
    config.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "train",
            "dsft",
            "--shards",
            str(dsft_shards),
            "--config",
            str(config),
            "--out",
            str(out),
            "--no-dsft",
            "--epochs",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "embed",
            "dsft",
            "--shards",
            str(dsft_shards),
            "--checkpoint",
            str(out / "last.pt"),
            "--out",
            str(tmp_path / "f.npz"),
        ],
    )
    assert r.exit_code == 0, r.output
    f = np.load(tmp_path / "f.npz")
    assert f["features"].shape == (4, 32)


def _train_cli(shards: Path, config: Path, out: Path, *extra: str):
    args = ["train", "dsft", "--shards", str(shards), "--config", str(config), "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_cli_resume_continues_exactly(dsft_shards, text_cache, tmp_path):
    """A run stopped after 2 of 4 epochs and resumed with --resume ends with the uninterrupted run's
    weights and metrics, bit for bit (seeded augmentation on: the dataset's epoch is restored too)."""
    config = tmp_path / "dsft.yaml"
    schedule = {"name": "cosine", "t_max": 4, "eta_min": 0.0}  # the same schedule for the 2- and 4-epoch runs
    config.write_text(yaml.safe_dump({**TINY, "epochs": 4, "augment": True, "scheduler": schedule}))
    whole, split = tmp_path / "whole", tmp_path / "split"
    for out in (whole, split):
        _seed_cache(text_cache, out)
    _train_cli(dsft_shards, config, whole)
    _train_cli(dsft_shards, config, split, "--epochs", "2")
    _train_cli(dsft_shards, config, split, "--resume", str(split / "last.pt"))

    a = torch.load(whole / "last.pt", weights_only=True)["model"]
    b = torch.load(split / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert _metrics(whole) == _metrics(split)


def test_heatmap_encoder_trains_and_embeds(dsft_shards, text_cache, tmp_path):
    """The 3D-CNN encoder over heatmaps rendered on the fly from the stored keypoints."""
    out = tmp_path / "heatmap-run"
    _seed_cache(text_cache, out)
    tiny_cnn = {"heatmap_size": (16, 16), "cnn_width": 4, "cnn_blocks": 2, "epochs": 4, "lr": 3e-3}
    trainer = train_dsft(dsft_shards, DSFTConfig(**{**TINY, **tiny_cnn, "encoder": "heatmaps"}), out)
    assert trainer.epoch == 4
    m = _metrics(out)
    assert all(np.isfinite(m["train/loss"])) and m["grad_nonfinite"] == [0.0] * 4
    assert m["eval_train/loss"][-1] < m["eval_train/loss"][0]

    feats = tmp_path / "features.npz"
    embed_dsft(dsft_shards, out / "last.pt", feats)
    f = np.load(feats)
    assert f["features"].shape == (4, 32) and np.isfinite(f["features"]).all()


def test_val_signers_are_checked_before_training(dsft_shards, tmp_path):
    with pytest.raises(ValueError, match="val_signers 912 are test signers"):
        train_dsft(dsft_shards, DSFTConfig(**TINY, val_signers=("912",)), tmp_path / "a")
    with pytest.raises(ValueError, match="nothing left to train on"):
        train_dsft(dsft_shards, DSFTConfig(**TINY, val_signers=("901",)), tmp_path / "b")
    with pytest.raises(ValueError, match="bank_size must be >= 1"):
        DSFTConfig(**{**TINY, "bank_size": 0})
    assert DSFTConfig(**{**TINY, "bank_size": 0, "use_dsft": False}).bank_size == 0
