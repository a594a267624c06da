"""`signprep plan`: the work an extract run would do, before starting it (registered in signprep.cli)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail


def plan(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset builder: wlasl, msasl, csv, folder.")
    ] = "wlasl",
    root: Annotated[Path | None, typer.Option("--root", help="Dataset download folder (metadata + videos/).")] = None,
    manifest_file: Annotated[
        Path | None, typer.Option("--manifest", help="A manifest file instead of --dataset/--root.")
    ] = None,
    pipeline: Annotated[str, typer.Option("--pipeline", "-p", help="Pipeline file or shipped name.")] = "keypoints",
    subset: Annotated[
        str | None, typer.Option("--subset", help="WLASL subset: 100, 300, 1000, 2000 or an nslt_*.json path.")
    ] = None,
    videos: Annotated[
        Path | None, typer.Option("--videos", help="Videos folder, if not ROOT/videos (wlasl, msasl).")
    ] = None,
    metadata: Annotated[
        Path | None, typer.Option("--metadata", help="Metadata file, if not the default name in ROOT (wlasl).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-j", min=1, help="Worker processes to size the wall time for.")
    ] = os.cpu_count() or 1,
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
    """Print the work of an extraction before starting it: videos present and missing, frames,
    CPU core-hours per stage and storage per modality, from per-frame costs measured on real clips.

    Without the videos (no ROOT/videos folder) every sample counts as missing and its length
    comes from the metadata's frame range, else from the mean of the known lengths.

    With --out, samples already in that directory's shards of the same pipeline are counted
    apart and the rest is planned; shards of another pipeline are reported (extract refuses
    them without --force) and everything is planned.
    """
    from signprep.extraction.pipeline import ConfigError, load_pipeline
    from signprep.extraction.planning import plan_extraction, read_existing_output
    from signprep.manifests import Manifest, ManifestError, build_manifest, read_manifest

    try:
        config = load_pipeline(pipeline)
    except ConfigError as e:
        raise fail(str(e)) from None
    note = ""
    try:
        if manifest_file is not None:
            records = read_manifest(manifest_file)
            present = [r for r in records if Path(r.video_path).is_file()]
            m = Manifest(present, [r for r in records if not Path(r.video_path).is_file()])
        elif root is not None:
            given = {"subset": subset, "videos_dir": videos, "metadata": metadata}
            options = {k: v for k, v in given.items() if v is not None}
            videos_dir = videos if videos is not None else root / "videos"
            with tempfile.TemporaryDirectory() as empty:
                if dataset in ("wlasl", "msasl") and not videos_dir.is_dir():
                    # builders refuse a missing video folder (it hides a typo); planning before the
                    # download is the one case where no folder is expected
                    options["videos_dir"] = empty
                    note = f"no video folder at {videos_dir}: every sample counted as missing"
                m = build_manifest(dataset, root, **options)
        else:
            raise fail("give --root (with --dataset) or --manifest")
    except ManifestError as e:
        raise fail(str(e)) from None
    existing = read_existing_output(out, config) if out is not None else None
    result = plan_extraction(m, config, existing)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "workers": workers, "note": note or None}, indent=1))
        return
    if note:
        typer.echo(note)
    typer.echo(result.render(workers))
