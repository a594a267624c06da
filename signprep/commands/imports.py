"""`signprep import`: shards from files other tools wrote (pose-format `.pose` files), without video."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import ExitCode, fail, is_quiet
from signprep.commands.options import PipelineOpt, workers_option
from signprep.commands.samples import (
    ClassListOpt,
    Dataset,
    DatasetOptionOpt,
    ManifestOpt,
    MetadataOpt,
    RootOpt,
    SampleSource,
    SubsetOpt,
    VideosOpt,
)
from signprep.manifests import BUILDERS


class ImportFormat(str, enum.Enum):
    pose = "pose"


def import_(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="The folder of files to import.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory for the shards.")],
    fmt: Annotated[
        ImportFormat, typer.Option("--format", "-f", help="pose: pose-format .pose files of MediaPipe Holistic.")
    ] = ImportFormat.pose,
    dataset: Annotated[
        Dataset | None,
        typer.Option(
            "--dataset",
            "-d",
            metavar="DATASET",  # the choices, listed in the help: as the metavar they outgrow a terminal line
            help=f"Dataset builder that reads --root (default wlasl) to label the files: {', '.join(BUILDERS)}.",
        ),
    ] = None,
    root: RootOpt = None,
    manifest: ManifestOpt = None,
    subset: SubsetOpt = None,
    videos: VideosOpt = None,
    metadata: MetadataOpt = None,
    class_list: ClassListOpt = None,
    dataset_option: DatasetOptionOpt = None,
    pipeline: PipelineOpt = "keypoints",
    split: Annotated[list[str] | None, typer.Option("--split", help="Only samples of this split; repeatable.")] = None,
    sample: Annotated[list[str] | None, typer.Option("--sample", "-s", help="Only this sample; repeatable.")] = None,
    workers: Annotated[int, workers_option("Worker processes.")] = ...,
    force: Annotated[bool, typer.Option("--force", help="Delete existing shards and import everything again.")] = False,
) -> None:
    """Build shards from existing .pose files, without the videos.

    A sample's file is DIR/<its video's name>.pose, as pose-format's videos_to_poses names them;
    labels, splits and frame ranges come from --manifest or a dataset (--dataset, --root), and
    without either every .pose file in DIR is an unlabelled sample named after it. Only stages
    that read keypoints (heatmaps) run on them; a pipeline with a stage that needs frames is
    refused. Resumable like extract; a bad file fails alone, listed in OUT/extract_errors.jsonl.
    """
    from signprep.configs import ConfigError
    from signprep.extraction.lock import OutputLocked
    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.runner import PipelineMismatch
    from signprep.imports.pose import run_import
    from signprep.manifests import ManifestError
    from signprep.pose_files import PoseFormatMissing
    from signprep.shards import SchemaError

    labels = None
    builder_given = any(v is not None for v in (subset, videos, metadata, class_list, dataset_option, dataset))
    if root is not None or manifest is not None:
        source = SampleSource(
            dataset or "wlasl", root, manifest, subset=subset, videos=videos, metadata=metadata,
            class_list=class_list, dataset_option=dataset_option,
        )  # fmt: skip
        labels, _ = source.load(before_download=True)  # the videos need not be here: only their names
    elif builder_given:
        raise fail("the dataset's options need --root (or give --manifest)")
    try:
        config = load_pipeline(pipeline)
        summary = run_import(
            folder, out, config, labels, samples=sample, splits=split, workers=workers, force=force,
            progress=not is_quiet(ctx),
        )  # fmt: skip
    except (ConfigError, ManifestError, PoseFormatMissing, SchemaError) as e:
        raise fail(str(e)) from None
    except (OutputLocked, PipelineMismatch) as e:
        raise fail(str(e), ExitCode.LOCKED) from None
    except OSError as e:  # disk full, permissions: the message names the file; finished samples are kept
        raise fail(str(e), ExitCode.FAILED) from None
    typer.echo(summary.render())
    raise typer.Exit(summary.exit_code)
