"""Options with one name and one meaning in every command: the shard directory read, the pipeline, --workers.

The shard directory a command reads is its first argument, SHARDS, everywhere
(`inspect`, `verify`, `render`, `train <model>`, `embed <model>`); what a
command writes is `--out/-o`. `train` and `embed` took the directory as
`--shards DIR` before: that spelling still works (a hidden alias).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.models import OptionInfo

from signprep.commands import fail
from signprep.configs import PIPELINES

ShardsArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="SHARDS", help="The shard directory to read (an `extract --out`). Required.", show_default=False
    ),
]
ShardsAlias = Annotated[Path | None, typer.Option("--shards", hidden=True, help="The former spelling of SHARDS.")]


def shard_dir(shards: Path | None, alias: Path | None = None) -> Path:
    """SHARDS, given as the argument or by its former spelling `--shards`; exit 2 without it."""
    if shards is not None and alias is not None and shards != alias:
        raise fail(f"two shard directories: {shards} and --shards {alias}; give one")
    chosen = shards if shards is not None else alias
    if chosen is None:
        raise fail("missing SHARDS: the shard directory to read, as the first argument")
    return chosen


PipelineOpt = Annotated[
    str,
    typer.Option(
        "--pipeline",
        "-p",
        help=f"Pipeline: a YAML file, or a shipped name ({', '.join(PIPELINES.names())}).",
        autocompletion=lambda incomplete: PIPELINES.complete(incomplete),
    ),
]


def available_cpus() -> int:
    """The CPUs this process may use: its scheduler affinity (taskset, Slurm, ...) and its cgroup's CPU
    quota (containers), through joblib/loky, which reads both; os.cpu_count() counts the machine's."""
    import joblib  # ~0.3 s to import: only when a command runs, not for --help or shell completion

    return max(1, joblib.cpu_count())


def workers_option(what: str) -> OptionInfo:
    return typer.Option(
        "--workers",
        "-j",
        min=1,
        default_factory=available_cpus,
        show_default="the CPUs this process may use",
        help=what,
    )
