"""Dataset downloads -> manifests of `SampleRecord`s.

`build_manifest("wlasl", root)` picks the builder by dataset name; each builder
is also importable on its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from .msasl import prepare_msasl
from .records import (
    Manifest,
    ManifestError,
    SampleRecord,
    check_sample_id,
    read_manifest,
    write_manifest,
)
from .table import prepare_csv, prepare_folder
from .wlasl import prepare_wlasl

# Each builder takes the dataset's location first; its other options are keywords.
# "csv" accepts the CSV file or a folder holding exactly one.
BUILDERS: dict[str, Callable[..., Manifest]] = {
    "wlasl": prepare_wlasl,
    "msasl": prepare_msasl,
    "csv": prepare_csv,
    "folder": prepare_folder,
}


def build_manifest(dataset: str, root: Path, **options) -> Manifest:
    """Build the manifest of `dataset` (a BUILDERS key) found at `root`.

    Options are the chosen builder's keyword arguments; an unknown dataset or
    option is a ManifestError listing what is known.
    """
    builder = BUILDERS.get(dataset)
    if builder is None:
        raise ManifestError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(BUILDERS))}")
    accepted = [
        p.name for p in inspect.signature(builder).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ManifestError(
            f"dataset {dataset!r} takes no option {', '.join(unknown)}; its options: {', '.join(accepted)}"
        )
    return builder(Path(root), **options)


__all__ = [
    "BUILDERS",
    "Manifest",
    "ManifestError",
    "SampleRecord",
    "build_manifest",
    "check_sample_id",
    "prepare_csv",
    "prepare_folder",
    "prepare_msasl",
    "prepare_wlasl",
    "read_manifest",
    "write_manifest",
]
