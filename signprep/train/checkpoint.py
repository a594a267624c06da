"""Checkpoint files: written atomically, read with `torch.load(weights_only=True)`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (model,
optimizer, scheduler and scaler state dicts, counters, RNG states from
`signprep.train.seeding.get_rng_state`), so loading never unpickles code.
The file is complete or absent: it is written to a temporary file in the same
folder, fsynced, then renamed over the old one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write `state` to `path` atomically; on any error the previous file at `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint`; only tensors and plain containers are accepted."""
    return torch.load(Path(path), map_location=map_location, weights_only=True)
