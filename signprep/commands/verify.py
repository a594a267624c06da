"""`signprep verify`: check a shard directory (schema, every indexed sample readable, checksums), optionally repair."""

from __future__ import annotations

from typing import Annotated

import typer

from signprep.commands import ExitCode, fail
from signprep.commands.options import ShardsArg, shard_dir


def verify(
    shards: ShardsArg = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Quarantine bad shards and unindex them; rerun extract to refill.")
    ] = False,
    checksums: Annotated[bool, typer.Option("--checksums/--no-checksums", help="Hash files and sample data.")] = True,
) -> None:
    """Check a shard directory; --repair sets bad shards aside.

    The schema, every indexed sample readable, and the checksums of files and sample data.
    """
    from signprep.shards import SchemaError
    from signprep.shards.codecs import CODEC_READERS
    from signprep.shards.verify import verify_dir

    try:
        report = verify_dir(shard_dir(shards), repair=repair, checksums=checksums)
    except SchemaError as e:
        raise fail(str(e)) from None
    typer.echo(f"checked {report.shards_checked} shards, {report.samples_checked} samples")
    for codec, n in sorted(report.codecs.items()):
        typer.echo(f"  storage: {codec} in {n} datasets, readable by {CODEC_READERS.get(codec, 'unknown readers')}")
    for p in report.problems:
        typer.echo(f"  problem: {p}")
    if report.repaired_samples:
        typer.echo(
            f"repair: {len(report.bad_shards)} shards quarantined, {len(report.repaired_samples)} samples unindexed;"
            " rerun the same extract command to extract them again"
        )
    if not report.ok:
        raise typer.Exit(ExitCode.FAILED)
    typer.echo("ok")
