"""Files that appear complete or not at all: write to `*.tmp`, fsync, rename.

A failed write (disk full, quota, I/O error) raises `ShardWriteError`: one line naming the file
and the reason, with what to do when the disk is full. Python's own OSError from a failed
`write`/`flush` names no file, and h5py's is a multi-line C report.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path


class ShardWriteError(OSError):
    """Writing a part, a shard or a bookkeeping file of an output directory failed; the message
    names the file and the reason. Files already complete (indexed shards, finished parts) are intact."""


def write_failure(path: Path, error: BaseException) -> ShardWriteError:
    """One clear line for a failed write of `path`; keeps the errno (also from h5py's
    "errno = 28, error message = ..." reports)."""
    code = getattr(error, "errno", None)
    if not code:
        found = re.search(r"errno = (\d+)", str(error))
        code = int(found.group(1)) if found else None
    reason = (
        os.strerror(code) if code else f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    )
    hint = " (free space, then rerun the same command)" if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ""
    return ShardWriteError(code or errno.EIO, f"cannot write {path}: {reason}{hint}")


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        tmp.unlink(missing_ok=True)  # a disk-full failure must not leave a stray temp file
        raise write_failure(path, e) from None
    tmp.replace(path)
    fsync_path(path.parent)
