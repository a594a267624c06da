"""The manifest record: one sample (one sign, or one sentence) of any dataset.

Every dataset builder turns a download into a `Manifest` of `SampleRecord`s; everything
after that (decode, stages, shards, training) never knows which dataset a record came from.
A metadata entry that cannot give a record costs only itself: it goes to
`Manifest.rejected` with its place in the metadata and the reason, and the other entries
are kept (`ManifestCollector` does that bookkeeping for every builder).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from signprep.atomic import atomic_write_text

from .errors import ManifestError
from .metadata_files import source_present
from .names import MAX_NAME_BYTES, check_sample_id, name_problem, normalise_name, safe_file_name

__all__ = [
    "MAX_NAME_BYTES",
    "Manifest",
    "ManifestCollector",
    "ManifestError",
    "RejectedEntry",
    "SampleRecord",
    "check_sample_id",
    "load_manifest",
    "name_problem",
    "normalise_name",
    "read_manifest",
    "safe_file_name",
    "write_manifest",
]


@dataclass(frozen=True)
class SampleRecord:
    """One sample to extract.

    Frame ranges follow WLASL: `frame_start` is 1-based, `frame_end` is inclusive
    and -1 means "to the end of the video". A time range instead (`time_start`,
    `time_end`, seconds; How2Sign's sentences inside long videos) selects the frames
    whose timestamps t = i / fps (i 0-based) satisfy time_start <= t < time_end; a
    None end means "to the end". A record has a frame range or a time range, not
    both. `bbox` is [x1, y1, x2, y2] in pixels of the source video, or None.

    Labels: isolated signs have `gloss` (its text) and `label` (its class index);
    continuous datasets have `glosses`, the gloss sequence in signing order, and
    `label` -1 (no single class). `translation` is the spoken-language sentence
    (PHOENIX-2014-T's German, CSL-Daily's Chinese, How2Sign's English), or None.

    Names (sample_id, gloss, glosses, translation, a string signer_id) are stored in
    Unicode NFC (`names.normalise_name`); `video_path` is kept byte for byte, as the
    file system spells it. A list of glosses is stored as a tuple.
    """

    sample_id: str
    video_path: str  # absolute, or relative to the directory the manifest lives in
    dataset: str
    gloss: str | None = None
    label: int = -1  # class index; -1 = unlabelled, or a sentence (see glosses)
    glosses: tuple[str, ...] | None = None
    translation: str | None = None
    signer_id: int | str | None = None
    split: str | None = None
    frame_start: int = 1
    frame_end: int = -1
    time_start: float | None = None  # seconds
    time_end: float | None = None  # seconds, exclusive
    fps: float | None = None  # fps declared by the metadata (the decoder's wins)
    bbox: tuple[int, int, int, int] | None = None
    source: str | None = None
    video_id: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Builders construct records from data of elsewhere too: a wrong type would otherwise
        # surface later as a crash or a wrong shard attribute (label "x", frame_end 2.5).
        for f in fields(self):
            value = getattr(self, f.name)
            kinds, wanted = _FIELD_TYPES[f.name]
            if value is None and None in kinds:
                continue
            if isinstance(value, bool) or not isinstance(value, tuple(k for k in kinds if k is not None)):
                raise ManifestError(f"field {f.name!r} must be {wanted}, got {value!r}")
        sid = check_sample_id(self.sample_id)
        object.__setattr__(self, "sample_id", sid)
        for name in ("gloss", "translation", "signer_id"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, normalise_name(value))
        if self.glosses is not None:
            object.__setattr__(self, "glosses", _gloss_sequence(self.glosses, sid))
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ManifestError(f"field 'fps' must be positive, got {self.fps!r}")
        if self.frame_start < 1:
            raise ManifestError(f"sample {sid}: frame_start {self.frame_start} < 1 (frames are 1-based)")
        if self.frame_end != -1 and self.frame_end < self.frame_start:
            raise ManifestError(f"sample {sid}: frame_end {self.frame_end} is before frame_start {self.frame_start}")
        self._check_time_range(sid)

    def _check_time_range(self, sid: str) -> None:
        if self.time_start is None and self.time_end is None:
            return
        for name in ("time_start", "time_end"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ManifestError(f"sample {sid}: {name} must be a finite number of seconds, got {value!r}")
            object.__setattr__(self, name, float(value))
        if (self.frame_start, self.frame_end) != (1, -1):
            raise ManifestError(
                f"sample {sid}: a frame range ({self.frame_start}..{self.frame_end}) and a time range "
                f"({self.time_start}..{self.time_end} s) together; give one of them"
            )
        if self.time_start is not None and self.time_start < 0:
            raise ManifestError(f"sample {sid}: time_start {self.time_start} s is negative")
        if self.time_end is not None and self.time_end <= (self.time_start or 0.0):
            raise ManifestError(
                f"sample {sid}: time_end {self.time_end} s is not after time_start {self.time_start or 0.0} s"
            )

    def to_json(self) -> str:
        d = asdict(self)
        for name in ("bbox", "glosses"):
            if d[name] is not None:
                d[name] = list(d[name])
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
        # types are checked by __post_init__; what JSON spells as lists is converted first
        d = dict(d)
        if isinstance(d.get("bbox"), (list, tuple)):
            bbox = d["bbox"]
            if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
                raise ManifestError(f"field 'bbox' must be [x1, y1, x2, y2] in pixels, got {bbox!r}")
            d["bbox"] = tuple(int(v) for v in bbox)
        if isinstance(d.get("glosses"), list):
            if not all(isinstance(g, str) for g in d["glosses"]):
                raise ManifestError(f"field 'glosses' must be a list of gloss strings, got {d['glosses']!r}")
            d["glosses"] = tuple(d["glosses"])
        return cls(**d)


def _gloss_sequence(glosses, sid: str) -> tuple[str, ...]:
    """The glosses as a tuple of NFC strings, each one token (non-empty, no whitespace)."""
    if isinstance(glosses, str) or not isinstance(glosses, (list, tuple)):
        raise ManifestError(f"sample {sid}: glosses must be a sequence of gloss strings, got {glosses!r}")
    if not glosses:
        raise ManifestError(f"sample {sid}: empty gloss sequence (None when a sample has no glosses)")
    out = []
    for n, gloss in enumerate(glosses):
        if not isinstance(gloss, str) or not gloss or any(c.isspace() for c in gloss):
            raise ManifestError(f"sample {sid}: gloss {n} ({gloss!r}) is not one token (non-empty, no whitespace)")
        out.append(normalise_name(gloss))
    return tuple(out)


_REQUIRED = ("sample_id", "video_path", "dataset")
# field -> (accepted JSON types, None = null allowed; what to say when it is wrong)
_FIELD_TYPES: dict[str, tuple[tuple, str]] = {
    "sample_id": ((str,), "a string"),
    "video_path": ((str,), "a string"),
    "dataset": ((str,), "a string"),
    "gloss": ((str, None), "a string or null"),
    "label": ((int,), "an integer class index"),
    "glosses": ((list, tuple, None), "a list of gloss strings or null"),
    "translation": ((str, None), "a string or null"),
    "signer_id": ((int, str, None), "an integer, a string or null"),
    "split": ((str, None), "a string or null"),
    "frame_start": ((int,), "an integer frame number (1-based)"),
    "frame_end": ((int,), "an integer frame number (inclusive, -1 = end)"),
    "time_start": ((int, float, None), "a number of seconds or null"),
    "time_end": ((int, float, None), "a number of seconds or null"),
    "fps": ((int, float, None), "a number or null"),
    "bbox": ((list, tuple, None), "[x1, y1, x2, y2] or null"),
    "source": ((str, None), "a string or null"),
    "video_id": ((str, None), "a string or null"),
    "extra": ((dict,), "a JSON object"),
}


@dataclass(frozen=True)
class RejectedEntry:
    """An entry of the metadata that gave no record, and why.

    metadata: the file (or, for the `folder` builder, the folder) it is in.
    location: where in it, in the file's own terms: "line 12", "clip 17",
        "gloss 'book' (entry 4), instance 2", a relative path.
    reason: what is wrong with it.
    sample_id: the entry's id as written in the metadata, if it has one (it may be the
        unusable id itself: "../evil").
    """

    metadata: str
    location: str
    reason: str
    sample_id: str | None = None

    def describe(self) -> str:
        """One line: "FILE: LOCATION (id 'X'): REASON"."""
        ident = f" (id {self.sample_id!r})" if self.sample_id is not None else ""
        return f"{self.metadata}: {self.location}{ident}: {self.reason}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Manifest:
    """The records of a dataset, those whose source is absent, and the entries rejected."""

    records: list[SampleRecord]
    missing: list[SampleRecord] = field(default_factory=list)  # video file or frame folder absent
    rejected: list[RejectedEntry] = field(default_factory=list)  # entries that gave no record

    def __len__(self) -> int:
        """The number of samples (records and missing); rejected entries are not samples."""
        return len(self.records) + len(self.missing)


class ManifestCollector:
    """Builds a Manifest entry by entry, the same way for every builder.

    `add(location, make)` calls `make()` for the entry's record: a ManifestError from it
    rejects the entry with that reason; an id already used keeps the first entry and
    rejects the later one, naming the first. Records whose source is absent go to
    `missing`.
    """

    def __init__(self, metadata: str | Path) -> None:
        self.metadata = str(metadata)
        self.records: list[SampleRecord] = []
        self.missing: list[SampleRecord] = []
        self.rejected: list[RejectedEntry] = []
        self.in_order: list[SampleRecord] = []  # records and missing, in the order added
        self._first_use: dict[str, tuple[str, str]] = {}  # sample_id -> (metadata, location)

    def reject(
        self, location: str, reason: str, *, sample_id: str | None = None, metadata: str | Path | None = None
    ) -> None:
        where = str(metadata) if metadata is not None else self.metadata
        self.rejected.append(RejectedEntry(where, location, reason, sample_id))

    def add(
        self,
        location: str,
        make: Callable[[], SampleRecord],
        *,
        sample_id: str | None = None,
        present: bool | None = None,
        metadata: str | Path | None = None,
    ) -> SampleRecord | None:
        """Add the record `make()` builds for the entry at `location` (of `metadata`, default
        the collector's file); None if the entry is rejected. `sample_id` names the entry in a
        rejection; `present` says whether its source exists (default: looked up on disk)."""
        where = str(metadata) if metadata is not None else self.metadata
        try:
            record = make()
        except ManifestError as e:
            self.reject(location, str(e), sample_id=sample_id, metadata=where)
            return None
        first = self._first_use.get(record.sample_id)
        if first is not None:
            first_where = first[1] if first[0] == where else f"{first[0]}: {first[1]}"
            self.reject(
                location,
                f"duplicate sample id {record.sample_id!r}: already used by {first_where} (the first is kept)",
                sample_id=sample_id if sample_id is not None else record.sample_id,
                metadata=where,
            )
            return None
        self._first_use[record.sample_id] = (where, location)
        if present is None:
            present = source_present(record.video_path)
        (self.records if present else self.missing).append(record)
        self.in_order.append(record)
        return record

    def manifest(self) -> Manifest:
        return Manifest(records=self.records, missing=self.missing, rejected=self.rejected)


def write_manifest(records: Iterable[SampleRecord], path: Path) -> None:
    """Write records as JSON lines, atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(r.to_json() + "\n" for r in records))


def load_manifest(path: Path) -> Manifest:
    """Read a JSON-lines manifest, line by line: a bad line is a rejected entry, the rest is kept.

    Relative video paths resolve against the manifest's folder; records whose source is
    absent go to `missing`. A line that is not UTF-8, not JSON, not an object, or not a
    valid record, and a repeated sample id (the first is kept), are rejected with the line
    number and the reason. Only a file that cannot be read, or of whose non-blank lines
    none is a JSON object (not a manifest at all: a CSV, a WLASL JSON), is a ManifestError.
    """
    return _collect_lines(Path(path)).manifest()


def read_manifest(path: Path) -> list[SampleRecord]:
    """Read a JSON-lines manifest strictly: its records in file order, missing sources
    included; any bad line (see `load_manifest`) is a ManifestError naming the file and line.
    For manifests that must be whole (signprep's own); user input goes through
    `load_manifest`, which rejects bad lines one by one."""
    collector = _collect_lines(Path(path))
    if collector.rejected:
        first = collector.rejected[0]
        more = len(collector.rejected) - 1
        also = f" (and {more} more bad line{'s' if more > 1 else ''})" if more else ""
        raise ManifestError(f"{path}:{first.location.removeprefix('line ')}: {first.reason}{also}")
    return collector.in_order


def _collect_lines(path: Path) -> ManifestCollector:
    collector = ManifestCollector(path)
    objects = 0
    for n, line, problem in _manifest_lines(path):
        if problem:
            collector.reject(f"line {n}", problem)
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            collector.reject(f"line {n}", f"not valid JSON ({e.msg})")
            continue
        if not isinstance(d, dict):
            collector.reject(f"line {n}", "expected a JSON object per line")
            continue
        objects += 1
        given_id = d.get("sample_id") if isinstance(d.get("sample_id"), str) else None
        collector.add(f"line {n}", lambda d=d: _resolved_record(d, path.parent), sample_id=given_id)
    if collector.rejected and objects == 0:
        first = collector.rejected[0]
        raise ManifestError(
            f"{path}: not a JSON-lines manifest, no line is a JSON object ({first.location}: {first.reason})"
        )
    return collector


def _manifest_lines(path: Path):
    """(line number, text, problem) of every non-blank line; lines split at "\\n" only.

    Python's str.splitlines() would also split at U+2028, U+0085 and other characters a
    JSON string may hold unescaped (json.dumps(ensure_ascii=False) writes them raw).
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ManifestError(f"cannot read manifest {path}: {e.strerror}") from e
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for n, chunk in enumerate(raw.split(b"\n"), 1):
        chunk = chunk.rstrip(b"\r")
        if not chunk.strip():
            continue
        try:
            yield n, chunk.decode("utf-8"), None
        except UnicodeDecodeError as e:
            yield n, "", f"not UTF-8 text (byte {e.start} of the line: {e.reason})"


def _resolved_record(d: dict, folder: Path) -> SampleRecord:
    record = SampleRecord.from_dict(d)
    if not Path(record.video_path).is_absolute():
        record = SampleRecord.from_dict(dict(d, video_path=str(folder / record.video_path)))
    return record
