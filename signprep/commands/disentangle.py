"""`signprep train disentangle` and `signprep embed disentangle` (registered in signprep.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail, load_model_config, require_file, require_shard_dir


def train(
    shards: Annotated[Path, typer.Option("--shards", help="Shard directory with background-removed frames.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Model config YAML.")] = Path(
        "models/disentangle.yaml"
    ),
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run directory (last.pt, metrics.csv, tb/, report, image grid).")
    ] = Path("runs/disentangle"),
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Override the config's epochs.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue from a checkpoint.")] = None,
) -> None:
    """Train appearance/sign disentangled encoders (docs/methods.md, "Disentangled encoders"), then print
    the disentanglement report and save reconstructions and swaps as an image grid."""
    from signprep.recipes.disentangle import DisentangleConfig, train_disentangle

    cfg = load_model_config(config, DisentangleConfig, epochs=epochs)
    require_shard_dir(shards)
    if resume is not None:
        require_file(resume, "checkpoint")
    try:
        trainer = train_disentangle(shards, cfg, out, resume=resume)
    except ValueError as e:
        raise fail(str(e)) from None
    typer.echo(f"trained {trainer.epoch} epochs ({trainer.step} steps) -> {out}")
    if trainer.report is not None:
        typer.echo(trainer.report.render())


def embed(
    shards: Annotated[Path, typer.Option("--shards", help="Shard directory to embed.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="last.pt of a `signprep train disentangle` run.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Codes file (.h5 or .npz).")] = Path("codes.h5"),
    average: Annotated[
        bool, typer.Option("--average", help="Only the per-sample averages, not the per-frame sequences.")
    ] = False,
) -> None:
    """Write f_a and f_g per frame (or averaged) and the temporal sign feature of every sample."""
    from signprep.recipes.disentangle import embed_disentangle

    require_shard_dir(shards)
    require_file(checkpoint, "checkpoint")
    try:
        path = embed_disentangle(shards, checkpoint, out, sequences=not average)
    except (ValueError, KeyError) as e:
        raise fail(str(e)) from None
    typer.echo(f"codes -> {path}")
