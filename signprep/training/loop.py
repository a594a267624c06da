"""The training loop every `signprep train <model>` runs.

A recipe supplies a model, an optimizer, a scheduler (stepped once per epoch)
and `step_fn(model, batch) -> {"loss": scalar, ...other scalars}`, optionally
`on_epoch_end` / `on_fit_end` evaluation hooks and the run's `metadata`, then
calls `Trainer.run(dataset, resume=...)`: set-up, resume, fit, end-of-run
evaluation, close. `Trainer` does the rest: device placement, AMP on CUDA,
gradient clipping, a stop with a clear message on a non-finite loss, metrics
(`metrics.csv`, TensorBoard under `tb/`), checkpoints (`last.pt`, holding the
config and the metadata too: `signprep.training.checkpoint.load_run`), exact
resume and torchrun/DDP.

Counting: `step` is the number of optimizer updates done (the first update is
step 1); `epoch` is 0-based; `batch_in_epoch` is how many batches of the
current epoch are done. A checkpoint records all three, so a resumed run skips
exactly the batches already trained and continues bitwise-identically on CPU.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from signprep.atomic import atomic_write_text
from signprep.training.checkpoint import check_plain, load_checkpoint, save_checkpoint
from signprep.training.config import TrainConfig
from signprep.training.distributed import init_distributed
from signprep.training.seeding import get_rng_state, seed_everything, set_rng_state

__all__ = ["NonFiniteLoss", "StepFn", "Trainer", "move_to_device"]

log = logging.getLogger(__name__)

StepFn = Callable[[nn.Module, Any], Mapping[str, torch.Tensor]]
EpochEndFn = Callable[["Trainer", int], Mapping[str, float] | None]
FitEndFn = Callable[["Trainer"], Mapping[str, float] | None]

CHECKPOINT_FORMAT = 1
CSV_FIELDS = ("step", "epoch", "name", "value")
FINAL_METRICS_FILE = "final_metrics.json"  # name -> value: the final evaluation, as the train command prints it


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; training stopped before applying that step."""

    def __init__(self, message: str, *, step: int, epoch: int, name: str, value: float, checkpoint: Path | None):
        super().__init__(message)
        self.step, self.epoch, self.name, self.value, self.checkpoint = step, epoch, name, value, checkpoint


def epoch_metrics(run_dir: str | Path, prefix: str = "eval_") -> dict[int, dict[str, float]]:
    """{epoch: {name: value}} of the rows of a run's metrics.csv whose name starts with `prefix`
    (the per-epoch evaluations by default); a name logged twice in an epoch keeps its last value."""
    rows: dict[int, dict[str, float]] = {}
    with (Path(run_dir) / "metrics.csv").open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["name"].startswith(prefix):
                rows.setdefault(int(r["epoch"]), {})[r["name"]] = float(r["value"])
    return rows


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Tensors inside (nested) dicts, lists and tuples moved to `device`; anything else unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


