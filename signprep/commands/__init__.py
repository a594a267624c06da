"""The bodies of the `signprep` commands, one module per command or per model (registered in signprep.cli).

This module holds what every command shares: the exit codes (the one table the
help and the README print), the error exit, and the checks of input paths.
"""

from __future__ import annotations

import textwrap
from enum import IntEnum
from pathlib import Path

import typer


class ExitCode(IntEnum):
    """The exit status of every command; `meaning` is the line `signprep --help` and the README print."""

    meaning: str

    def __new__(cls, code: int, meaning: str) -> ExitCode:
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    OK = 0, "success (extract: every sample with a video is in the shards; missing videos are reported)"
    FAILED = (
        1,
        (
            "some samples failed, or metadata entries were rejected (each listed in OUT/extract_errors.jsonl with "
            "its stage and reason; every other sample is extracted) or writing failed (a full disk: finished "
            "samples are kept, free space and rerun); verify: problems found"
        ),
    )
    USAGE = 2, "bad arguments or configuration, or metadata that cannot be read at all"
    LOCKED = 3, "the output directory is locked by another run or holds another pipeline's shards"
    INTERRUPTED = 130, "interrupted (finished samples are kept; rerun the same command to continue)"


def exit_code_table(width: int = 76) -> str:
    """The exit codes, one entry each (`  2    bad arguments, ...`) wrapped to `width`, for the help and
    the README."""
    return "\n".join(
        textwrap.fill(code.meaning, width, initial_indent=f"  {code.value:<5}", subsequent_indent=" " * 7)
        for code in ExitCode
    )


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> typer.Exit:
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


def example(*command_lines: str) -> str:
    """A command's help epilog: `Example:` and the command lines, kept as written (Click's \\b marker)."""
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in command_lines)


QUIET = "signprep.quiet"  # key in the click context's meta (shared by nested commands): `signprep --quiet`


def is_quiet(ctx: typer.Context) -> bool:
    """Whether `signprep --quiet` asked for no progress bars."""
    return bool(ctx.meta.get(QUIET))
