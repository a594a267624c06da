"""`signprep train handpose`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail, is_quiet, require_file, require_shard_dir
from signprep.commands.options import ShardsAlias, ShardsArg, shard_dir
from signprep.commands.training import EpochsOpt, ResumeOpt, config_option, load_model_config, print_final_metrics


def train(
    ctx: typer.Context,
    shards: ShardsArg = None,
    config: Annotated[str, config_option("handpose")] = "handpose",
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (last.pt, metrics.csv, tb/).")] = Path(
        "runs/handpose"
    ),
    epochs: EpochsOpt = None,
    resume: ResumeOpt = None,
    shards_alias: ShardsAlias = None,
) -> None:
    """Train the hand-pose heatmap network on hand crops.

    docs/methods.md, "Siamese hand-pose embedding". SHARDS must hold hand crops (the hand_crops
    pipeline). The evaluation on held-out signers, beside a mean-pose baseline, goes to
    OUT/handpose_eval.json.
    """
    from signprep.recipes.handpose import HandPoseConfig, train_handpose

    shards = shard_dir(shards, shards_alias)
    cfg = load_model_config(config, HandPoseConfig, quiet=is_quiet(ctx), epochs=epochs)
    require_shard_dir(shards)
    if resume is not None:
        require_file(resume, "checkpoint")
    try:
        trainer = train_handpose(shards, cfg, out, resume=resume)
    except ValueError as e:
        raise fail(str(e)) from None
    if trainer.is_main:
        typer.echo(
            f"trained {trainer.epoch} epochs ({trainer.step} steps) -> {out}; evaluation: {out / 'handpose_eval.json'}"
        )
        print_final_metrics(trainer)
