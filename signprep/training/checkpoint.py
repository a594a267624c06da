"""Checkpoint files: written atomically, read with `torch.load(weights_only=True)`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (model,
optimizer, scheduler and scaler state dicts, counters, RNG states from
`signprep.training.seeding.get_rng_state`), so loading never unpickles code.
The file is complete or absent (`signprep.atomic`).

A training run's checkpoint (`Trainer.state_dict`) also holds the run's `config` and the
`metadata` its recipe needs to rebuild the model (vocabulary, signers, ...): `load_run` is
the one reader of both, for every `load_<model>`.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from signprep.atomic import atomic_write_bytes, remove_stale_temps

__all__ = ["CheckpointError", "RunCheckpoint", "check_plain", "load_checkpoint", "load_run", "save_checkpoint"]


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


class RunCheckpoint(NamedTuple):
    """What `load_run` reads from a training run's checkpoint."""

    config: dict[str, Any]  # the run's config as dumped (validate it with the recipe's config class)
    metadata: dict[str, Any]  # what the recipe gave `Trainer(metadata=...)`
    model: dict[str, torch.Tensor]  # the model's state dict


def load_run(path: str | Path, metadata_keys: Iterable[str] = ()) -> RunCheckpoint:
    """(config, metadata, model state) of a checkpoint written by `Trainer`, on the CPU.

    Raises CheckpointError naming the file when it is not a training checkpoint or its metadata
    lacks one of `metadata_keys` (a run of another model, or of a signprep that kept the
    metadata in side files).
    """
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict) or "model" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not a signprep training checkpoint (no config and model)")
    metadata = ckpt.get("metadata") or {}
    missing = [k for k in metadata_keys if k not in metadata]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} lacks the run metadata {', '.join(missing)}: a run of another model, or written "
            "by an older signprep (metadata in side files); retrain it"
        )
    return RunCheckpoint(ckpt["config"], metadata, ckpt["model"])


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def check_plain(value: Any, where: str = "metadata") -> None:
    """Raise TypeError naming the first entry that `torch.load(weights_only=True)` would refuse to read back:
    anything but str, int, float, bool, None, tensors, and lists, tuples and dicts (str or int keys) of them."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}, not a str or int")
            check_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]")
    else:
        raise TypeError(
            f"{where} is a {type(value).__module__}.{type(value).__name__}: a checkpoint holds only plain values "
            "(convert numpy scalars with int()/float(), arrays with .tolist())"
        )


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0].split(". ")[0] if text else type(e).__name__
