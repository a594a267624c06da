"""The `signprep` command line.

Exit codes (all commands): 0 success; 1 some samples failed or the disk
filled (extract; finished samples are kept) or problems found (verify);
2 bad arguments, configuration or metadata; 3 the output directory is locked
by another run or holds another pipeline's shards; 130 interrupted (finished
samples are kept; rerun to continue).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from signprep import __version__
from signprep.commands import EXIT_FAILED, EXIT_LOCKED, disentangle, dsft, fail, handpose, plan, siamese

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"signprep {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the tool does.")] = False,
) -> None:
    """Sign-language video datasets -> cached, training-ready HDF5 feature shards."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Dataset builder: wlasl, msasl, csv, folder.")]
RootOpt = Annotated[Path | None, typer.Option("--root", help="Dataset download folder (metadata + videos/).")]
SubsetOpt = Annotated[
    str | None, typer.Option("--subset", help="WLASL subset: 100, 300, 1000, 2000 or an nslt_*.json path.")
]


VideosOpt = Annotated[Path | None, typer.Option("--videos", help="Videos folder, if not ROOT/videos (wlasl, msasl).")]
MetadataOpt = Annotated[
    Path | None, typer.Option("--metadata", help="Metadata file, if not the default name in ROOT (wlasl).")
]
ClassListOpt = Annotated[
    Path | None, typer.Option("--class-list", help="wlasl_class_list.txt: labels from it (wlasl).")
]


def _build(dataset: str, root: Path, subset=None, videos=None, metadata=None, class_list=None):
    from signprep.manifests import ManifestError, build_manifest

    given = {"subset": subset, "videos_dir": videos, "metadata": metadata, "class_list": class_list}
    options = {k: v for k, v in given.items() if v is not None}
    try:
        return build_manifest(dataset, root, **options)
    except ManifestError as e:
        raise fail(str(e)) from None


@app.command()
def manifest(
    dataset: Annotated[str, typer.Argument(help="wlasl, msasl, csv or folder.")],
    root: Annotated[Path, typer.Option("--root", help="Dataset download folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest file to write (JSON lines).")],
    subset: SubsetOpt = None,
    videos: VideosOpt = None,
    metadata: MetadataOpt = None,
    class_list: ClassListOpt = None,
) -> None:
    """Build a normalised manifest (one JSON record per sample) and report missing videos."""
    from signprep.manifests import write_manifest

    m = _build(dataset, root, subset, videos, metadata, class_list)
    write_manifest(m.records + m.missing, out)
    typer.echo(f"{len(m)} samples: {len(m.records)} with video, {len(m.missing)} missing video -> {out}")
    for r in m.missing[:20]:
        typer.echo(f"  missing {r.sample_id}: {r.video_path}")
    if len(m.missing) > 20:
        typer.echo(f"  ... {len(m.missing) - 20} more (all listed in {out} and by `signprep extract`)")


@app.command()
def extract(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory for the shards.")],
    dataset: DatasetOpt = "wlasl",
    root: RootOpt = None,
    manifest_file: Annotated[
        Path | None, typer.Option("--manifest", help="A manifest file instead of --dataset/--root.")
    ] = None,
    pipeline: Annotated[str, typer.Option("--pipeline", "-p", help="Pipeline file or shipped name.")] = "keypoints",
    workers: Annotated[
        int, typer.Option("--workers", "-j", min=1, help="Worker processes (loky, or a local Dask cluster).")
    ] = os.cpu_count() or 1,
    subset: SubsetOpt = None,
    videos: VideosOpt = None,
    metadata: MetadataOpt = None,
    class_list: ClassListOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete existing shards and extract everything again.")
    ] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="loky: worker processes on this machine. dask: a Dask cluster (needs signprep's dask extra); "
            "the task of a worker that dies is retried on another worker.",
        ),
    ] = "loky",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Scheduler address of an existing Dask cluster (tcp://host:8786); without it --backend dask "
            "starts a local cluster of --workers processes. Every worker must see --out and the videos at the "
            "same paths (a shared filesystem) and have signprep installed.",
        ),
    ] = None,
) -> None:
    """Extract features of every sample into HDF5 shards; resumable, skips finished samples."""
    from signprep.extraction.backends import BackendError
    from signprep.extraction.lock import OutputLocked
    from signprep.extraction.pipeline import ConfigError, load_pipeline
    from signprep.extraction.runner import PipelineMismatch, run_extract
    from signprep.manifests import Manifest, ManifestError, read_manifest
    from signprep.shards import SchemaError

    try:
        config = load_pipeline(pipeline)
    except ConfigError as e:
        raise fail(str(e)) from None
    if manifest_file is not None:
        try:
            records = read_manifest(manifest_file)
        except ManifestError as e:
            raise fail(str(e)) from None
        present = [r for r in records if Path(r.video_path).is_file()]
        m = Manifest(present, [r for r in records if not Path(r.video_path).is_file()])
    elif root is not None:
        m = _build(dataset, root, subset, videos, metadata, class_list)
    else:
        raise fail("give --root (with --dataset) or --manifest")
    try:
        summary = run_extract(
            m, config, out, workers=workers, force=force, progress=progress, backend=backend, address=address
        )
    except (OutputLocked, PipelineMismatch) as e:
        raise fail(str(e), EXIT_LOCKED) from None
    except (ManifestError, BackendError) as e:
        raise fail(str(e)) from None
    except SchemaError as e:  # an unreadable shard_index.json in --out: say so, no traceback
        raise fail(str(e)) from None
    except OSError as e:  # disk full, permissions: the message names the file; finished samples are kept
        raise fail(str(e), EXIT_FAILED) from None
    typer.echo(summary.render())
    raise typer.Exit(summary.exit_code)


