"""The manifest record: one sample (one sign instance) of any dataset.

Every dataset builder turns a download into a list of `SampleRecord`s; everything
after that (decode, stages, shards, training) never knows which dataset a record
came from.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from signprep.atomic import atomic_write_text

# Sample ids become HDF5 group names and file names of staging parts, so they
# must not carry path separators or traversal.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


class ManifestError(ValueError):
    """A manifest or dataset metadata file is unusable; the message names it."""


def check_sample_id(sample_id: str) -> str:
    if not _SAFE_ID.match(sample_id) or ".." in sample_id:
        raise ManifestError(
            f"sample id {sample_id!r} is not safe as a file or group name "
            "(allowed: letters, digits, '.', '_', '-'; no '..'; at most 128 characters)"
        )
    return sample_id


@dataclass(frozen=True)
class SampleRecord:
    """One sample to extract.

    Frame ranges follow WLASL: `frame_start` is 1-based, `frame_end` is inclusive
    and -1 means "to the end of the video". `bbox` is [x1, y1, x2, y2] in pixels
    of the source video, or None.
    """

    sample_id: str
    video_path: str  # absolute, or relative to the directory the manifest lives in
    dataset: str
    gloss: str | None = None
    label: int = -1  # class index; -1 = unlabelled
    signer_id: int | str | None = None
    split: str | None = None
    frame_start: int = 1
    frame_end: int = -1
    fps: float | None = None  # fps declared by the metadata (the decoder's wins)
    bbox: tuple[int, int, int, int] | None = None
    source: str | None = None
    video_id: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_sample_id(self.sample_id)
        if self.frame_start < 1:
            raise ManifestError(f"sample {self.sample_id}: frame_start {self.frame_start} < 1 (frames are 1-based)")
        if self.frame_end != -1 and self.frame_end < self.frame_start:
            raise ManifestError(
                f"sample {self.sample_id}: frame_end {self.frame_end} is before frame_start {self.frame_start}"
            )

    def to_json(self) -> str:
        d = asdict(self)
        if d["bbox"] is not None:
            d["bbox"] = list(d["bbox"])
        return json.dumps(d, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> SampleRecord:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ManifestError(f"unknown manifest fields {sorted(unknown)}")
        missing = sorted(f.name for f in fields(cls) if f.name in _REQUIRED and f.name not in d)
        if missing:
            raise ManifestError(f"missing manifest fields {missing}")
        # A manifest is data from elsewhere: a wrong type would otherwise surface later as a
        # crash or a wrong shard attribute (label "x", frame_end 2.5, bbox of two numbers).
        for name, value in d.items():
            kinds, wanted = _FIELD_TYPES[name]
            if value is None and None in kinds:
                continue
            if isinstance(value, bool) or not isinstance(value, tuple(k for k in kinds if k is not None)):
                raise ManifestError(f"field {name!r} must be {wanted}, got {value!r}")
        d = dict(d)
        if d.get("bbox") is not None:
            bbox = d["bbox"]
            if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
                raise ManifestError(f"field 'bbox' must be [x1, y1, x2, y2] in pixels, got {bbox!r}")
            d["bbox"] = tuple(int(v) for v in bbox)
        if d.get("fps") is not None and not d["fps"] > 0:
            raise ManifestError(f"field 'fps' must be positive, got {d['fps']!r}")
        return cls(**d)


_REQUIRED = ("sample_id", "video_path", "dataset")
# field -> (accepted JSON types, None = null allowed; what to say when it is wrong)
_FIELD_TYPES: dict[str, tuple[tuple, str]] = {
    "sample_id": ((str,), "a string"),
    "video_path": ((str,), "a string"),
    "dataset": ((str,), "a string"),
    "gloss": ((str, None), "a string or null"),
    "label": ((int,), "an integer class index"),
    "signer_id": ((int, str, None), "an integer, a string or null"),
    "split": ((str, None), "a string or null"),
    "frame_start": ((int,), "an integer frame number (1-based)"),
    "frame_end": ((int,), "an integer frame number (inclusive, -1 = end)"),
    "fps": ((int, float, None), "a number or null"),
    "bbox": ((list, tuple, None), "[x1, y1, x2, y2] or null"),
    "source": ((str, None), "a string or null"),
    "video_id": ((str, None), "a string or null"),
    "extra": ((dict,), "a JSON object"),
}


@dataclass
class Manifest:
    """The records of a dataset plus what the builder could not find."""

    records: list[SampleRecord]
    missing: list[SampleRecord] = field(default_factory=list)  # video file absent

    def __len__(self) -> int:
        return len(self.records) + len(self.missing)


def write_manifest(records: Iterable[SampleRecord], path: Path) -> None:
    """Write records as JSON lines, atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(r.to_json() + "\n" for r in records))


def read_manifest(path: Path) -> list[SampleRecord]:
    """Read a JSON-lines manifest; relative video paths resolve against its folder."""
    path = Path(path)
    records = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ManifestError(f"cannot read manifest {path}: {e.strerror}") from e
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise ManifestError(f"{path}:{n}: not valid JSON ({e.msg})") from e
        if not isinstance(d, dict):
            raise ManifestError(f"{path}:{n}: expected a JSON object per line")
        try:
            r = SampleRecord.from_dict(d)
        except (TypeError, ManifestError) as e:
            raise ManifestError(f"{path}:{n}: {e}") from e
        if not Path(r.video_path).is_absolute():
            d["video_path"] = str(path.parent / r.video_path)
            r = SampleRecord.from_dict(d)
        records.append(r)
    return records


# Every builder reads its dataset's metadata and lists its video folder the same
# way; these two helpers keep that in one place.

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
