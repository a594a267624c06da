"""Trainer: exact resume, non-finite stop, logs and checkpoints, the whole run with its final
metrics and metadata read back by load_run (tiny MLP, CPU, a few steps)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_training_task import NoisyBlobs, build, read_losses, step_fn, tiny_config

from signprep.training import NonFiniteLoss, Trainer, epoch_metrics, load_checkpoint, load_run, save_checkpoint
from signprep.training.checkpoint import CheckpointError


def _run(out_dir, config, resume_from=None):
    model, opt, sched = build(config)
    with Trainer(model, opt, sched, config, out_dir, step_fn) as trainer:
        if resume_from is not None:
            trainer.resume(resume_from)
        trainer.fit(NoisyBlobs())
    return trainer


class _Killed(Exception):
    pass


def _kill_after_checkpoint(cfg, out, killed_now) -> None:
    """Train `cfg` into `out` and stop it (as a kill would) right after the first checkpoint at
    which `killed_now(trainer)` holds."""
    model, opt, sched = build(cfg)
    trainer = Trainer(model, opt, sched, cfg, out, step_fn)
    original = trainer.save_checkpoint

    def save_then_stop(name="last.pt"):
        path = original(name)
        if killed_now(trainer):
            raise _Killed
        return path

    trainer.save_checkpoint = save_then_stop
    with pytest.raises(_Killed):
        trainer.fit(NoisyBlobs())
    trainer.close()


def test_resume_reproduces_uninterrupted_run(tmp_path):
    # 40 samples / batch 8 = 5 steps per epoch, 3 epochs = 15 steps; checkpoint every 6 steps
    # lands mid-epoch (step 6 = epoch 1, batch 1) as well as on epoch ends via last.pt
    cfg = tiny_config(epochs=3, checkpoint_every=6)
    full = _run(tmp_path / "full", cfg)
    full_losses = read_losses(tmp_path / "full" / "metrics.csv")
    assert sorted(full_losses) == list(range(1, 16))

    # the same run killed right after its step-6 checkpoint (fewer epochs would change the cosine schedule)
    part = tmp_path / "part"
    _kill_after_checkpoint(cfg, part, lambda trainer: trainer.step == 6)
    ckpt = load_checkpoint(part / "last.pt")
    assert (ckpt["step"], ckpt["epoch"], ckpt["batch_in_epoch"]) == (6, 1, 1)

    resumed = _run(part, cfg, resume_from=part / "last.pt")
    resumed_losses = read_losses(part / "metrics.csv")
    assert resumed_losses == full_losses  # exact float equality, steps 1..15 each logged once
    for name, p in resumed.module.state_dict().items():
        assert torch.equal(p, full.module.state_dict()[name]), name


def test_logs_and_checkpoint_contents(tmp_path):
    cfg = tiny_config(epochs=2, log_every=2, grad_clip=1.0)
    trainer = _run(tmp_path, cfg)
    assert trainer.step == 10 and trainer.epoch == 2
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert (ckpt["step"], ckpt["epoch"], ckpt["batch_in_epoch"]) == (10, 2, 0)
    assert ckpt["config"]["epochs"] == 2
    text = (tmp_path / "metrics.csv").read_text().splitlines()
    assert text[0] == "step,epoch,name,value"
    names = {line.split(",")[2] for line in text[1:]}
    assert {"train/loss", "train/grad_norm", "train/lr"} <= names
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())


def test_non_finite_loss_stops_with_message(tmp_path):
    cfg = tiny_config(epochs=2)

    def exploding(model, batch):
        losses = step_fn(model, batch)
        calls.append(1)
        if len(calls) == 4:
            return {"loss": losses["loss"], "kl": torch.tensor(float("nan"))}
        return {"loss": losses["loss"], "kl": torch.tensor(0.0)}

    calls: list[int] = []
    model, opt, sched = build(cfg)
    trainer = Trainer(model, opt, sched, cfg, tmp_path, exploding)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(NonFiniteLoss) as e:
        # snapshot the weights after step 3 to compare with the checkpoint
        orig_step = trainer._train_step

        def spy(batch):
            if trainer.step == 3:
                good.update({k: v.clone() for k, v in model.state_dict().items()})
            return orig_step(batch)

        trainer._train_step = spy
        trainer.fit(NoisyBlobs())
    trainer.close()
    msg = str(e.value)
    assert "non-finite loss at step 4" in msg and "'kl' = nan" in msg and "epoch 0" in msg
    assert str(tmp_path / "last.pt") in msg
    assert e.value.step == 4 and e.value.name == "kl" and math.isnan(e.value.value)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["step"] == 3
    for k, v in ckpt["model"].items():
        assert torch.equal(v, good[k]), k
    # the checkpoint is usable: a new trainer resumes from it and finishes with a finite loss
    resumed = _run(tmp_path, cfg, resume_from=tmp_path / "last.pt")
    assert resumed.step == 10 and math.isfinite(resumed.last_losses["loss"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_amp_training_resumes_from_its_checkpoint(tmp_path):
    """The real CUDA path: float16 autocast + GradScaler. A run stopped after epoch 2 of 4 and resumed from
    its last.pt (weights, optimizer, schedule, scaler state, RNGs) repeats the uninterrupted run's losses."""
    cfg = tiny_config(epochs=4, device="cuda", amp=True)
    full = _run(tmp_path / "full", cfg)
    assert full.device.type == "cuda" and full.use_amp
    losses = read_losses(tmp_path / "full" / "metrics.csv")
    assert sorted(losses) == list(range(1, 21)) and all(math.isfinite(v) for v in losses.values())
    assert losses[20] < losses[1]

    part = tmp_path / "part"
    _kill_after_checkpoint(cfg, part, lambda trainer: trainer.epoch == 2)
    ckpt = load_checkpoint(part / "last.pt")
    assert (ckpt["step"], ckpt["epoch"]) == (10, 2) and ckpt["scaler"]["scale"] > 0

    resumed = _run(part, cfg, resume_from=part / "last.pt")
    assert resumed.scaler.get_scale() > 0 and resumed.step == 20
    resumed_losses = read_losses(part / "metrics.csv")
    assert sorted(resumed_losses) == list(range(1, 21))  # steps 11-20 come from the resumed run
    # same seeds, same device, restored scaler and RNG: the resumed run repeats the first to float tolerance
    for step, value in losses.items():
        assert resumed_losses[step] == pytest.approx(value, rel=1e-4, abs=1e-5), step


