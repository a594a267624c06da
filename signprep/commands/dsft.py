"""`signprep train dsft` and `signprep embed dsft`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import is_quiet, require_file, require_shard_dir
from signprep.commands.options import ShardsAlias, ShardsArg, shard_dir
from signprep.commands.training import EpochsOpt, ResumeOpt, config_option, load_model_config, print_final_metrics


def train(
    ctx: typer.Context,
    shards: ShardsArg = None,
    config: Annotated[str, config_option("dsft")] = "dsft",
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (last.pt, metrics.csv, tb/).")] = Path(
        "runs/dsft"
    ),
    dsft: Annotated[bool, typer.Option("--dsft/--no-dsft", help="--no-dsft: the same model without H.")] = True,
    epochs: EpochsOpt = None,
    resume: ResumeOpt = None,
    shards_alias: ShardsAlias = None,
) -> None:
    """Train visual encoder + DSFT + classifier on keypoint shards.

    docs/methods.md, "Domain-sum feature transformation". Trains on the train split, evaluates every
    epoch on the config's eval_splits and prints the last evaluation at the end.
    """
    from signprep.recipes.dsft import DSFTConfig, train_dsft

    shards = shard_dir(shards, shards_alias)
    cfg = load_model_config(config, DSFTConfig, quiet=is_quiet(ctx), epochs=epochs)
    require_shard_dir(shards)
    if resume is not None:
        require_file(resume, "checkpoint")
    trainer = train_dsft(shards, cfg, out, use_dsft=dsft, resume=resume)
    if trainer.is_main:  # under torchrun, one report, not one per rank
        typer.echo(f"trained {trainer.epoch} epochs ({trainer.step} steps, dsft={'on' if dsft else 'off'}) -> {out}")
        print_final_metrics(trainer)


def embed(
    shards: ShardsArg = None,
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="last.pt of a `signprep train dsft` run.")] = ...,
    out: Annotated[Path, typer.Option("--out", "-o", help="Features file (.h5 or .npz).")] = Path("features.h5"),
    shards_alias: ShardsAlias = None,
) -> None:
    """Write the DSFT features of every sample.

    sample_id, label, split, features and logits, as HDF5 (.h5) or numpy (.npz) by the suffix of --out.
    """
    from signprep.recipes.dsft import embed_dsft

    shards = shard_dir(shards, shards_alias)
    require_shard_dir(shards)
    require_file(checkpoint, "checkpoint")
    path = embed_dsft(shards, checkpoint, out)
    typer.echo(f"features -> {path}")
