"""Training faults (issue #9, item 5). A non-finite loss stopping with a clear message and a
usable last checkpoint is tests/training/test_trainer.py::test_non_finite_loss_stops_with_message;
resume after an in-process stop is ::test_resume_reproduces_uninterrupted_run. Here the run is
a real process, SIGKILLed at random moments, checkpoint writes included."""

from __future__ import annotations

import csv
import random
import sys
import time
from pathlib import Path

import pytest
import torch
from hardening_processes import kill_group, start
from train_until_killed import CONFIG, train

from signprep.training import load_checkpoint

SCRIPT = Path(__file__).with_name("train_until_killed.py")
STEPS = 40


def _loss_rows(out: Path) -> list[tuple[int, float]]:
    with open(out / "metrics.csv", newline="") as f:
        return [(int(r["step"]), float(r["value"])) for r in csv.DictReader(f) if r["name"] == "train/loss"]


@pytest.mark.slow
def test_sigkilled_training_resumes_exactly(tmp_path: Path):
    reference = train(tmp_path / "reference")
    assert reference.step == STEPS and CONFIG.checkpoint_every == 1
    out = tmp_path / "killed"
    rng = random.Random(5)
    kills = []
    for attempt in range(2):
        before = (out / "last.pt").stat().st_mtime_ns if (out / "last.pt").exists() else None
        proc = start([sys.executable, str(SCRIPT), str(out), "0.03"], tmp_path / f"train{attempt}.log")
        try:
            deadline = time.monotonic() + 120
            # wait for a checkpoint of this run, then kill at a random moment of the next ~8 steps
            while proc.poll() is None:
                now = (out / "last.pt").stat().st_mtime_ns if (out / "last.pt").exists() else None
                if now is not None and now != before:
                    break
                assert time.monotonic() < deadline, (tmp_path / f"train{attempt}.log").read_text()
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.25))
            log = (tmp_path / f"train{attempt}.log").read_text
            assert proc.poll() is None, "training finished before the kill: " + log()
            kill_group(proc)
        finally:
            if proc.poll() is None:
                kill_group(proc)
        kills.append(load_checkpoint(out / "last.pt")["step"])  # a kill mid-write leaves the previous one
    assert kills == sorted(kills) and kills[-1] < STEPS, kills
    print("checkpoint step after each kill:", kills)

    done = train(out)  # the last run, to the end, in this process
    assert done.step == STEPS
    rows = _loss_rows(out)
    assert [s for s, _ in rows] == list(range(1, STEPS + 1)), "every step logged exactly once"
    assert rows == _loss_rows(tmp_path / "reference")  # exact float equality
    final, expected = load_checkpoint(out / "last.pt"), load_checkpoint(tmp_path / "reference" / "last.pt")
    for name, tensor in expected["model"].items():
        assert torch.equal(final["model"][name], tensor), name
    assert not list(out.glob("*.tmp"))  # a checkpoint write cut by a kill left no temp file behind
