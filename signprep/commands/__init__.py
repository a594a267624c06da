"""Pieces shared by the `signprep` command modules: exit codes and the error exit.

Exit codes (all commands): 0 success; 1 some samples failed or the disk
filled (extract; finished samples are kept) or problems found (verify);
2 bad arguments, configuration or metadata; 3 the output directory is locked
by another run or holds another pipeline's shards; 130 interrupted (finished
samples are kept; rerun to continue).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import typer

EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERRUPTED = 1, 2, 3, 130


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print `error: message` in red on stderr and return the Exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def require_shard_dir(path: Path) -> None:
    """Exit 2 unless `path` is a shard directory (holds shard_index.json)."""
    if not (path / "shard_index.json").is_file():
        raise fail(f"{path}: not a shard directory (no shard_index.json)")


def require_file(path: Path, what: str = "file") -> None:
    if not path.is_file():
        raise fail(f"{path}: no such {what}")


C = TypeVar("C")


def load_model_config(path: Path, cls: type[C], **overrides) -> C:
    """Read and validate a model config YAML as `cls` (exit 2 with the config error), then apply the
    command-line overrides that are not None (e.g. `epochs`)."""
    from signprep.configs import ConfigError
    from signprep.training import load_train_config

    try:
        cfg = load_train_config(path, cls)
    except ConfigError as e:
        raise fail(str(e)) from None
    given = {k: v for k, v in overrides.items() if v is not None}
    return cfg.model_copy(update=given) if given else cfg
