"""Checkpoint files: written atomically, read with `torch.load(weights_only=True)`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (model,
optimizer, scheduler and scaler state dicts, counters, RNG states from
`signprep.training.seeding.get_rng_state`), so loading never unpickles code.
The file is complete or absent (`signprep.atomic`).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch

from signprep.atomic import atomic_write_bytes, remove_stale_temps

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write `state` to `path` atomically (`signprep.atomic`); on any error the previous file at `path`
    is untouched."""
    path = Path(path)
    # A SIGKILL mid-write leaves its temp file (as large as the checkpoint); one process writes
    # a given checkpoint, so any temp file of this name is such a leftover (found by tests/hardening).
    remove_stale_temps(path)
    # serialised in memory, then written by Python: a failed write is then an OSError with its errno,
    # where torch's own file writer reports a RuntimeError ("iostream error") naming no file or reason
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getbuffer())
    return path


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
