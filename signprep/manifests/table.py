"""Datasets without a metadata format of their own: a CSV of clips, or a folder of videos.

Both give whole-video samples unless the CSV says otherwise (frames 1-based and
inclusive, -1 = to the end, as everywhere in signprep).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .records import VIDEO_EXTENSIONS, Manifest, ManifestError, SampleRecord, check_sample_id

# Accepted spellings of each column, matched case-insensitively; the first present wins.
PATH_COLUMNS = ("file", "path", "video_path", "video")
ID_COLUMNS = ("sample_id", "video_id", "id")
GLOSS_COLUMNS = ("gloss", "label_name")
SIGNER_COLUMNS = ("signer_id", "signer")
SPLIT_COLUMNS = ("split", "wlasl_split")


def prepare_csv(csv_path: str | Path, *, root: str | Path | None = None) -> Manifest:
    """Build a manifest from a CSV with one row per clip.

    csv_path: the CSV, or a folder holding exactly one *.csv.
    Columns (names case-insensitive): the video from file|path|video_path|video
    (required; relative paths resolve against `root`, default the CSV's folder);
    the id from sample_id|video_id|id, else the video file's stem (a video_id
    column also fills `video_id`); gloss|label_name;
    signer_id|signer (digits become an int); split|wlasl_split; fps (frames per
    second); label (int class index); frame_start/frame_end (1-based, inclusive,
    -1 = to the end). Empty cells mean "not given". Other columns go to `extra`.
    Without a label column the label is the gloss's index among the sorted
    distinct glosses, -1 for rows without a gloss. Rows whose video is absent go
    to `Manifest.missing`.
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
    id_column, gloss_column = column(ID_COLUMNS), column(GLOSS_COLUMNS)
    signer_column, split_column = column(SIGNER_COLUMNS), column(SPLIT_COLUMNS)
    fps_column, label_column = column(("fps",)), column(("label",))
    start_column, end_column = column(("frame_start",)), column(("frame_end",))
    video_id_column = column(("video_id",))
    used = {path_column, id_column, gloss_column, signer_column, split_column, fps_column, label_column}
    used |= {start_column, end_column, video_id_column}

    parsed = []
    for line, row in rows:
        where = f"{csv_path}:{line}"
        cells = {name: _cell(value) for name, value in row.items() if name is not None}
        if None in row:  # csv puts cells beyond the header under the key None
            raise ManifestError(f"{where}: more cells than header columns")
        file = cells.get(path_column)
        if file is None:
            raise ManifestError(f"{where}: empty {path_column!r}")
        video_path = os.path.abspath(os.path.join(root, file))
        fields = {
            "sample_id": cells.get(id_column) or Path(file).stem,
            "video_path": video_path,
            "video_id": cells.get(video_id_column),
            "gloss": cells.get(gloss_column),
            "signer_id": _signer(cells.get(signer_column)),
            "split": cells.get(split_column),
            "fps": _number(cells.get(fps_column), float, "fps", where),
            "label": _number(cells.get(label_column), int, "label", where),
            "frame_start": _number(cells.get(start_column), int, "frame_start", where),
            "frame_end": _number(cells.get(end_column), int, "frame_end", where),
            "extra": {name: value for name, value in cells.items() if name not in used and value is not None},
        }
        parsed.append((where, fields, os.path.isfile(video_path)))

    if label_column is None:
        label_of = _labels_by_sorted_gloss(fields["gloss"] for _, fields, _ in parsed)
        for _, fields, _ in parsed:
            fields["label"] = label_of.get(fields["gloss"], -1)
    return _manifest(parsed, dataset="csv")


def prepare_folder(root: str | Path, *, pattern: str = "**/*") -> Manifest:
    """Build a manifest from every video file under `root` matching `pattern`.

    A video is a file with one of VIDEO_EXTENSIONS (any case); hidden files are
    skipped (e.g. macOS "._x.mp4" forks). sample_id is the path relative to root
    without its extension, separators replaced by "__" ("hello/a.mp4" ->
    "hello__a"), so it must use only letters, digits, '.', '_', '-'. The gloss
    is the immediate parent folder's name for videos in sub-folders, else None;
    the label is its index among the sorted distinct glosses (-1 without one).
    Frames are the whole video (1..-1).
    """
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise ManifestError(f"video folder {root} does not exist or is not a folder")
    videos = sorted(
        path
        for path in root.glob(pattern)
        if path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    )
    parsed = []
    for path in videos:
        relative = path.relative_to(root)
        where = str(path)
        fields = {
            "sample_id": "__".join(relative.with_suffix("").parts),
            "video_path": str(path),
            "gloss": relative.parts[-2] if len(relative.parts) > 1 else None,
            "extra": {"relative_path": relative.as_posix()},
        }
        parsed.append((where, fields, True))
    label_of = _labels_by_sorted_gloss(fields["gloss"] for _, fields, _ in parsed)
    for _, fields, _ in parsed:
        fields["label"] = label_of.get(fields["gloss"], -1)
    return _manifest(parsed, dataset="folder")


def find_single_csv(folder: Path) -> Path:
    """The one *.csv directly in `folder`; none or several is an error."""
    found = sorted(p for p in folder.glob("*.csv") if p.is_file())
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise ManifestError(f"expected exactly one *.csv in {folder}, found {names}; pass the CSV itself")
    return found[0]


def _manifest(parsed: list[tuple[str, dict, bool]], dataset: str) -> Manifest:
    records: list[SampleRecord] = []
    missing: list[SampleRecord] = []
    first_seen: dict[str, str] = {}
    for where, fields, present in parsed:
        fields = {name: value for name, value in fields.items() if value is not None}
        sample_id = fields["sample_id"]
        try:
            check_sample_id(sample_id)
            record = SampleRecord(dataset=dataset, **fields)
        except ManifestError as e:
            raise ManifestError(f"{where}: {e}") from e
        if sample_id in first_seen:
            raise ManifestError(f"{where}: sample id {sample_id!r} already used by {first_seen[sample_id]}")
        first_seen[sample_id] = where
        (records if present else missing).append(record)
    return Manifest(records=records, missing=missing)


def _labels_by_sorted_gloss(glosses) -> dict[str, int]:
    return {gloss: index for index, gloss in enumerate(sorted({g for g in glosses if g is not None}))}


def _cell(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _signer(value: str | None) -> int | str | None:
    # Integer signer ids compare equal to the ones WLASL's JSON carries.
    return int(value) if value is not None and value.isdigit() else value


def _number(value: str | None, kind: type, name: str, where: str):
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ManifestError(f"{where}: {name} {value!r} is not a valid {kind.__name__}") from None
