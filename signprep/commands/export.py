"""`signprep export`: a shard directory into pose-format `.pose` files, a PoseC3D/pyskl pickle, or NumPy archives."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import ExitCode, fail, is_quiet
from signprep.commands.options import ShardsArg, shard_dir, workers_option
from signprep.kernels.keypoint_layout import KeypointLayout


class Format(str, enum.Enum):
    """The export formats (signprep.exports.FORMATS; a test keeps the two equal: importing the exports
    costs ~0.3 s, too much for every --help and shell completion)."""

    pose = "pose"
    pyskl = "pyskl"
    npz = "npz"


def _complete_subset(incomplete: str) -> list[str]:
    return [name for name in KeypointLayout().subset_names() if name.startswith(incomplete)]


def export(
    ctx: typer.Context,
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="pose: one pose-format .pose file per sample (and a manifest.jsonl that imports them); "
            "pyskl: one PoseC3D/pyskl annotation pickle; npz: one NumPy archive per sample and samples.csv.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", "--to", help="Folder for the exported files (--to is the same option).")
    ],
    shards: ShardsArg = None,
    split: Annotated[list[str] | None, typer.Option("--split", help="Only samples of this split; repeatable.")] = None,
    sample: Annotated[list[str] | None, typer.Option("--sample", "-s", help="Only this sample; repeatable.")] = None,
    keypoint_subset: Annotated[
        str | None,
        typer.Option(
            "--keypoint-subset",
            help="Keypoints to export (pyskl: default signvtcl79, SignVTCL's 79; npz: default all).",
            autocompletion=_complete_subset,
        ),
    ] = None,
    modality: Annotated[
        list[str] | None,
        typer.Option("--modality", "-m", help="npz: also this stored dataset (heatmaps, frames, flow...); repeatable."),
    ] = None,
    workers: Annotated[int, workers_option("Worker processes.")] = ...,
    force: Annotated[
        bool, typer.Option("--force", help="Export every chosen sample again, also into another export's folder.")
    ] = False,
) -> None:
    """Export a shard directory's samples for other tools.

    Resumable: files already in the folder are skipped, so rerunning the same command after a
    failure or Ctrl-C finishes the job; each file appears complete or not at all. The summary
    gives samples/s and MB/s; failures are listed in OUT/export_errors.jsonl.
    """
    from signprep.exports import ExportConflict, ExportError, make_format, run_export
    from signprep.extraction.lock import OutputLocked
    from signprep.pose_files import PoseFormatMissing
    from signprep.shards import SchemaError

    root = shard_dir(shards)
    try:
        export_format = make_format(fmt.value, keypoint_subset, modality or ())
        summary = run_export(
            root, export_format, out, samples=sample, splits=split, workers=workers, force=force,
            progress=not is_quiet(ctx),
        )  # fmt: skip
    except (ExportError, SchemaError, PoseFormatMissing) as e:
        raise fail(str(e)) from None
    except (ExportConflict, OutputLocked) as e:
        raise fail(str(e), ExitCode.LOCKED) from None
    except OSError as e:  # disk full, permissions: the message names the file; finished files are kept
        raise fail(str(e), ExitCode.FAILED) from None
    typer.echo(summary.render())
    raise typer.Exit(summary.exit_code)
