"""`signprep train handpose` (registered in signprep.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail, load_model_config, require_file, require_shard_dir


def train(
    shards: Annotated[Path, typer.Option("--shards", help="Shard directory with hand crops (hand_crops stage).")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Model config YAML.")] = Path("models/handpose.yaml"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (last.pt, metrics.csv, tb/).")] = Path(
        "runs/handpose"
    ),
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Override the config's epochs.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue from a checkpoint.")] = None,
) -> None:
    """Train the hand-pose heatmap network on hand crops (docs/methods.md, "Siamese hand-pose embedding")."""
    from signprep.recipes.handpose import HandPoseConfig, train_handpose

    cfg = load_model_config(config, HandPoseConfig, epochs=epochs)
    require_shard_dir(shards)
    if resume is not None:
        require_file(resume, "checkpoint")
    try:
        trainer = train_handpose(shards, cfg, out, resume=resume)
    except ValueError as e:
        raise fail(str(e)) from None
    typer.echo(
        f"trained {trainer.epoch} epochs ({trainer.step} steps) -> {out}; evaluation: {out / 'handpose_eval.json'}"
    )
