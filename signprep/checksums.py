"""sha256 checksums of files: shard files (index, verify) and samples' sources (videos, frame folders)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_BLOCK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of one file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    _update(digest, Path(path))
    return digest.hexdigest()


def files_sha256(paths: Iterable[Path]) -> str:
    """sha256 (hex) over several files in the given order, each as its name, a NUL, then its bytes:
    renaming, reordering or changing any file changes it."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode("utf-8", "surrogateescape") + b"\0")
        _update(digest, path)
    return digest.hexdigest()


def _update(digest, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
