"""Datasets without a metadata format of their own: a CSV of clips, or a folder of videos.

Both give whole-video samples unless the CSV says otherwise (frames 1-based and
inclusive, -1 = to the end, as everywhere in signprep; or a time range in seconds).
"""

from __future__ import annotations

import csv
import os
from dataclasses import replace
from pathlib import Path

from .errors import ManifestError
from .metadata_files import VIDEO_EXTENSIONS
from .names import printable
from .records import Manifest, ManifestCollector, SampleRecord

# Accepted spellings of each column, matched case-insensitively; the first present wins.
PATH_COLUMNS = ("file", "path", "video_path", "video")
ID_COLUMNS = ("sample_id", "video_id", "id")
GLOSS_COLUMNS = ("gloss", "label_name")
SIGNER_COLUMNS = ("signer_id", "signer")
SPLIT_COLUMNS = ("split", "wlasl_split")


def prepare_csv(csv_path: str | Path, *, root: str | Path | None = None) -> Manifest:
    """Build a manifest from a CSV with one row per clip.

    csv_path: the CSV, or a folder holding exactly one *.csv.
    root: the folder relative video paths resolve against (default: the CSV's folder).
    Columns (names case-insensitive): the video from file|path|video_path|video
    (required; a video file or a folder of frame images, `dir/*.png` included); the
    id from sample_id|video_id|id, else the video file's stem (a video_id column also
    fills `video_id`); gloss|label_name; glosses (a gloss sequence, space-separated);
    translation; signer_id|signer (digits become an int); split|wlasl_split; fps
    (frames per second); label (int class index); frame_start/frame_end (1-based,
    inclusive, -1 = to the end) or time_start/time_end (seconds). Empty cells mean
    "not given". Other columns go to `extra`. Without a label column the label is the
    gloss's index among the sorted distinct glosses of the accepted rows, -1 for rows
    without a gloss. Rows whose video is absent go to `Manifest.missing`. A bad row
    (unusable id, repeated id: the first is kept, a cell that is not a number, a bad
    range, more cells than the header) is rejected with its line and the reason; a
    file that is not UTF-8 CSV or has no video column is a ManifestError.
    """
    csv_path = find_single_csv(Path(csv_path)) if Path(csv_path).is_dir() else Path(csv_path)
    root = Path(os.path.abspath(root if root is not None else csv_path.parent))
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = {name.strip().lower(): name for name in reader.fieldnames or []}
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ManifestError(f"cannot read CSV {csv_path}: {e}") from e

    def column(names: tuple[str, ...]) -> str | None:
        return next((columns[n] for n in names if n in columns), None)

    path_column = column(PATH_COLUMNS)
    if path_column is None:
        raise ManifestError(f"{csv_path}: no video column (one of {', '.join(PATH_COLUMNS)})")
    named = {
        "id": column(ID_COLUMNS),
        "gloss": column(GLOSS_COLUMNS),
        "glosses": column(("glosses",)),
        "translation": column(("translation",)),
        "signer": column(SIGNER_COLUMNS),
        "split": column(SPLIT_COLUMNS),
        "fps": column(("fps",)),
        "label": column(("label",)),
        "frame_start": column(("frame_start",)),
        "frame_end": column(("frame_end",)),
        "time_start": column(("time_start",)),
        "time_end": column(("time_end",)),
        "video_id": column(("video_id",)),
    }
    used = {path_column, *named.values()}

    collector = ManifestCollector(csv_path)
    for line, row in rows:
        cells = {name: _cell(value) for name, value in row.items() if name is not None}
        collector.add(
            f"line {line}",
            lambda row=row, cells=cells: _csv_record(row, cells, path_column, named, used, root),
            sample_id=cells.get(named["id"]) if named["id"] else None,
        )
    manifest = collector.manifest()
    return manifest if named["label"] is not None else _with_sorted_gloss_labels(manifest)


