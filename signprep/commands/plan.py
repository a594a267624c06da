"""`signprep plan`: the work an extract run would do, before starting it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail
from signprep.commands.options import PipelineOpt, workers_option
from signprep.commands.samples import (
    DEFAULT_DATASET,
    ClassListOpt,
    DatasetOpt,
    DatasetOptionOpt,
    ManifestOpt,
    MetadataOpt,
    RootOpt,
    SampleSource,
    SubsetOpt,
    VideosOpt,
)


def plan(
    dataset: DatasetOpt = DEFAULT_DATASET,
    root: RootOpt = None,
    manifest: ManifestOpt = None,
    subset: SubsetOpt = None,
    videos: VideosOpt = None,
    metadata: MetadataOpt = None,
    class_list: ClassListOpt = None,
    dataset_option: DatasetOptionOpt = None,
    pipeline: PipelineOpt = "keypoints",
    workers: Annotated[int, workers_option("Worker processes to size the wall time for.")] = ...,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The extract's output directory: samples its shards already hold for this pipeline are "
            "reported as already extracted and not planned again. Only read (no lock taken).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """The frames, core-hours and storage an extraction would take.

    Videos present and missing, frames, CPU core-hours per stage and storage per modality, from
    per-frame costs measured on real clips.

    Without the videos (no ROOT/videos folder) every sample counts as missing and its length
    comes from the metadata's frame range, else from the mean of the known lengths.

    With --out, samples already in that directory's shards of the same pipeline are counted
    apart and the rest is planned; shards of another pipeline are reported (extract refuses
    them without --force) and everything is planned.
    """
    from signprep.configs import ConfigError
    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.planning import plan_extraction, read_existing_output

    source = SampleSource(
        dataset, root, manifest, subset=subset, videos=videos, metadata=metadata, class_list=class_list,
        dataset_option=dataset_option,
    )  # fmt: skip
    try:
        config = load_pipeline(pipeline)
    except ConfigError as e:
        raise fail(str(e)) from None
    samples, note = source.load(before_download=True)
    existing = read_existing_output(out, config) if out is not None else None
    result = plan_extraction(samples, config, existing)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "workers": workers, "note": note}, indent=1))
        return
    if note:
        typer.echo(note)
    typer.echo(result.render(workers))
