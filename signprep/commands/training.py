"""What the `train <model>` and `embed <model>` commands share: the model config by name, the common
options, and the final evaluation metrics printed at the end of every training run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from typer.models import OptionInfo

from signprep.commands import fail
from signprep.configs import MODEL_CONFIGS

EpochsOpt = Annotated[int | None, typer.Option("--epochs", min=1, help="Override the config's epochs.")]
ResumeOpt = Annotated[Path | None, typer.Option("--resume", help="Continue from a checkpoint (last.pt of a run).")]


def config_option(model: str) -> OptionInfo:
    """`--config/-c`: a YAML path, or a shipped config's name; completion offers the shipped `<model>*` names."""
    return typer.Option(
        "--config",
        "-c",
        help=f"Model config: a YAML file, or a shipped name ({', '.join(MODEL_CONFIGS.names(model))}).",
        autocompletion=lambda incomplete: MODEL_CONFIGS.complete(incomplete, prefix=model),
    )


C = TypeVar("C")


def load_model_config(name_or_path: str, cls: type[C], *, quiet: bool = False, **overrides) -> C:
    """Find (a path wins, else a shipped name), read and validate a model config as `cls`, exit 2 with the
    config error; then apply the command-line overrides that are not None (e.g. `epochs`). `quiet` turns
    the training progress bars off."""
    from signprep.configs import ConfigError
    from signprep.training import load_train_config

    try:
        cfg = load_train_config(MODEL_CONFIGS.find(name_or_path), cls)
    except ConfigError as e:
        raise fail(str(e)) from None
    given = {k: v for k, v in overrides.items() if v is not None}
    if quiet:
        given["progress"] = False
    return cfg.model_copy(update=given) if given else cfg


def _is_chance(name: str) -> bool:
    return name.startswith("chance_") or name.rpartition("/")[2].startswith("chance_")


def chance_key(name: str, metrics: Mapping[str, float]) -> str | None:
    """The entry of `metrics` holding the chance level of metric `name`, if any:
    `<split>/chance_<metric>`, `chance_<name>` or `chance_<metric>` (`eval_test/top1` -> `chance_top1`)."""
    split, _, leaf = name.rpartition("/")
    candidates = [f"{split}/chance_{leaf}"] if split else []
    candidates += [f"chance_{name}", f"chance_{leaf}"]
    return next((c for c in candidates if c in metrics), None)


def final_metric_lines(metrics: Mapping[str, float]) -> list[str]:
    """One line per final evaluation metric, in the order given, with its chance level beside it where
    the metrics give one; a chance entry that belongs to no metric gets its own line."""
    lines, used = [], set()
    for name, value in metrics.items():
        if _is_chance(name):
            continue
        key = chance_key(name, metrics)
        if key is None:
            lines.append(f"  {name}: {value:.4g}")
        else:
            used.add(key)
            lines.append(f"  {name}: {value:.4g} (chance {metrics[key]:.4g})")
    lines += [f"  {name}: {metrics[name]:.4g}" for name in metrics if _is_chance(name) and name not in used]
    return lines


def print_final_metrics(trainer) -> None:
    """Print `trainer.final_metrics` (the last evaluation, name -> value) under a heading; nothing if empty."""
    metrics = getattr(trainer, "final_metrics", None) or {}
    if metrics:
        typer.echo(f"final evaluation (epoch {trainer.epoch}):")
        for line in final_metric_lines(metrics):
            typer.echo(line)
