"""Reading a download's metadata files and listing its media, the same way for every builder.

Whatever cannot be parsed at all (unreadable, not JSON, not UTF-8, no header, a pickle that
would run code) is a ManifestError naming the file: the whole dataset stops there (exit 2).
Problems of single rows are returned with the row, for the builder to reject that entry only.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import pickle
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from signprep.video.frame_folder import split_pattern

from .errors import ManifestError

# Containers a download's videos come in. When one id exists in several, the
# earlier extension wins (.mp4 is what most downloaders produce).
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi")

_GZIP_MAGIC = b"\x1f\x8b"


def load_metadata_json(path: Path):
    """Parse a JSON metadata file, plain or gzip-compressed.

    Compression is detected from the file's first bytes, not its name, because
    downloads get renamed. Any failure is a ManifestError that names the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ManifestError(f"cannot read metadata {path}: {e.strerror}") from e
    if raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ManifestError(f"{path}: corrupt or truncated gzip data ({e})") from e
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: not valid JSON ({e})") from e


def index_videos(folder: Path) -> dict[str, Path]:
    """Map the stem of every video file directly in `folder` to its absolute path.

    The folder is listed once, so looking up tens of thousands of ids costs no
    further file-system calls. A missing folder is an error rather than "every
    video missing", which would hide a mistyped path.
    """
    folder = Path(os.path.abspath(folder))
    rank = {ext: n for n, ext in enumerate(VIDEO_EXTENSIONS)}
    best: dict[str, tuple[int, Path]] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError as e:
        raise ManifestError(f"cannot list video folder {folder}: {e.strerror}") from e
    for entry in entries:
        stem, ext = os.path.splitext(entry.name)
        ext_rank = rank.get(ext.lower())
        if ext_rank is None or not entry.is_file():
            continue
        if stem not in best or ext_rank < best[stem][0]:
            best[stem] = (ext_rank, folder / entry.name)
    return {stem: path for stem, (_, path) in best.items()}


def source_present(video_path: str | Path) -> bool:
    """Whether a record's source exists: a video file, a frame folder, or the folder of a
    frame glob (`dir/*.png`; its files are checked when decoded)."""
    folder, pattern = split_pattern(video_path)
    if pattern is not None:
        return folder.is_dir()
    return folder.is_file() or folder.is_dir()


@dataclass(frozen=True)
class TableRow:
    """One data row of a delimited file: its line number (1-based, the header is line 1),
    its cells by column name, and why it does not fit the header's columns, if it does not
    (then `cells` holds as many columns as it has cells, to name the entry by)."""

    line: int
    cells: dict[str, str]
    problem: str | None = None


def read_table(path: Path, *, delimiter: str, required: tuple[str, ...], quoting: int = csv.QUOTE_MINIMAL):
    """The header and rows of a delimited text file with a header line (PHOENIX's `|` corpus
    files, CSL-Daily's label files, How2Sign's tab-separated CSVs).

    Returns (columns, rows). Column names are compared stripped; a missing required column,
    an unreadable or non-UTF-8 file or one without a header is a ManifestError naming the
    file. A row with more or fewer cells than the header is returned with its `problem` set.
    Blank lines are skipped. A leading byte-order mark is dropped.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise ManifestError(f"cannot read {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=False)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise ManifestError(f"{path}: empty file, expected a header line")
        columns = [cell.strip() for cell in header]
        absent = [c for c in required if c not in columns]
        if absent:
            raise ManifestError(
                f"{path}: no column {', '.join(map(repr, absent))} in the header "
                f"{delimiter.join(columns)!r} (expected {delimiter.join(required)!r})"
            )
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                problem = f"{len(cells)} cells, the header has {len(columns)}"
                rows.append(TableRow(reader.line_num, dict(zip(columns, cells, strict=False)), problem))
            else:
                rows.append(TableRow(reader.line_num, dict(zip(columns, cells, strict=True))))
    except csv.Error as e:
        raise ManifestError(f"{path}:{reader.line_num}: cannot parse as {delimiter!r}-separated text ({e})") from e
    return columns, rows


# Builtins that plain data (dicts, lists, strings, numbers) may name in a pickle; protocol 2+
# pickles of such data name none at all, older ones name these. Anything else (os.system,
# builtins.eval, a class) would be code run by unpickling.
_PLAIN_GLOBALS = {
    ("builtins", name)
    for name in ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float", "bool")
} | {("collections", "OrderedDict")}


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle names something other than plain data."""


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _PLAIN_GLOBALS:
            raise _RefusedGlobal(f"it refers to {module}.{name}")
        return super().find_class(module, name)


def load_plain_pickle(path: Path):
    """Unpickle a metadata file that must hold plain data only (dicts, lists, strings, numbers).

    A pickle from a download runs code when unpickled by `pickle.load`; this reader refuses
    any global other than a few plain builtins, before it is called, with a ManifestError
    naming the file and the global.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _PlainDataUnpickler(f).load()
    except OSError as e:
        raise ManifestError(f"cannot read {path}: {e.strerror}") from e
    except _RefusedGlobal as e:
        raise ManifestError(
            f"{path}: refused: a metadata pickle may hold plain data only (dicts, lists, strings, numbers), but {e}"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise ManifestError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None


def split_list(splits: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """A builder's `splits` option as a tuple: "train,dev" (the CLI's KEY=VALUE form) or a list."""
    if splits is None:
        return None
    names = splits.split(",") if isinstance(splits, str) else list(splits)
    names = [str(n).strip() for n in names if str(n).strip()]
    if not names:
        raise ManifestError(f"splits {splits!r} names no split")
    return tuple(dict.fromkeys(names))


def first_existing(candidates: Iterable[Path], *, folder: bool = True) -> Path | None:
    """The first of `candidates` that is an existing folder (or file, with folder=False)."""
    for path in candidates:
        if path.is_dir() if folder else path.is_file():
            return path
    return None


def relative_inside(value: str, what: str) -> str:
    """`value` if it is a relative path that stays inside its folder (no "..", not absolute)."""
    parts = Path(value).parts
    if not value or Path(value).is_absolute() or ".." in parts or "\\" in value:
        raise ManifestError(f"{what} {value!r} is not a relative path inside the frame folder")
    return value


def split_files(
    folder: Path, name: str, splits: tuple[str, ...] | None, every_split: tuple[str, ...], dataset: str
) -> dict[str, Path]:
    """{split: path} of a dataset's per-split files `folder/name.format(split=...)` (PHOENIX's
    corpus files). `splits` given: each must exist. None: the splits of `every_split` whose file
    exists, at least one. Otherwise a ManifestError naming what was looked for."""
    files = {split: folder / name.format(split=split) for split in (splits if splits is not None else every_split)}
    if splits is not None:
        absent = [str(p) for p in files.values() if not p.is_file()]
        if absent:
            raise ManifestError(f"no {dataset} corpus file {', '.join(absent)}")
        return files
    files = {split: path for split, path in files.items() if path.is_file()}
    if not files:
        looked_for = name.format(split="{" + ",".join(every_split) + "}")
        raise ManifestError(f"no {dataset} corpus files in {folder} (looked for {looked_for})")
    return files
