"""The one reader of PHOENIX corpus files, shared by the phoenix2014 and phoenix2014t builders.

Both releases ship one `|`-separated corpus file per split with a header row; only the columns
and the record made of a row differ. Each row becomes a record or a rejected entry naming its line.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from .metadata_files import TableRow, read_table
from .records import Manifest, ManifestCollector, SampleRecord


def read_corpus_files(
    files: dict[str, Path],
    *,
    columns: tuple[str, ...],
    id_column: str,
    record_of: Callable[[TableRow, str], SampleRecord],
) -> Manifest:
    """The manifest of {split: corpus file}: `record_of(row, split)` for every row; a row it
    raises on is rejected with its line (the id, when the row has one, named beside it)."""
    collector = ManifestCollector(next(iter(files.values())))
    for split, path in files.items():
        # QUOTE_NONE: the corpus files are unquoted, so a double quote in a sentence is text.
        _, rows = read_table(path, delimiter="|", required=columns, quoting=csv.QUOTE_NONE)
        for row in rows:
            collector.add(
                f"line {row.line}",
                lambda row=row, split=split: record_of(row, split),
                sample_id=row.cells.get(id_column) or None,
                metadata=path,
            )
    return collector.manifest()
