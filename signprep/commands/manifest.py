"""`signprep manifest`: a dataset download -> a manifest file (one JSON record per sample), missing videos listed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signprep.commands.samples import (
    DEFAULT_DATASET,
    ClassListOpt,
    DatasetOpt,
    DatasetOptionOpt,
    MetadataOpt,
    RequiredRootOpt,
    SampleSource,
    SubsetOpt,
    VideosOpt,
)

MISSING_SHOWN = 20  # the rest are in the file and in extract's summary


def manifest(
    root: RequiredRootOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest file to write (JSON lines).")],
    dataset: DatasetOpt = DEFAULT_DATASET,
    subset: SubsetOpt = None,
    videos: VideosOpt = None,
    metadata: MetadataOpt = None,
    class_list: ClassListOpt = None,
    dataset_option: DatasetOptionOpt = None,
) -> None:
    """Write a dataset's manifest: one JSON record per sample.

    The samples whose video is missing are listed (the first 20) and kept in the file.
    Metadata entries that give no sample (an unusable or repeated id, a missing or
    mistyped field) are listed with their place and reason, all of them in
    OUT.rejected.jsonl; the other entries are written, and the exit code is then 1.
    """
    import json

    from signprep.atomic import atomic_write_text
    from signprep.commands import ExitCode
    from signprep.manifests import write_manifest

    source = SampleSource(
        dataset, root, subset=subset, videos=videos, metadata=metadata, class_list=class_list,
        dataset_option=dataset_option,
    )  # fmt: skip
    m, _ = source.load()
    write_manifest(m.records + m.missing, out)
    typer.echo(f"{len(m)} samples: {len(m.records)} with video, {len(m.missing)} missing video -> {out}")
    for r in m.missing[:MISSING_SHOWN]:
        typer.echo(f"  missing {r.sample_id}: {r.video_path}")
    if len(m.missing) > MISSING_SHOWN:
        typer.echo(f"  ... {len(m.missing) - MISSING_SHOWN} more (all listed in {out} and by `signprep extract`)")
    if m.rejected:
        rejected_file = out.with_name(out.name + ".rejected.jsonl")
        atomic_write_text(
            rejected_file, "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in m.rejected)
        )
        typer.echo(f"{len(m.rejected)} metadata entries rejected (all listed in {rejected_file}):")
        for e in m.rejected[:MISSING_SHOWN]:
            typer.echo(f"  rejected {e.describe()}")
        if len(m.rejected) > MISSING_SHOWN:
            typer.echo(f"  ... {len(m.rejected) - MISSING_SHOWN} more")
        raise typer.Exit(ExitCode.FAILED)
