"""`signprep train siamese` and `signprep embed siamese` (registered in signprep.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail, load_model_config, require_file, require_shard_dir


def train(
    shards: Annotated[Path, typer.Option("--shards", help="Shard directory with hand crops (hand_crops stage).")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Model config YAML.")] = Path("models/siamese.yaml"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (last.pt, metrics.csv, tb/).")] = Path(
        "runs/siamese"
    ),
    handpose: Annotated[
        Path | None, typer.Option("--handpose", help="last.pt of `signprep train handpose` (frozen encoder).")
    ] = None,
    embed_dim: Annotated[int | None, typer.Option("--embed-dim", min=1, help="Override f, the embedding size.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Override the config's epochs.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue from a checkpoint.")] = None,
) -> None:
    """Train the siamese cosine embedding and evaluate the low-shot prototype classifier by signer."""
    from signprep.recipes.siamese import SiameseConfig, train_siamese

    cfg = load_model_config(config, SiameseConfig, epochs=epochs, embed_dim=embed_dim)
    require_shard_dir(shards)
    checkpoint = handpose or (Path(cfg.handpose_checkpoint) if cfg.handpose_checkpoint else None)
    if checkpoint is None:
        raise fail("give --handpose (or `handpose_checkpoint` in the config): the hand-pose network to freeze")
    require_file(checkpoint, "hand-pose checkpoint")
    if resume is not None:
        require_file(resume, "checkpoint")
    try:
        trainer = train_siamese(shards, cfg, out, handpose_checkpoint=checkpoint, resume=resume)
    except ValueError as e:
        raise fail(str(e)) from None
    typer.echo(f"trained {trainer.epoch} epochs ({trainer.step} steps, f={cfg.embed_dim}) -> {out}")
    report = trainer.report or {}
    for key in ("heldout_signer/max", "unseen_classes/max"):
        r = report.get(key)
        if r:
            typer.echo(
                f"  {key.split('/')[0]}: top-1 {r['top1']:.3f}, top-2 {r['top2']:.3f} per crop "
                f"({r['queries']} crops, {len(r['classes'])} classes, chance {r['chance_top1']:.3f})"
            )


def embed(
    shards: Annotated[Path, typer.Option("--shards", help="Shard directory to embed.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="last.pt of a `signprep train siamese` run.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Embeddings file (.h5 or .npz).")] = Path(
        "hand_embeddings.h5"
    ),
) -> None:
    """Write the siamese embedding of every hand crop and of every sample (mean of its crops)."""
    from signprep.recipes.siamese import embed_siamese

    require_shard_dir(shards)
    require_file(checkpoint, "checkpoint")
    try:
        path = embed_siamese(shards, checkpoint, out)
    except ValueError as e:
        raise fail(str(e)) from None
    typer.echo(f"embeddings -> {path}")
