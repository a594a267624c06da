"""Run by test_ddp.py under `torch.distributed.run`: a few DDP steps of the tiny task through Trainer.

Usage: python -m torch.distributed.run --standalone --nproc_per_node=2 ddp_worker.py OUT
Rank 0 trains into OUT/run, the others into OUT/run_rank<r> (which must stay absent: only rank 0
writes); every rank saves its final parameters to OUT/params_rank<r>.pt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from tiny_training_task import NoisyBlobs, build, step_fn, tiny_config

from signprep.training import Trainer


def main(out: Path) -> None:
    cfg = tiny_config(epochs=2, batch_size=4, checkpoint_every=3)
    model, opt, sched = build(cfg)
    rank = int(__import__("os").environ["RANK"])
    with torch.no_grad():  # different initial weights per rank: DDP must broadcast rank 0's
        for p in model.parameters():
            p.add_(rank)
    run_dir = out / ("run" if rank == 0 else f"run_rank{rank}")
    with Trainer(model, opt, sched, cfg, run_dir, step_fn) as trainer:
        assert trainer.dist.world_size == 2 and trainer.dist.rank == rank
        trainer.fit(NoisyBlobs(24))  # 12 samples per rank, 3 batches per epoch: 6 steps
        assert trainer.step == 6
    torch.save({k: v.detach().clone() for k, v in trainer.module.state_dict().items()}, out / f"params_rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
