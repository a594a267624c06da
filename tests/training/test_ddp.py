"""Trainer under torchrun: 2 CPU processes (gloo) end with identical parameters; only rank 0 writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from tiny_training_task import read_losses

from signprep.training import load_checkpoint

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_two_process_ddp_on_cpu(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(WORKER.parent)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER)]
    proc = subprocess.run([*cmd, str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    p0 = torch.load(tmp_path / "params_rank0.pt", weights_only=True)
    p1 = torch.load(tmp_path / "params_rank1.pt", weights_only=True)
    assert p0.keys() == p1.keys()
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k

    assert not (tmp_path / "run_rank1").exists()  # rank 1 wrote no logs or checkpoints
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["step"] == 6 and len(ckpt["rng"]) == 2  # both ranks' RNG states, for an exact resume
    for k in p0:
        assert torch.equal(ckpt["model"][k], p0[k]), k
    assert sorted(read_losses(tmp_path / "run" / "metrics.csv")) == list(range(1, 7))
