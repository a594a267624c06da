"""`signprep render`: contact sheets (and MP4s) of chosen samples of a shard directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail
from signprep.commands.options import ShardsArg, shard_dir
from signprep.interrupts import sigterm_as_interrupt

SAMPLES_BY_DEFAULT = 3  # without --sample: the first few samples of the index


def render(
    shards: ShardsArg = None,
    sample: Annotated[list[str] | None, typer.Option("--sample", "-s", help="Sample id; repeatable.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Image folder (default SHARDS/renders).")] = None,
    columns: Annotated[int, typer.Option("--columns", min=1, help="Frames per contact sheet.")] = 8,
    mp4: Annotated[bool, typer.Option("--mp4", help="Also write an MP4 of every frame.")] = False,
) -> None:
    """Draw samples of a shard directory as contact sheets (PNG, MP4).

    Keypoints on the frame, heatmaps, flow, mask and hand crops, whichever the pipeline stored.
    """
    from signprep.manifests import output_file_stem
    from signprep.reports.contact_sheet import contact_sheet, write_mp4, write_png
    from signprep.shards import SchemaError, ShardReader

    root = shard_dir(shards)
    try:
        reader = ShardReader(root)
    except SchemaError as e:
        raise fail(str(e)) from None
    out = out or root / "renders"
    with reader:
        ids = sample or list(reader)[:SAMPLES_BY_DEFAULT]
        unknown = [s for s in ids if s not in reader]
        if unknown:
            raise fail(f"no such samples in {root}: {', '.join(unknown)}")
        with sigterm_as_interrupt():  # a stop mid-write removes the file's temp (the atomic write's cleanup)
            for sample_id in ids:
                view = reader[sample_id]
                png = out / f"{output_file_stem(sample_id)}.png"
                write_png(contact_sheet(view, reader.index.pipeline, columns), png)
                typer.echo(f"{sample_id}: {png}")
                if mp4:
                    video = write_mp4(view, reader.index.pipeline, out / f"{output_file_stem(sample_id)}.mp4")
                    typer.echo(f"{sample_id}: {video}")
