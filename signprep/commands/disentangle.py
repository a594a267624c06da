"""`signprep train disentangle` and `signprep embed disentangle`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail, is_quiet, require_file, require_shard_dir
from signprep.commands.options import ShardsAlias, ShardsArg, shard_dir
from signprep.commands.training import (
    EpochsOpt,
    ResumeOpt,
    config_option,
    load_model_config,
    print_final_metrics,
)


def train(
    ctx: typer.Context,
    shards: ShardsArg = None,
    config: Annotated[str, config_option("disentangle")] = "disentangle",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run directory (last.pt, metrics.csv, tb/, report, image grid).")
    ] = Path("runs/disentangle"),
    epochs: EpochsOpt = None,
    resume: ResumeOpt = None,
    shards_alias: ShardsAlias = None,
) -> None:
    """Train appearance/sign disentangled encoders.

    docs/methods.md, "Disentangled encoders". SHARDS must hold background-removed frames (the
    disentangle pipeline). Ends with the disentanglement report (linear probes beside chance) and
    OUT/reconstructions.png.
    """
    from signprep.recipes.disentangle import DisentangleConfig, train_disentangle

    shards = shard_dir(shards, shards_alias)
    cfg = load_model_config(config, DisentangleConfig, quiet=is_quiet(ctx), epochs=epochs)
    require_shard_dir(shards)
    if resume is not None:
        require_file(resume, "checkpoint")
    try:
        trainer = train_disentangle(shards, cfg, out, resume=resume)
    except ValueError as e:
        raise fail(str(e)) from None
    if not trainer.is_main:
        return
    typer.echo(f"trained {trainer.epoch} epochs ({trainer.step} steps) -> {out}")
    if trainer.report is not None:
        typer.echo(trainer.report.render())
    print_final_metrics(trainer)


def embed(
    shards: ShardsArg = None,
    checkpoint: Annotated[
        Path, typer.Option("--checkpoint", help="last.pt of a `signprep train disentangle` run.")
    ] = ...,
    out: Annotated[Path, typer.Option("--out", "-o", help="Codes file (.h5 or .npz).")] = Path("codes.h5"),
    average: Annotated[
        bool, typer.Option("--average", help="Only the per-sample averages, not the per-frame sequences.")
    ] = False,
    shards_alias: ShardsAlias = None,
) -> None:
    """Write the appearance and sign codes of every sample.

    f_a and f_g per frame (or averaged, --average) and the temporal sign feature.
    """
    from signprep.recipes.disentangle import embed_disentangle

    shards = shard_dir(shards, shards_alias)
    require_shard_dir(shards)
    require_file(checkpoint, "checkpoint")
    try:
        path = embed_disentangle(shards, checkpoint, out, sequences=not average)
    except (ValueError, KeyError) as e:
        raise fail(str(e)) from None
    typer.echo(f"codes -> {path}")