def test_run_resumes_fits_evaluates_and_closes(tmp_path):
    cfg = tiny_config(epochs=2)
    seen_epochs = []

    def on_epoch_end(trainer, epoch):
        seen_epochs.append(epoch)
        return {"eval/top1": 0.25 * (epoch + 1), "eval/chance_top1": 1 / 3}

    def on_fit_end(trainer):
        trainer.report = {"steps": trainer.step}
        return {"final/steps": trainer.step}

    model, opt, sched = build(cfg)
    metadata = {"vocabulary": {"labels": [3, 7, 9], "glosses": ["a", "b", "c"]}, "signers": ["s1"], "k": 3}
    trainer = Trainer(model, opt, sched, cfg, tmp_path, step_fn, on_epoch_end=on_epoch_end, on_fit_end=on_fit_end,
                      metadata=metadata)  # fmt: skip
    assert trainer.run(NoisyBlobs()) is trainer
    assert (trainer.step, trainer.epoch, seen_epochs) == (10, 2, [0, 1])
    # the last epoch's metrics plus the end-of-run evaluation
    assert trainer.final_metrics == {
        "eval/top1": 0.5,
        "eval/chance_top1": 1 / 3,
        "final/steps": 10.0,
    }
    assert trainer.report == {"steps": 10}
    assert trainer._csv_file is None and trainer._writer is None  # closed

    run = load_run(tmp_path / "last.pt", metadata_keys=("vocabulary", "signers"))
    assert run.metadata == metadata and run.config == cfg.model_dump(mode="json")
    for name, tensor in model.state_dict().items():
        assert torch.equal(run.model[name], tensor), name

    # resuming a finished run trains nothing and evaluates again
    model, opt, sched = build(cfg)
    again = Trainer(model, opt, sched, cfg, tmp_path, step_fn, on_epoch_end=on_epoch_end, on_fit_end=on_fit_end)
    again.run(NoisyBlobs(), resume=tmp_path / "last.pt")
    assert again.step == 10 and seen_epochs == [0, 1] and again.final_metrics == {"final/steps": 10.0}


def test_run_closes_the_logs_when_training_fails(tmp_path):
    cfg = tiny_config(epochs=1, log_every=1)
    calls = []

    def failing(model, batch):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return step_fn(model, batch)

    model, opt, sched = build(cfg)
    trainer = Trainer(model, opt, sched, cfg, tmp_path, failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        trainer.run(NoisyBlobs())
    assert trainer._csv_file is None and trainer._writer is None
    assert sorted(read_losses(tmp_path / "metrics.csv")) == [1, 2]  # the two steps before the failure, flushed


def test_metadata_must_be_plain_values(tmp_path):
    cfg = tiny_config()
    model, opt, sched = build(cfg)
    with pytest.raises(TypeError, match=r"metadata\['vocabulary'\]\['labels'\]\[1\] is a numpy.int64"):
        Trainer(model, opt, sched, cfg, tmp_path, step_fn, metadata={"vocabulary": {"labels": [1, np.int64(2)]}})
    assert not (tmp_path / "last.pt").exists()


def test_load_run_names_the_file_and_what_it_lacks(tmp_path):
    cfg = tiny_config(epochs=1)
    model, opt, sched = build(cfg)
    Trainer(model, opt, sched, cfg, tmp_path / "run", step_fn, metadata={"signers": ["s1"]}).run(NoisyBlobs())
    with pytest.raises(CheckpointError, match=r"run/last.pt lacks the run metadata vocabulary"):
        load_run(tmp_path / "run" / "last.pt", metadata_keys=("vocabulary", "signers"))
    save_checkpoint(tmp_path / "weights.pt", {"w": torch.zeros(2)})
    with pytest.raises(CheckpointError, match=r"weights.pt is not a signprep training checkpoint"):
        load_run(tmp_path / "weights.pt")


def test_epoch_metrics_reads_each_epochs_evaluations_from_metrics_csv(tmp_path: Path):
    (tmp_path / "metrics.csv").write_text(
        "step,epoch,name,value\n"
        "2,1,train/loss,0.9\n"
        "2,1,eval_test/top1,0.25\n"
        "4,2,eval_test/top1,0.5\n"
        "4,2,eval_train/top1,0.75\n"
        "4,2,eval_test/top1,0.625\n"  # logged again in the epoch: the last value stands
    )
    assert epoch_metrics(tmp_path) == {
        1: {"eval_test/top1": 0.25},
        2: {"eval_test/top1": 0.625, "eval_train/top1": 0.75},
    }
    assert epoch_metrics(tmp_path, prefix="train/") == {1: {"train/loss": 0.9}}
