"""Dataset downloads -> manifests of `SampleRecord`s.

`build_manifest("wlasl", root)` picks the builder by dataset name; each builder
is also importable on its own. A builder returns a `Manifest`: the records, those
whose video (or frame folder) is absent, and the metadata entries it rejected,
each with its place and reason (`RejectedEntry`); only metadata that cannot be
parsed at all raises a ManifestError.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from .csl_daily import prepare_csl_daily
from .errors import ManifestError
from .how2sign import prepare_how2sign
from .msasl import prepare_msasl
from .names import MAX_NAME_BYTES, check_sample_id, normalise_name, output_file_stem, safe_file_name
from .phoenix2014 import prepare_phoenix2014
from .phoenix2014t import prepare_phoenix2014t
from .records import (
    Manifest,
    ManifestCollector,
    RejectedEntry,
    SampleRecord,
    load_manifest,
    read_manifest,
    write_manifest,
)
from .table import prepare_csv, prepare_folder
from .wlasl import prepare_wlasl

# Each builder takes the dataset's location first; its other options are keywords
# (each with a line in its docstring), which the CLI passes through as strings.
# "csv" accepts the CSV file or a folder holding exactly one.
BUILDERS: dict[str, Callable[..., Manifest]] = {
    "wlasl": prepare_wlasl,
    "msasl": prepare_msasl,
    "csv": prepare_csv,
    "folder": prepare_folder,
    "phoenix2014t": prepare_phoenix2014t,
    "phoenix2014": prepare_phoenix2014,
    "csl-daily": prepare_csl_daily,
    "how2sign": prepare_how2sign,
}


def build_manifest(dataset: str, root: Path, **options) -> Manifest:
    """Build the manifest of `dataset` (a BUILDERS key) found at `root`.

    Options are the chosen builder's keyword arguments; an unknown dataset or
    option is a ManifestError listing what is known.
    """
    accepted = builder_options(dataset)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ManifestError(
            f"dataset {dataset!r} takes no option {', '.join(unknown)}; its options: {', '.join(accepted)}"
        )
    return BUILDERS[dataset](Path(root), **options)


def builder_options(dataset: str) -> list[str]:
    """The keyword options of the builder of `dataset` (a BUILDERS key), in signature order."""
    builder = BUILDERS.get(dataset)
    if builder is None:
        raise ManifestError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(BUILDERS))}")
    return [p.name for p in inspect.signature(builder).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


__all__ = [
    "BUILDERS",
    "MAX_NAME_BYTES",
    "Manifest",
    "ManifestCollector",
    "ManifestError",
    "RejectedEntry",
    "SampleRecord",
    "build_manifest",
    "builder_options",
    "check_sample_id",
    "load_manifest",
    "normalise_name",
    "prepare_csl_daily",
    "prepare_csv",
    "prepare_folder",
    "prepare_how2sign",
    "prepare_msasl",
    "prepare_phoenix2014",
    "prepare_phoenix2014t",
    "prepare_wlasl",
    "read_manifest",
    "output_file_stem",
    "safe_file_name",
    "write_manifest",
]