class Trainer:
    """Runs `config.epochs` epochs of `step_fn` over a dataset; see the module docstring.

    Under torchrun (`WORLD_SIZE` > 1) the constructor joins the process group
    (gloo on CPU, NCCL on CUDA) and wraps `model` in DistributedDataParallel;
    only rank 0 writes files. Each process is seeded with `config.seed + rank`
    here, after the model was built: seed before building it (`seed_everything`)
    for a reproducible initialisation; under DDP rank 0's weights are broadcast.

    Hooks: `on_epoch_end(trainer, epoch)` returns the epoch's evaluation metrics
    (logged at the step that ended the epoch); `on_fit_end(trainer)`, called by
    `run` after the last epoch on every rank, returns the end-of-run evaluation
    (not logged by the trainer) and may set `trainer.report`. `metadata`: what a
    loader needs besides the weights and the config (vocabulary, signers, ...),
    plain values only (`check_plain`), stored in every checkpoint.

    After `run`, `final_metrics` (name -> float) holds what `on_epoch_end` returned
    at the last epoch updated with what `on_fit_end` returned; rank 0 also writes it to
    `out_dir/final_metrics.json` at the end of `run`. An accuracy's chance
    level is named like it with `chance_` before its last part (`eval_test/top1`,
    `eval_test/chance_top1`).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        config: TrainConfig,
        out_dir: str | Path,
        step_fn: StepFn,
        *,
        on_epoch_end: EpochEndFn | None = None,
        on_fit_end: FitEndFn | None = None,
        metadata: Mapping[str, Any] | None = None,
    ):
        self.config = config
        self.out_dir = Path(out_dir)
        self.step_fn = step_fn
        self.on_epoch_end = on_epoch_end
        self.on_fit_end = on_fit_end
        self.metadata = dict(metadata or {})
        check_plain(self.metadata)  # refused now, not when the first checkpoint is read back
        self.final_metrics: dict[str, float] = {}
        self.report: Any = None  # the recipe's end-of-run report, set by its on_fit_end (rank 0)
        self.dist, self.device = init_distributed(config.device)
        seed_everything(config.seed + self.dist.rank)

        self.module = model.to(self.device)  # in place: the optimizer keeps its parameter references
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model: nn.Module = DistributedDataParallel(self.module, device_ids=ids)
        else:
            self.model = self.module
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.use_amp = config.amp and self.device.type == "cuda"  # CPU autocast buys nothing for these models
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.last_losses: dict[str, float] = {}
        self._window_sums: dict[str, float] = {}  # losses summed since the last log row
        self._window_count = 0
        self._writer = None
        self._csv_file = None
        self._csv = None
        self._purge_step: int | None = None
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ public API
    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def run(
        self,
        dataset: Dataset,
        *,
        resume: str | Path | None = None,
        collate_fn: Callable | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
    ) -> Trainer:
        """The whole run: resume from `resume` (a checkpoint) if given, `fit`, `on_fit_end`, then close the
        logs whatever happened. Returns this trainer (`final_metrics`, `report`, `epoch`, `step`)."""
        try:
            if resume is not None:
                self.resume(resume)
            self.fit(dataset, collate_fn=collate_fn, shuffle=shuffle, drop_last=drop_last)
            if self.on_fit_end is not None:
                self.final_metrics.update({k: float(v) for k, v in (self.on_fit_end(self) or {}).items()})
            if self.is_main:  # for scripts: what the train command prints at the end
                atomic_write_text(self.out_dir / FINAL_METRICS_FILE, json.dumps(self.final_metrics, indent=1) + "\n")
        finally:
            self.close()
        return self

    def fit(
        self, dataset: Dataset, *, collate_fn: Callable | None = None, shuffle: bool = True, drop_last: bool = False
    ):
        """Train from the current position (0, or where `resume` left off) to the end of `config.epochs`."""
        cfg = self.config
        try:
            while self.epoch < cfg.epochs:
                loader, total = self._epoch_loader(dataset, collate_fn, shuffle, drop_last)
                self.model.train()
                bar = tqdm(
                    total=total,
                    initial=self.batch_in_epoch,
                    desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
                    disable=not (cfg.progress and self.is_main),
                    dynamic_ncols=True,
                )
                for batch in loader:
                    losses = self._train_step(batch)
                    self.step += 1
                    self.batch_in_epoch += 1
                    self._accumulate(losses)
                    if self.step % cfg.log_every == 0:
                        self._log_window()
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                        self.save_checkpoint()
                    bar.update(1)
                    bar.set_postfix(loss=f"{losses['loss']:.4g}")
                bar.close()
                self._end_epoch()
        finally:
            self._flush()

    def resume(self, path: str | Path) -> None:
        """Continue from a checkpoint written by this class: weights, optimizer, schedule, counters, RNGs."""
        ckpt = load_checkpoint(path)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: not a signprep training checkpoint (format {ckpt.get('format')!r})")
        self.module.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt["scheduler"] is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step, self.epoch, self.batch_in_epoch = ckpt["step"], ckpt["epoch"], ckpt["batch_in_epoch"]
        self._window_sums = dict(ckpt["log_window"]["sums"])
        self._window_count = ckpt["log_window"]["count"]
        rng = ckpt["rng"]
        if len(rng) != self.dist.world_size:
            log.warning(
                "%s was written by %d processes, this run has %d: data order and RNG streams differ from the "
                "original run from here on",
                path,
                len(rng),
                self.dist.world_size,
            )
        set_rng_state(rng[self.dist.rank % len(rng)])
        if self.is_main:
            self._truncate_csv(self.step)
            self._purge_step = self.step + 1  # TensorBoard drops events logged after the checkpoint
        log.info("resumed from %s at step %d (epoch %d, batch %d)", path, self.step, self.epoch, self.batch_in_epoch)

    def state_dict(self) -> dict:
        """Everything `resume` needs, as tensors and plain containers only (`weights_only` loadable)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "log_window": {"sums": dict(self._window_sums), "count": self._window_count},
            "rng": self._gather_rng_states(),
            "config": self.config.model_dump(mode="json"),
            "metadata": self.metadata,
        }

    def save_checkpoint(self, name: str = "last.pt") -> Path:
        """Write `out_dir/name` (rank 0 only; every rank must call this: RNG states are gathered)."""
        state = self.state_dict()
        path = self.out_dir / name
        if self.is_main:
            save_checkpoint(path, state)
        return path

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Write named scalars at the current step to metrics.csv and TensorBoard (rank 0 only)."""
        if not self.is_main or not metrics:
            return
        self._open_logs()
        for name, value in metrics.items():
            self._csv.writerow({"step": self.step, "epoch": self.epoch, "name": name, "value": float(value)})
            self._writer.add_scalar(name, float(value), self.step)
        self._csv_file.flush()

    def close(self) -> None:
        """Close the log files (the process group, if any, is left to the caller)."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file = self._csv = None

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ one step
    def _train_step(self, batch: Any) -> dict[str, float]:
        batch = move_to_device(batch, self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp):
            losses = self.step_fn(self.model, batch)
        if "loss" not in losses:
            raise KeyError(f"step_fn must return a dict with a 'loss' entry, got keys {sorted(losses)}")
        names = list(losses)
        values = torch.stack([losses[n].detach().float().reshape(()) for n in names])
        bad = (~torch.isfinite(values)).any()
        if self.dist.enabled:
            # every rank must stop together, or the others would hang in the next all-reduce
            flag = bad.to(torch.int32)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            bad = flag.bool()
        host_values = values.tolist()  # the one device->host sync per step
        if bool(bad):
            self._stop_non_finite(names, host_values)

        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        result = dict(zip(names, host_values))
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the loss-scaled ones
            norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.config.grad_clip)
            result["grad_norm"] = float(norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.last_losses = result
        return result

    def _stop_non_finite(self, names: list[str], values: list[float]) -> None:
        bad = [(n, v) for n, v in zip(names, values) if not math.isfinite(v)]
        where = f"step {self.step + 1} (epoch {self.epoch}, batch {self.batch_in_epoch}, 0-based)"
        if bad:
            name, value = bad[0]
            what = ", ".join(f"{n!r} = {v}" for n, v in bad)
            msg = f"non-finite loss at {where} on rank {self.dist.rank}: {what}"
        else:
            name, value = "?", float("nan")
            msg = f"non-finite loss at {where} on another rank"
        self._flush()
        path = self.save_checkpoint()  # weights are still those after the last good step
        msg += f"; training stopped, the state after step {self.step} is in {path}"
        if self.is_main:
            log.error(msg)
        raise NonFiniteLoss(msg, step=self.step + 1, epoch=self.epoch, name=name, value=value, checkpoint=path)

    # ------------------------------------------------------------------ epochs and data
    def _epoch_loader(self, dataset: Dataset, collate_fn, shuffle: bool, drop_last: bool) -> tuple[DataLoader, int]:
        """This rank's loader for `self.epoch`, skipping the batches already trained in it.

        The order depends only on (seed, epoch, rank), never on the global RNG, so
        a resumed run sees the same batches. Worker processes get seeds from a
        per-epoch generator; random augmentation inside workers is still not
        reproduced exactly after a mid-epoch resume (the skipped samples shift
        which worker loads what), whereas with `num_workers: 0` it is.
        """
        cfg = self.config
        sampler = DistributedSampler(
            dataset, num_replicas=self.dist.world_size, rank=self.dist.rank, shuffle=shuffle, seed=cfg.seed
        )
        sampler.set_epoch(self.epoch)
        if hasattr(dataset, "set_epoch"):
            # seeded augmentation depends on the epoch (ShardDataset): set here, not by the trainer at the
            # end of an epoch, so a run resumed at epoch e augments exactly as the uninterrupted run did
            dataset.set_epoch(self.epoch)
        n = len(sampler)
        total = n // cfg.batch_size if drop_last else math.ceil(n / cfg.batch_size)
        indices = list(sampler)[self.batch_in_epoch * cfg.batch_size :]
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.epoch * 1009 + self.dist.rank)
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            sampler=indices,
            num_workers=cfg.num_workers,
            collate_fn=collate_fn,
            pin_memory=self.device.type == "cuda",
            drop_last=drop_last,
            generator=generator,  # without it, creating the iterator would draw from the global torch RNG
        )
        return loader, total

    def _end_epoch(self) -> None:
        self._log_window()
        if self.scheduler is not None:
            self.scheduler.step()
        extra = self.on_epoch_end(self, self.epoch) if self.on_epoch_end is not None else None
        self.final_metrics = {k: float(v) for k, v in (extra or {}).items()}
        self.log_metrics(self.final_metrics)  # at the step that ended the epoch; lr is in the step rows
        self.epoch += 1
        self.batch_in_epoch = 0
        self.save_checkpoint()

    # ------------------------------------------------------------------ logging
    def _accumulate(self, losses: Mapping[str, float]) -> None:
        for k, v in losses.items():
            self._window_sums[k] = self._window_sums.get(k, 0.0) + v
        self._window_count += 1

    def _log_window(self) -> None:
        """Mean of each loss over the steps since the last row (and over ranks under DDP)."""
        if self._window_count == 0:
            return
        names = sorted(self._window_sums)
        sums = [self._window_sums[n] for n in names]
        count = self._window_count
        if self.dist.enabled:
            t = torch.tensor([*sums, float(count)], dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            *sums, count = t.tolist()
        self._window_sums, self._window_count = {}, 0
        means = {f"train/{n}": s / count for n, s in zip(names, sums)}
        self.log_metrics({**means, "train/lr": self.optimizer.param_groups[0]["lr"]})

    def _open_logs(self) -> None:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # needs the `tensorboard` package

            self._writer = SummaryWriter(str(self.out_dir / "tb"), purge_step=self._purge_step)
        if self._csv is None:
            path = self.out_dir / "metrics.csv"
            new = not path.exists() or path.stat().st_size == 0
            self._csv_file = path.open("a", newline="", encoding="utf-8")
            self._csv = csv.DictWriter(self._csv_file, fieldnames=CSV_FIELDS)
            if new:
                self._csv.writeheader()

    def _truncate_csv(self, step: int) -> None:
        """Drop rows logged after `step` by the interrupted run, so resumed rows are not duplicated."""
        path = self.out_dir / "metrics.csv"
        if not path.exists():
            return
        with path.open(newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, text.getvalue())

    def _flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()
        if self._csv_file is not None:
            self._csv_file.flush()

    def _gather_rng_states(self) -> list[dict]:
        state = get_rng_state()
        if not self.dist.enabled:
            return [state]
        states: list[Any] = [None] * self.dist.world_size
        dist.all_gather_object(states, state)
        return states
