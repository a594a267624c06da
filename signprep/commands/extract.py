"""`signprep extract`: every sample's features into HDF5 shards; resumable, skips finished samples."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import ExitCode, fail, is_quiet
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


class Backend(str, enum.Enum):
    """Where the workers run (signprep.extraction.backends.BACKENDS; a test keeps the two equal: importing
    the backends costs ~0.3 s, too much for every --help and shell completion)."""

    loky = "loky"
    dask = "dask"


def extract(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory for the shards.")],
    dataset: DatasetOpt = DEFAULT_DATASET,
    root: RootOpt = None,
    manifest: ManifestOpt = None,
    subset: SubsetOpt = None,
    videos: VideosOpt = None,
    metadata: MetadataOpt = None,
    class_list: ClassListOpt = None,
    dataset_option: DatasetOptionOpt = None,
    pipeline: PipelineOpt = "keypoints",
    workers: Annotated[int, workers_option("Worker processes (loky, or a local Dask cluster).")] = ...,
    force: Annotated[
        bool, typer.Option("--force", help="Delete existing shards and extract everything again.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr (off with signprep --quiet).")
    ] = True,
    backend: Annotated[
        Backend,
        typer.Option(
            "--backend",
            help="loky: worker processes on this machine. dask: a Dask cluster (needs signprep's dask extra); "
            "the task of a worker that dies is retried on another worker.",
        ),
    ] = Backend.loky,
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
    """Extract the features of every sample into HDF5 shards.

    Resumable: samples already in OUT's shards are skipped, so rerunning the same command after a
    failure, a full disk or Ctrl-C finishes the job. Samples come from a dataset download (--dataset,
    --root and its options) or a manifest file (--manifest).
    """
    from signprep.configs import ConfigError
    from signprep.extraction.backends import BackendError
    from signprep.extraction.lock import OutputLocked
    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.runner import PipelineMismatch, run_extract
    from signprep.manifests import ManifestError
    from signprep.shards import SchemaError

    source = SampleSource(
        dataset, root, manifest, subset=subset, videos=videos, metadata=metadata, class_list=class_list,
        dataset_option=dataset_option,
    )  # fmt: skip
    try:
        config = load_pipeline(pipeline)
    except ConfigError as e:
        raise fail(str(e)) from None
    samples, _ = source.load()
    try:
        summary = run_extract(
            samples, config, out, workers=workers, force=force, progress=progress and not is_quiet(ctx),
            backend=backend.value, address=address,
        )  # fmt: skip
    except (OutputLocked, PipelineMismatch) as e:
        raise fail(str(e), ExitCode.LOCKED) from None
    except (ManifestError, BackendError) as e:
        raise fail(str(e)) from None
    except SchemaError as e:  # an unreadable shard_index.json in --out: say so, no traceback
        raise fail(str(e)) from None
    except OSError as e:  # disk full, permissions: the message names the file; finished samples are kept
        raise fail(str(e), ExitCode.FAILED) from None
    typer.echo(summary.render())
    raise typer.Exit(summary.exit_code)
