"""Hand-pose and siamese trainers end to end on real hand-crop shards of the sample corpus (CPU).

Four short clips, decoded at 12 fps (conftest's hand_shards): eat and yes, each by signer 901
(train) and 912 (test), so the by-signer split holds out signer 912 and the low-shot task has two glosses.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from signprep.cli import app
from signprep.data.crop_augment import normalize_crops
from signprep.data.hand_crop_set import HandCropSet
from signprep.models.handpose import HandPoseNet
from signprep.models.prototypes import PrototypeClassifier, choose_prototypes
from signprep.recipes.handpose import load_handpose
from signprep.recipes.siamese import SiameseConfig, load_siamese, train_siamese
from signprep.training import seed_everything

PAIR_IDS = ("90008", "90009", "90039", "90040")
HANDPOSE_TINY = dict(
    epochs=2,
    restarts=[],
    batch_size=16,
    expand=1,
    frame_stride=2,
    eval_max_crops=32,
    eval_batch_size=64,
    progress=False,
    log_every=1,
    device="cpu",
)
SIAMESE_TINY = dict(
    epochs=3,
    restarts=[],
    embed_dim=4,
    dp_layers=2,
    samples_per_class=8,
    frame_stride=2,
    progress=False,
    log_every=1,
    device="cpu",
)


def _write_config(path: Path, base: str, values: dict) -> Path:
    data = yaml.safe_load(Path(base).read_text()) if Path(base).is_file() else {}
    data.update(values)
    path.write_text(yaml.safe_dump(data))
    return path


def _metrics(out: Path) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    with (out / "metrics.csv").open() as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["name"], []).append(float(r["value"]))
    return rows


@pytest.fixture(scope="module")
def handpose_run(hand_shards, tmp_path_factory) -> Path:
    """`signprep train handpose` through the CLI with the shipped config, shrunk."""
    root = tmp_path_factory.mktemp("handpose-run")
    config = _write_config(root / "handpose.yaml", "models/handpose.yaml", HANDPOSE_TINY)
    out = root / "run"
    r = CliRunner().invoke(app, ["train", "handpose", "--shards", str(hand_shards), "-c", str(config), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_handpose_training(handpose_run):
    """The shipped recipe: AdamW on the warm-restart schedule, BCE, geometric + photometric augmentation."""
    m = _metrics(handpose_run)
    assert all(np.isfinite(m["train/loss"]))
    # lr 1e-3, then half way to lr_min (no restarts in 2 epochs)
    assert sorted({round(v, 8) for v in m["train/lr"]}) == [0.0005005, 0.001]
    ckpt = torch.load(handpose_run / "last.pt", weights_only=True)
    assert ckpt["config"]["optimizer"] == "adamw" and ckpt["config"]["loss"] == "bce" and ckpt["config"]["flip"]
    assert "exp_avg_sq" in next(iter(ckpt["optimizer"]["state"].values()))  # Adam's state, not SGD's momentum
    seed_everything(0)  # the trainer's initialisation, so only training can tell the weights apart
    start = HandPoseNet(expand=1).state_dict()
    assert not torch.allclose(ckpt["model"]["decoder.12.weight"], start["decoder.12.weight"])
    assert len(m["eval_test/keypoint_error_px"]) == 2
    assert ckpt["config"]["output_prior"] == 0.01
    report = json.loads((handpose_run / "handpose_eval.json").read_text())
    assert report["test_signers"] == ["912"] and report["train_signers"] == ["901"] and report["val"] is None


def test_handpose_evaluation_matches_a_direct_computation(hand_shards, handpose_run):
    """The reported test error and mean-pose baseline, recomputed here from the crops and the checkpoint:
    the arg-max pixel centre of each heatmap against the MediaPipe landmark, mean L2 at 64x64."""
    report = json.loads((handpose_run / "handpose_eval.json").read_text())
    crops = HandCropSet.load(hand_shards, frame_stride=2)
    test = np.array([s == "912" for s in crops.signers])
    truth = crops.keypoints.numpy()
    mean_pose = truth[~test].mean(axis=0)
    baseline = np.linalg.norm(truth[test] - mean_pose, axis=-1).mean()
    assert report["mean_pose_baseline_px"] == pytest.approx(baseline, rel=1e-5)

    net, _ = load_handpose(handpose_run / "last.pt")
    with torch.no_grad():
        logits = net(normalize_crops(crops.images[torch.from_numpy(test)])).numpy()  # (N, 21, 64, 64)
    flat = logits.reshape(*logits.shape[:2], -1).argmax(-1)
    predicted = np.stack([flat % 64 + 0.5, flat // 64 + 0.5], axis=-1)
    error = np.linalg.norm(predicted - truth[test], axis=-1).mean()
    assert report["test"]["crops"] == test.sum()
    assert report["test"]["keypoint_error_px"] == pytest.approx(error, rel=1e-5)


def test_handpose_training_with_the_thesis_recipe(hand_shards, tmp_path):
    config = _write_config(tmp_path / "thesis.yaml", "models/handpose-thesis.yaml", {**HANDPOSE_TINY, "epochs": 1})
    r = CliRunner().invoke(
        app, ["train", "handpose", "--shards", str(hand_shards), "-c", str(config), "-o", str(tmp_path / "run")]
    )
    assert r.exit_code == 0, r.output
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    group = ckpt["optimizer"]["param_groups"][0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["initial_lr"] == pytest.approx(0.1)
    assert ckpt["config"]["loss"] == "sigmoid_mse" and ckpt["config"]["rotate"] == 0
    assert ckpt["config"]["output_prior"] is None  # the thesis's initialisation: no output-bias start
    assert all(np.isfinite(_metrics(tmp_path / "run")["train/loss"]))


def test_siamese_training_lowshot_and_embedding(hand_shards, handpose_run, tmp_path):
    out = tmp_path / "siamese"
    config = _write_config(tmp_path / "siamese.yaml", "models/siamese.yaml", SIAMESE_TINY)
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["train", "siamese", "--shards", str(hand_shards), "-c", str(config), "-o", str(out),
         "--handpose", str(handpose_run / "last.pt")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "heldout_signer: top-1" in r.output
    m = _metrics(out)
    assert all(np.isfinite(m["train/loss"])) and len(m["alpha"]) == 3
    report = json.loads((out / "lowshot.json").read_text())
    assert report["test_signers"] == ["912"] and report["training_classes"] == 2 and report["pos_weight"] == 1.0
    for rule in ("max", "mean"):
        res = report[f"heldout_signer/{rule}"]
        assert res["class_names"] == ["eat", "yes"] and res["chance_top1"] == 0.5
        confusion = np.array(res["confusion"])
        assert confusion.sum() == res["queries"] > 0 and res["samples"] == 2
        assert res["top1"] == pytest.approx(np.trace(confusion) / confusion.sum())  # the confusion's diagonal
    image = cv2.imread(str(out / "confusion_heldout_signer.png"))
    assert image is not None and image.shape[0] > 60

    # frozen encoder: training changed the head only
    model, _, _ = load_siamese(out / "last.pt")
    start = torch.load(handpose_run / "last.pt", weights_only=True)["model"]
    assert torch.equal(model.encoder[1].body[0].weight, start["encoder.1.body.0.weight"])

    r = runner.invoke(
        app, ["embed", "siamese", "--shards", str(hand_shards), "--checkpoint", str(out / "last.pt"),
              "-o", str(tmp_path / "emb.h5")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "emb.h5") as f:
        crops, samples = f["crop_embedding"][:], f["embedding"][:]
        assert crops.shape[1] == samples.shape[1] == 4 and samples.shape[0] == 4
        assert np.allclose(np.linalg.norm(crops, axis=1), 1, atol=1e-5)
        assert np.allclose(np.linalg.norm(samples[f["num_crops"][:] > 0], axis=1), 1, atol=1e-5)
        assert sorted(f["sample_id"].asstr()[:]) == sorted(PAIR_IDS)
        assert set(f["crop_source"][:]) <= {1, 2} and f["crop_sample_id"].shape[0] == crops.shape[0]
        crop_ids, alpha, beta = f["crop_sample_id"].asstr()[:], f.attrs["alpha"], f.attrs["beta"]

    # the embedding learned its training signer's two glosses (eat 90008, yes 90039 by 901): S = 10 prototypes
    # per gloss from that signer's crops, the rest of them (41, every frame) as queries; chance 0.5, 32/41 = 0.78
    # measured; 0.7 is 2.6 binomial sd above chance (a head that learned nothing ties or guesses)
    train = np.isin(crop_ids, ["90008", "90039"])
    labels = torch.from_numpy((crop_ids[train] == "90039").astype(np.int64))
    emb = torch.from_numpy(crops[train])
    protos = choose_prototypes(labels.numpy(), 10, seed=0)
    queries = np.setdiff1d(np.arange(len(labels)), protos)
    clf = PrototypeClassifier(emb[protos], labels[protos], float(alpha), float(beta))
    accuracy = (clf.predict(emb[queries]) == labels[queries]).float().mean().item()
    assert accuracy > 0.7, accuracy


def test_unseen_classes_need_enough_classes(hand_shards, handpose_run, tmp_path):
    cfg = SiameseConfig(**{**SIAMESE_TINY, "holdout_classes": 2})
    with pytest.raises(ValueError, match="only 2 classes"):
        train_siamese(hand_shards, cfg, tmp_path / "x", handpose_checkpoint=handpose_run / "last.pt")


def test_cli_errors(hand_shards, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["train", "siamese", "--shards", str(hand_shards), "-o", str(tmp_path / "s")])
    assert r.exit_code == 2 and "--handpose" in r.output
    bad = _write_config(tmp_path / "bad.yaml", "models/handpose.yaml", {"betas": [0.5, 0.5]})
    r = runner.invoke(app, ["train", "handpose", "--shards", str(hand_shards), "-c", str(bad)])
    assert r.exit_code == 2 and "betas" in r.output
    r = runner.invoke(app, ["train", "handpose", "--shards", str(tmp_path)])
    assert r.exit_code == 2 and "not a shard directory" in r.output
