"""Checkpoint files: written atomically, read with `torch.load(weights_only=True)`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (model,
optimizer, scheduler and scaler state dicts, counters, RNG states from
`signprep.train.seeding.get_rng_state`), so loading never unpickles code.
The file is complete or absent: it is written to a temporary file in the same
folder, fsynced, then renamed over the old one.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import torch

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write `state` to `path` atomically; on any error the previous file at `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A SIGKILL mid-write leaves its temp file (as large as the checkpoint); one process writes
    # a given checkpoint, so any temp file of this name is such a leftover (found by tests/hardening).
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # BaseException: a Ctrl-C mid-write must not leave a stray temp file either
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # make the rename itself durable
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform/file system; the data itself is synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class CheckpointError(ValueError):
    """A checkpoint file is damaged or holds more than tensors and plain containers; names the file."""


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint`; only tensors and plain containers are accepted."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's own message goes on to suggest weights_only=False, which would run the
        # file's code: for a checkpoint from elsewhere, the one advice not to give
        raise CheckpointError(
            f"checkpoint {path} is not a weights-only file: damaged, or holding objects other than tensors and "
            f"plain containers, which are refused since loading them would run code from the file ({_first_line(e)})"
        ) from None
    except FileNotFoundError:
        raise  # its message names the file already
    except (RuntimeError, EOFError, OSError) as e:  # torch's messages for a truncated file omit its name
        raise CheckpointError(f"checkpoint {path} is damaged or not a checkpoint: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0].split(". ")[0] if text else type(e).__name__
