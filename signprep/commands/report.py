"""`signprep report`: one self-contained HTML page about a shard directory (signprep/reports/html_report.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail, is_quiet
from signprep.commands.options import ShardsArg, shard_dir


def report(
    ctx: typer.Context,
    shards: ShardsArg = None,
    html: Annotated[Path | None, typer.Option("--html", help="The page to write (default SHARDS/report.html).")] = None,
    worst: Annotated[int, typer.Option("--worst", min=0, help="Contact sheets of this many worst samples.")] = 8,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Contact sheets of this many examples.")] = 3,
    video: Annotated[bool, typer.Option("--video/--no-video", help="Embed an H.264 MP4 of one sample.")] = True,
) -> None:
    """Write an HTML page a researcher reads before training on a shard directory.

    Samples per split, gloss and signer; frame counts; hand and face detection per signer and
    per sample, the worst samples with their contact sheets; the last run's failures by stage
    and reason; storage per modality; the pipeline; contact sheets and an MP4 of examples.
    Plots and video are embedded: the page opens offline.
    """
    from signprep.reports.html_report import write_report
    from signprep.shards import SchemaError

    root = shard_dir(shards)
    html = html or root / "report.html"
    try:
        path, size = write_report(root, html, worst=worst, examples=examples, video=video, progress=not is_quiet(ctx))
    except (SchemaError, ValueError) as e:
        raise fail(str(e)) from None
    typer.echo(f"report: {path} ({size / 1e6:.1f} MB)")
