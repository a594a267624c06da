"""Train the tiny task of tests/training, resuming from OUT/last.pt when it exists; run as a script
by test_training_faults.py, which SIGKILLs it. Usage: train_until_killed.py OUT SECONDS_PER_STEP"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from tiny_training_task import NoisyBlobs, build, step_fn, tiny_config  # noqa: E402

from signprep.training import Trainer  # noqa: E402

# 40 samples / batch 8 = 5 steps per epoch: 40 steps, a checkpoint after every one
CONFIG = tiny_config(epochs=8, checkpoint_every=1)


def train(out: Path, seconds_per_step: float = 0.0) -> Trainer:
    def slow_step(model, batch):
        time.sleep(seconds_per_step)  # room for a kill between, and inside, checkpoint writes
        return step_fn(model, batch)

    model, optimizer, scheduler = build(CONFIG)
    with Trainer(model, optimizer, scheduler, CONFIG, out, slow_step) as trainer:
        if (out / "last.pt").exists():
            trainer.resume(out / "last.pt")
        trainer.fit(NoisyBlobs())
    return trainer


if __name__ == "__main__":
    done = train(Path(sys.argv[1]), float(sys.argv[2]))
    print(f"finished at step {done.step}")
