"""Durable writes: every file signprep writes is complete or absent, never half-written.

One policy for every writer (shards and parts, the shard index, manifests, summaries,
checkpoints, metrics, features files, caches, pictures):

1. write to a temporary file `NAME.<random>.tmp` in the destination's own folder (a rename
   is atomic only within one file system);
2. flush and fsync it, so its bytes are on disk before its name is;
3. rename it over `NAME` and fsync the folder, so the rename itself survives a power cut;
4. on any failure, Ctrl-C included, remove the temporary file (on a full disk it holds the
   space the next writes need) and leave an earlier `NAME` untouched.

A SIGKILL can still leave a `*.tmp` behind: `remove_stale_temps(path)` clears those of one
destination, `remove_stale_temps_in(folder)` those of every destination in a folder (the export
job, under its lock), and `shards.recover` those of an output directory.

A failed write (disk full, quota, I/O error) raises `WriteError`: one line naming the file
and the reason, with what to do when the disk is full. Python's own OSError from a failed
`write`/`flush` names no file, and h5py's is a multi-line C report.

Entry points: `atomic_write_text`, `atomic_write_bytes`; `atomic_path`, a context that
yields the temporary path for libraries that write a file themselves (torch.save, numpy,
PyAV); and `atomic_hdf5`, an HDF5 file built in memory and written the same way, because
HDF5 crashes the process when a write to disk fails mid-file (a segfault closing the file
after ENOSPC or EFBIG: h5py issues #914 and #2160), which would leave its temp file behind.
"""

from __future__ import annotations

import errno
import io
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import h5py

__all__ = [
    "WriteError",
    "atomic_hdf5",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_path",
    "remove_stale_temps",
    "remove_stale_temps_in",
    "write_failure",
]

TEMP_SUFFIX = ".tmp"


class WriteError(OSError):
    """Writing a file failed; the message names the file and the reason. Files already complete
    (indexed shards, finished parts, the previous checkpoint) are intact."""


def write_failure(path: Path, error: BaseException) -> WriteError:
    """One clear line for a failed write of `path`; keeps the errno (also from h5py's
    "errno = 28, error message = ..." reports)."""
    if isinstance(error, WriteError):
        return error
    code = getattr(error, "errno", None)
    cause = error.__context__
    while not code and cause is not None:  # torch's writer reports a failed write as a later RuntimeError
        code = getattr(cause, "errno", None) if isinstance(cause, OSError) else None
        cause = cause.__context__
    if not code:
        found = re.search(r"errno = (\d+)", str(error))
        code = int(found.group(1)) if found else None
    reason = (
        os.strerror(code) if code else f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    )
    hint = " (free space, then rerun the same command)" if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ""
    return WriteError(code or errno.EIO, f"cannot write {path}: {reason}{hint}")


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by name. Folders that cannot be synced (some file systems refuse)
    are left as they are: the data itself is synced."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if Path(path).is_dir():
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not Path(path).is_dir():
            raise
    finally:
        os.close(fd)


def temp_path_for(path: Path) -> Path:
    """A fresh temporary name beside `path`: unique per call, so concurrent writers of one
    destination (ranks under torchrun, two workers given the same sample) never share one."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def remove_stale_temps(path: Path) -> None:
    """Delete temporary files of `path` left by a writer that was killed mid-write. Only for
    destinations that one process writes at a time (a run's checkpoint)."""
    for stale in Path(path).parent.glob(f"{Path(path).name}.*{TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)


def remove_stale_temps_in(folder: Path) -> list[Path]:
    """Delete the temporary files this module's writers left in `folder` (names `NAME.<pid>-<8 hex>.tmp`;
    other `.tmp` files are not ours). Only while no other process writes there (a held output lock)."""
    stale = [p for p in Path(folder).glob(f"*{TEMP_SUFFIX}") if _TEMP_NAME.search(p.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


_TEMP_NAME = re.compile(rf"\.\d+-[0-9a-f]{{8}}{re.escape(TEMP_SUFFIX)}$")


@contextmanager
def atomic_path(path: str | Path, *, errors: tuple[type[BaseException], ...] = (OSError,)) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends normally, fsync it and rename it
    over `path`. On any exception the temporary file is removed and `path` is untouched; the
    exceptions in `errors` (OSError; h5py also raises RuntimeError) become one `WriteError` line.

    The block must close what it wrote to the temporary path (a `with h5py.File(tmp, "w")`
    inside) before it ends."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException as e:  # BaseException: a Ctrl-C mid-write must not leave a stray temp file
        tmp.unlink(missing_ok=True)
        if isinstance(e, errors):
            raise write_failure(path, e) from None
        raise
    fsync_path(path.parent)  # make the rename itself durable


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (the module's policy); returns the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically (the module's policy); returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def atomic_hdf5(path: str | Path) -> Iterator[h5py.File]:
    """Yield a new, empty `h5py.File` held in memory; when the block ends normally its bytes are
    written to `path` with `atomic_write_bytes`. Memory use is the file's size: one sample's part,
    one shard (`storage.max_shard_mb`), one features file."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        yield f
    atomic_write_bytes(path, buffer.getbuffer())
