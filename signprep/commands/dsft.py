"""`signprep train dsft` and `signprep embed dsft` (registered in signprep.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import load_model_config, require_file, require_shard_dir


def train(
    shards: Annotated[Path, typer.Option("--shards", help="Shard directory (train and test splits).")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Model config YAML.")] = Path("models/dsft.yaml"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (last.pt, metrics.csv, tb/).")] = Path(
        "runs/dsft"
    ),
    dsft: Annotated[bool, typer.Option("--dsft/--no-dsft", help="--no-dsft: the same model without H.")] = True,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Override the config's epochs.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue from a checkpoint.")] = None,
) -> None:
    """Train visual encoder + DSFT + classifier (docs/methods.md, "Domain-sum feature transformation")."""
    from signprep.recipes.dsft import DSFTConfig, train_dsft

    cfg = load_model_config(config, DSFTConfig, epochs=epochs)
    require_shard_dir(shards)
    if resume is not None:
        require_file(resume, "checkpoint")
    trainer = train_dsft(shards, cfg, out, use_dsft=dsft, resume=resume)
    if trainer.is_main:  # under torchrun, one line, not one per rank
        typer.echo(f"trained {trainer.epoch} epochs ({trainer.step} steps, dsft={'on' if dsft else 'off'}) -> {out}")


def embed(
    shards: Annotated[Path, typer.Option("--shards", help="Shard directory to embed.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="last.pt of a `signprep train dsft` run.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Features file (.h5 or .npz).")] = Path("features.h5"),
) -> None:
    """Write the DSFT-transformed features (sample_id, label, split, features) of every sample."""
    from signprep.recipes.dsft import embed_dsft

    require_shard_dir(shards)
    require_file(checkpoint, "checkpoint")
    path = embed_dsft(shards, checkpoint, out)
    typer.echo(f"features -> {path}")