def _csv_record(row: dict, cells: dict, path_column: str, named: dict, used: set, root: Path) -> SampleRecord:
    if None in row:  # csv puts cells beyond the header under the key None
        raise ManifestError("more cells than header columns")
    file = cells.get(path_column)
    if file is None:
        raise ManifestError(f"empty {path_column!r}")
    glosses = cells.get(named["glosses"])
    fields = {
        "sample_id": cells.get(named["id"]) or Path(file).stem,
        "video_path": os.path.abspath(os.path.join(root, file)),
        "video_id": cells.get(named["video_id"]),
        "gloss": cells.get(named["gloss"]),
        "glosses": tuple(glosses.split()) if glosses else None,
        "translation": cells.get(named["translation"]),
        "signer_id": _signer(cells.get(named["signer"])),
        "split": cells.get(named["split"]),
        "fps": _number(cells.get(named["fps"]), float, "fps"),
        "label": _number(cells.get(named["label"]), int, "label"),
        "frame_start": _number(cells.get(named["frame_start"]), int, "frame_start"),
        "frame_end": _number(cells.get(named["frame_end"]), int, "frame_end"),
        "time_start": _number(cells.get(named["time_start"]), float, "time_start"),
        "time_end": _number(cells.get(named["time_end"]), float, "time_end"),
        "extra": {name: value for name, value in cells.items() if name not in used and value is not None},
    }
    return SampleRecord(dataset="csv", **{name: value for name, value in fields.items() if value is not None})


def prepare_folder(root: str | Path, *, pattern: str = "**/*") -> Manifest:
    """Build a manifest from every video file under `root` matching `pattern`.

    root: the folder of videos (or of gloss folders of videos).
    pattern: a glob relative to root selecting the files, default every file at any
        depth ("hello/*" for one gloss, "*/*.mp4" for one level of gloss folders).
    A video is a file with one of VIDEO_EXTENSIONS (any case); hidden files are
    skipped (e.g. macOS "._x.mp4" forks). sample_id is the path relative to root
    without its extension, separators replaced by "__" ("hello/a.mp4" ->
    "hello__a"); any Unicode name works ("año/clip 1.mp4" -> "año__clip 1"), names
    are NFC-normalised (a macOS NFD folder name is the same gloss as its NFC
    spelling) and an unusable one (a control character in a file name) is
    rejected. Two files giving one id ("x.mp4" and "x.mov") keep the first in
    sorted order and reject the other. The gloss is the immediate parent folder's
    name for videos in sub-folders, else None; the label is its index among the
    sorted distinct glosses of the accepted videos (-1 without one). Frames are the
    whole video (1..-1).
    """
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise ManifestError(f"video folder {root} does not exist or is not a folder")
    if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise ManifestError(f"pattern {pattern!r} must be a glob relative to {root}, without '..'")
    videos = sorted(
        path
        for path in root.glob(pattern)
        if path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    )
    collector = ManifestCollector(root)
    for path in videos:
        relative = path.relative_to(root)
        sample_id = "__".join(relative.with_suffix("").parts)
        collector.add(
            printable(relative.as_posix()),
            lambda path=path, relative=relative, sample_id=sample_id: SampleRecord(
                sample_id=sample_id,
                video_path=str(path),
                dataset="folder",
                gloss=relative.parts[-2] if len(relative.parts) > 1 else None,
                extra={"relative_path": relative.as_posix()},
            ),
            sample_id=printable(sample_id),
            present=True,
        )
    return _with_sorted_gloss_labels(collector.manifest())


def find_single_csv(folder: Path) -> Path:
    """The one *.csv directly in `folder`; none or several is an error."""
    found = sorted(p for p in folder.glob("*.csv") if p.is_file())
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise ManifestError(f"expected exactly one *.csv in {folder}, found {names}; pass the CSV itself")
    return found[0]


def _with_sorted_gloss_labels(manifest: Manifest) -> Manifest:
    """The manifest with each record's label = its gloss's index among the sorted distinct
    glosses of the manifest's records (missing ones included), -1 for records without one."""
    glosses = sorted({r.gloss for r in manifest.records + manifest.missing if r.gloss is not None})
    label_of = {gloss: index for index, gloss in enumerate(glosses)}

    def labelled(records: list[SampleRecord]) -> list[SampleRecord]:
        return [replace(r, label=label_of.get(r.gloss, -1)) for r in records]

    return Manifest(labelled(manifest.records), labelled(manifest.missing), manifest.rejected)


def _cell(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _signer(value: str | None) -> int | str | None:
    # Integer signer ids compare equal to the ones WLASL's JSON carries.
    return int(value) if value is not None and value.isdigit() else value


def _number(value: str | None, kind: type, name: str):
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ManifestError(f"{name} {value!r} is not a valid {kind.__name__}") from None
