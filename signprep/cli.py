"""The `signprep` command line: the app, its global options, and the registration of every command.

The command bodies live in signprep.commands, one module per command or model.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from signprep import __version__
from signprep.commands import (
    QUIET,
    disentangle,
    dsft,
    example,
    exit_code_table,
    export,
    extract,
    fail,
    handpose,
    imports,
    inspect,
    manifest,
    plan,
    render,
    report,
    siamese,
    verify,
)

# rich_markup_mode=None: Click's plain help, which keeps the examples' lines as written and reads well in
# 80 columns (Rich's boxed tables squeezed the option texts into a narrow column)
app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    rich_markup_mode=None,
    epilog="\b\nExit codes (every command):\n" + exit_code_table(),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"signprep {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also log what the tool does (info).")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars; only warnings and errors are logged.")
    ] = False,
) -> None:
    """Sign-language video datasets -> cached, training-ready HDF5 feature shards."""
    if verbose and quiet:
        raise fail("--verbose and --quiet: choose one")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.meta[QUIET] = quiet
    if quiet and "TQDM_DISABLE" not in os.environ:
        # tqdm (>= 4.66) reads TQDM_* defaults when it is first imported, which in a command's process is
        # after this callback: every bar, the libraries' included, is off; put back when the command ends
        os.environ["TQDM_DISABLE"] = "1"
        ctx.call_on_close(lambda: os.environ.pop("TQDM_DISABLE", None))


app.command(epilog=example("signprep manifest -d wlasl --root WLASL/ --subset 100 -o wlasl.jsonl"))(manifest.manifest)
app.command(
    epilog=example(
        "signprep extract -d wlasl --root WLASL/ -p multimodal -o out/wlasl",
        "signprep extract --manifest wlasl.jsonl -o out/wlasl --workers 8",
    )
)(extract.extract)
app.command(epilog=example("signprep inspect out/wlasl --json"))(inspect.inspect)
app.command(epilog=example("signprep verify out/wlasl --repair"))(verify.verify)
app.command(epilog=example("signprep render out/wlasl -s 90012 -s 90029 --mp4"))(render.render)
app.command(epilog=example("signprep report out/wlasl --html out/wlasl-report.html"))(report.report)
app.command(epilog=example("signprep plan -d wlasl --root WLASL/ -p multimodal -j 64 --json"))(plan.plan)
app.command(
    epilog=example(
        "signprep export out/wlasl --format pose --to poses/",
        "signprep export out/wlasl -f pyskl -o pyskl/ --keypoint-subset signvtcl79",
        "signprep export out/wlasl -f npz -o npz/ -m heatmaps --split train",
    )
)(export.export)
app.command(
    "import",
    epilog=example(
        "signprep import -f pose poses/ --manifest poses/manifest.jsonl -o out/pz",
        "signprep import poses/ -d wlasl --root WLASL/ -o out/wlasl-from-poses",
    ),
)(imports.import_)

train_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Train a model on a shard directory (needs the `train` extra)."
)
embed_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Write a trained model's features for a shard directory."
)
app.add_typer(train_app, name="train")
app.add_typer(embed_app, name="embed")

train_command = train_app.command
train_command("dsft", epilog=example("signprep train dsft out/wlasl --config dsft -o runs/dsft"))(dsft.train)
train_command("handpose", epilog=example("signprep train handpose out/hands -o runs/handpose"))(handpose.train)
train_command("siamese", epilog=example("signprep train siamese out/hands --handpose runs/handpose/last.pt"))(
    siamese.train
)
train_command("disentangle", epilog=example("signprep train disentangle out/dis -o runs/disentangle --epochs 50"))(
    disentangle.train
)
embed_command = embed_app.command
embed_command("dsft", epilog=example("signprep embed dsft out/wlasl --checkpoint runs/dsft/last.pt"))(dsft.embed)
embed_command("siamese", epilog=example("signprep embed siamese out/hands --checkpoint runs/siamese/last.pt"))(
    siamese.embed
)
embed_command(
    "disentangle", epilog=example("signprep embed disentangle out/dis --checkpoint runs/disentangle/last.pt")
)(disentangle.embed)


if __name__ == "__main__":  # `python -m signprep.cli`, the spelling before signprep/__main__.py
    app(prog_name="signprep")
