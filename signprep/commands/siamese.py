"""`signprep train siamese` and `signprep embed siamese`."""

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

LOWSHOT_SHOWN = ("heldout_signer/max", "unseen_classes/max")  # the report's entries printed at the end


def train(
    ctx: typer.Context,
    shards: ShardsArg = None,
    config: Annotated[str, config_option("siamese")] = "siamese",
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (last.pt, metrics.csv, tb/).")] = Path(
        "runs/siamese"
    ),
    handpose: Annotated[
        Path | None, typer.Option("--handpose", help="last.pt of `signprep train handpose` (frozen encoder).")
    ] = None,
    embed_dim: Annotated[int | None, typer.Option("--embed-dim", min=1, help="Override f, the embedding size.")] = None,
    epochs: EpochsOpt = None,
    resume: ResumeOpt = None,
    shards_alias: ShardsAlias = None,
) -> None:
    """Train the siamese hand embedding (low-shot test by signer).

    A unit-norm cosine embedding on the frozen hand-pose encoder, then the low-shot prototype
    classifier on held-out signers (top-1/2 beside chance). SHARDS must hold hand crops.
    """
    from signprep.recipes.siamese import SiameseConfig, train_siamese

    shards = shard_dir(shards, shards_alias)
    cfg = load_model_config(config, SiameseConfig, quiet=is_quiet(ctx), epochs=epochs, embed_dim=embed_dim)
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
    if not trainer.is_main:
        return
    typer.echo(f"trained {trainer.epoch} epochs ({trainer.step} steps, f={cfg.embed_dim}) -> {out}")
    report = trainer.report or {}
    for key in LOWSHOT_SHOWN:
        r = report.get(key)
        if r:
            typer.echo(
                f"  {key.split('/')[0]}: top-1 {r['top1']:.3f}, top-2 {r['top2']:.3f} per crop "
                f"({r['queries']} crops, {len(r['classes'])} classes, chance {r['chance_top1']:.3f})"
            )
    print_final_metrics(trainer)


def embed(
    shards: ShardsArg = None,
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="last.pt of a `signprep train siamese` run.")] = ...,
    out: Annotated[Path, typer.Option("--out", "-o", help="Embeddings file (.h5 or .npz).")] = Path(
        "hand_embeddings.h5"
    ),
    shards_alias: ShardsAlias = None,
) -> None:
    """Write the siamese embedding of every hand crop and sample.

    A sample's embedding is the mean of its crops'; HDF5 (.h5) or numpy (.npz) by the suffix of --out.
    """
    from signprep.recipes.siamese import embed_siamese

    shards = shard_dir(shards, shards_alias)
    require_shard_dir(shards)
    require_file(checkpoint, "checkpoint")
    try:
        path = embed_siamese(shards, checkpoint, out)
    except ValueError as e:
        raise fail(str(e)) from None
    typer.echo(f"embeddings -> {path}")
