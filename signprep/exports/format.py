"""What an export format declares, so that the export job (signprep/exports/job.py) knows it only through this.

A format turns one shard sample into what it writes (`export_sample`, run in a worker process):
a file of its own (`per_sample`: .pose, .npz) or a part of one file for every sample (pyskl's
annotation pickle); and at the end of the job writes its one file for all samples (`finish`: the
attribute table, the re-import manifest, the pickle) in the driver, from one `row` per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from signprep.manifests.names import output_file_stem

if TYPE_CHECKING:
    from signprep.shards.reader import SampleView


def sample_file_name(sample_id: str, suffix: str) -> str:
    """The name of a sample's file in DIR: the id itself when it is a plain ASCII file name (WLASL's
    "00335"), else its safe stem ("año 1" -> "ano_1-<20 hex digits>"); the one rule of
    signprep.manifests.names.output_file_stem. The format's table or manifest maps each file to its id."""
    return f"{output_file_stem(sample_id)}{suffix}"


class ExportError(ValueError):
    """Bad arguments of an export (an unknown format, subset, modality or sample id); nothing was written."""


@dataclass
class Exported:
    """What exporting one sample gave: the bytes it wrote and its row for the format's `finish`."""

    sample_id: str
    bytes: int = 0  # written by export_sample (0 for a format that writes at the end)
    frames: int = 0
    row: Any = None  # a table row, a manifest record, an annotation: the format's
    error: str | None = None  # set when it failed (then nothing of it was written)


class ExportFormat(Protocol):
    name: str  # the --format value
    per_sample: bool  # one file per sample (skipped when it exists), or one file at the end

    def options(self) -> dict[str, Any]:
        """The settings that change what is written (recorded in DIR/export.json)."""

    def check(self, sample: SampleView) -> None:
        """Raise ExportError when the shards cannot give this export (e.g. a modality they lack);
        asked of the first selected sample before anything is written."""

    # per-sample formats: a sample's file in DIR is `sample_file_name(sample_id, suffix)`; others write `output_name`
    suffix: str
    output_name: str

    def export_sample(self, sample: SampleView, dest: Path) -> Exported:
        """Write the sample's file (per-sample formats, atomically) or return its part; never writes elsewhere."""

    def row_of(self, sample: SampleView) -> Any:
        """The sample's row for `finish` from its attributes alone (for samples exported by an earlier run)."""

    def read_rows(self, dest: Path) -> dict[str, Any]:
        """The rows an earlier run's `finish` wrote to DIR (sample id -> row), or {}."""

    def finish(self, dest: Path, rows: dict[str, Any]) -> list[Path]:
        """Write the format's files for all of `rows` (sample id -> row, in id order); returns their paths."""