@app.command()
def inspect(
    root: Annotated[Path, typer.Argument(help="A shard directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a shard directory: pipeline, shards, samples, frames, bytes, datasets."""
    from signprep.shards import SchemaError, ShardReader

    try:
        reader = ShardReader(root)
    except SchemaError as e:
        raise fail(str(e)) from None
    with reader:
        idx = reader.index
        frames = sum(e["num_frames"] for e in idx.samples.values())
        nbytes = sum(s["bytes"] for s in idx.shards.values())
        info = {
            "directory": str(root),
            "pipeline": idx.pipeline.get("name"),
            "pipeline_hash": idx.pipeline_hash,
            "shards": len(idx.shards),
            "samples": len(idx.samples),
            "frames": frames,
            "bytes": nbytes,
            "bytes_per_frame": round(nbytes / frames, 1) if frames else None,
            "splits": dict(Counter(e["split"] for e in idx.samples.values())),
            "glosses": len({e["gloss"] for e in idx.samples.values()}),
            "signers": len({e["signer_id"] for e in idx.samples.values()}),
        }
        if len(reader):
            first = reader[next(iter(reader))]
            info["example_sample"] = first.sample_id
            info["datasets"] = {n: f"{first[n].dtype} {list(first[n].shape)}" for n in first.datasets}
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    for k, v in info.items():
        if isinstance(v, dict):
            typer.echo(f"{k}:")
            for kk, vv in v.items():
                typer.echo(f"  {kk}: {vv}")
        else:
            typer.echo(f"{k}: {v}")


@app.command()
def verify(
    root: Annotated[Path, typer.Argument(help="A shard directory.")],
    repair: Annotated[
        bool, typer.Option("--repair", help="Quarantine bad shards and unindex them; rerun extract to refill.")
    ] = False,
    checksums: Annotated[bool, typer.Option("--checksums/--no-checksums", help="Hash files and sample data.")] = True,
) -> None:
    """Check a shard directory: schema, every indexed sample readable, checksums."""
    from signprep.shards import SchemaError
    from signprep.shards.verify import verify_dir

    try:
        report = verify_dir(root, repair=repair, checksums=checksums)
    except SchemaError as e:
        raise fail(str(e)) from None
    typer.echo(f"checked {report.shards_checked} shards, {report.samples_checked} samples")
    for p in report.problems:
        typer.echo(f"  problem: {p}")
    if report.repaired_samples:
        typer.echo(
            f"repair: {len(report.bad_shards)} shards quarantined, {len(report.repaired_samples)} samples unindexed;"
            " rerun the same extract command to extract them again"
        )
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)
    typer.echo("ok")


@app.command()
def render(
    root: Annotated[Path, typer.Argument(help="A shard directory.")],
    sample: Annotated[list[str] | None, typer.Option("--sample", "-s", help="Sample id; repeatable.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Image folder (default ROOT/renders).")] = None,
    columns: Annotated[int, typer.Option("--columns", min=1, help="Frames per contact sheet.")] = 8,
    mp4: Annotated[bool, typer.Option("--mp4", help="Also write an MP4 of every frame.")] = False,
) -> None:
    """Draw chosen samples: keypoints on the frame, heatmaps, flow, mask, hand crops (PNG, optional MP4)."""
    from signprep.reports.contact_sheet import contact_sheet, write_mp4, write_png
    from signprep.shards import SchemaError, ShardReader

    try:
        reader = ShardReader(root)
    except SchemaError as e:
        raise fail(str(e)) from None
    out = out or root / "renders"
    with reader:
        ids = sample or list(reader)[:3]
        unknown = [s for s in ids if s not in reader]
        if unknown:
            raise fail(f"no such samples in {root}: {', '.join(unknown)}")
        for sample_id in ids:
            view = reader[sample_id]
            png = out / f"{sample_id}.png"
            write_png(contact_sheet(view, reader.index.pipeline, columns), png)
            typer.echo(f"{sample_id}: {png}")
            if mp4:
                write_mp4(view, reader.index.pipeline, out / f"{sample_id}.mp4")
                typer.echo(f"{sample_id}: {out / f'{sample_id}.mp4'}")


# --------------------------------------------------------------------------- training
train_app = typer.Typer(no_args_is_help=True, help="Train a model on a shard directory (needs the `train` extra).")
embed_app = typer.Typer(no_args_is_help=True, help="Write a trained model's features for a shard directory.")
app.add_typer(train_app, name="train")
app.add_typer(embed_app, name="embed")


train_app.command("dsft")(dsft.train)
embed_app.command("dsft")(dsft.embed)
train_app.command("handpose")(handpose.train)
train_app.command("siamese")(siamese.train)
embed_app.command("siamese")(siamese.embed)
app.command("plan")(plan.plan)
train_app.command("disentangle")(disentangle.train)
embed_app.command("disentangle")(disentangle.embed)


if __name__ == "__main__":
    app()
