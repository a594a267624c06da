"""CSL-Daily: Chinese Sign Language sentences of daily life with gloss sequences and Chinese
translations, shipped as folders of 512x512 JPEG frames at 30 fps.

Obtained on request (a licence agreement) from http://home.ustc.edu.cn/~zhouh156/dataset/csl-daily/.
The release is laid out as

    CSL-Daily/
        sentence/frames_512x512/<name>/000000.jpg ...      (or sentence_frames-512x512/frames_512x512/)
        sentence_label/split_1.txt                         name|split, split in train/dev/test
        sentence_label/video_map.txt                       index|name|length|gloss|char|word|postag
        sentence_label/csl2020ct_v2.pkl                    {"info": [{name, length, label_gloss,
                                                            label_char, label_word, signer, ...}], ...}

Names look like `S000000_P0000_T00`. video_map.txt's gloss, char and word columns are
space-separated tokens; the pickle holds the same labels as lists, and the signer.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from .errors import ManifestError
from .metadata_files import first_existing, load_plain_pickle, read_table, split_list
from .records import Manifest, ManifestCollector, SampleRecord

LABEL_TEXT = Path("sentence_label", "video_map.txt")
LABEL_PICKLE = Path("sentence_label", "csl2020ct_v2.pkl")
SPLIT_FILE = Path("sentence_label", "split_1.txt")
FRAME_FOLDERS = (Path("sentence", "frames_512x512"), Path("sentence_frames-512x512", "frames_512x512"))
TEXT_COLUMNS = ("index", "name", "length", "gloss", "char", "word", "postag")
SPLIT_COLUMNS = ("name", "split")
FPS = 30.0  # the rate CSL-Daily was recorded at (the frames carry none)


class _Labels(NamedTuple):
    glosses: tuple[str, ...]
    words: tuple[str, ...]
    length: int | None
    signer: int | str | None


def prepare_csl_daily(
    root: str | Path,
    *,
    labels: str | Path | None = None,
    split_file: str | Path | None = None,
    splits: str | Iterable[str] | None = None,
    frames_dir: str | Path | None = None,
) -> Manifest:
    """Build the manifest of a CSL-Daily download.

    root: the `CSL-Daily` folder.
    labels: the label file: video_map.txt (text) or csl2020ct_v2.pkl (a pickle, read
        with an unpickler that admits plain data only and refuses anything that would
        run code). Default: sentence_label/video_map.txt when present, else the pickle.
        Only the pickle has signers: pass it to get `signer_id`.
    split_file: the `name|split` file listing the samples (default sentence_label/split_1.txt).
    splits: which of train, dev, test ("train,dev" or a list); default all. The
        dataset's own split names are kept.
    frames_dir: the folder of the frame folders (default sentence/frames_512x512, else
        sentence_frames-512x512/frames_512x512).

    One record per line of the split file: sample_id = name, video_path =
    frames_dir/name, glosses = its gloss sequence, translation = its words joined
    (Chinese is written without spaces), signer_id from the pickle (None from the text
    file), label -1, gloss None, fps 30; extra holds "length" (frames, as the labels
    say) and "words". A name without labels, a bad label entry (no glosses, a mistyped
    field, listed twice) or a bad split row is rejected with its place; a label or
    split file that cannot be parsed at all is a ManifestError. A sample whose frame
    folder is absent goes to `missing`.
    """
    root = Path(root)
    labels_path = Path(labels) if labels is not None else _default_labels(root)
    split_path = Path(split_file) if split_file is not None else root / SPLIT_FILE
    wanted = split_list(splits)
    frames = frames_dir if frames_dir is not None else first_existing(root / f for f in FRAME_FOLDERS)
    if frames is None or not Path(frames).is_dir():
        looked = frames_dir if frames_dir is not None else " or ".join(str(root / f) for f in FRAME_FOLDERS)
        raise ManifestError(f"no CSL-Daily frame folder {looked} (pass frames_dir)")
    frames = Path(os.path.abspath(frames))

    collector = ManifestCollector(split_path)
    if labels_path.suffix.lower() == ".pkl":
        by_name, bad = _pickle_labels(labels_path, collector)
    else:
        by_name, bad = _text_labels(labels_path, collector)
    _, rows = read_table(split_path, delimiter="|", required=SPLIT_COLUMNS, quoting=csv.QUOTE_NONE)
    for row in rows:
        name = row.cells.get("name", "").strip()
        split = row.cells.get("split", "").strip()
        if wanted is not None and split not in wanted and not row.problem:
            continue
        if name in bad:
            continue  # its label entry is rejected already

        def record(row=row, name=name, split=split) -> SampleRecord:
            if row.problem:
                raise ManifestError(row.problem)
            if not name or not split:
                raise ManifestError("empty 'name' or 'split'")
            if name not in by_name:
                raise ManifestError(f"no labels for {name!r} in {labels_path}")
            return _record(name, split, by_name[name], frames)

        collector.add(f"line {row.line}", record, sample_id=name or None)
    return collector.manifest()


def _default_labels(root: Path) -> Path:
    for candidate in (root / LABEL_TEXT, root / LABEL_PICKLE):
        if candidate.is_file():
            return candidate
    raise ManifestError(f"no CSL-Daily labels in {root} (looked for {LABEL_TEXT} and {LABEL_PICKLE})")


def _record(name: str, split: str, labels: _Labels, frames: Path) -> SampleRecord:
    return SampleRecord(
        sample_id=name,
        video_path=str(frames / name),
        dataset="csl-daily",
        glosses=labels.glosses,
        translation="".join(labels.words) or None,
        signer_id=labels.signer,
        split=split,
        fps=FPS,
        video_id=name,
        extra={"length": labels.length, "words": list(labels.words)},
    )


def _text_labels(path: Path, collector: ManifestCollector) -> tuple[dict[str, _Labels], set[str]]:
    """video_map.txt -> (name -> labels, names whose entry was rejected)."""
    _, rows = read_table(path, delimiter="|", required=TEXT_COLUMNS, quoting=csv.QUOTE_NONE)
    by_name: dict[str, _Labels] = {}
    first_line: dict[str, int] = {}
    bad: set[str] = set()
    for row in rows:
        name = row.cells.get("name", "").strip()
        where = f"line {row.line}"
        problem = row.problem or _text_problem(row.cells)
        if problem is None and name in first_line:
            problem = f"{name!r} is listed twice (first on line {first_line[name]}, which is kept)"
        if problem:
            collector.reject(where, problem, sample_id=name or None, metadata=path)
            if name not in first_line:
                bad.add(name)
            continue
        first_line[name] = row.line
        length = row.cells["length"].strip()
        by_name[name] = _Labels(
            glosses=tuple(row.cells["gloss"].split()),
            words=tuple(row.cells["word"].split()),
            length=int(length) if length else None,
            signer=None,
        )
    return by_name, bad


def _text_problem(cells: dict[str, str]) -> str | None:
    if not cells["name"].strip():
        return "empty 'name'"
    if not cells["gloss"].split():
        return "empty 'gloss' (no glosses)"
    length = cells["length"].strip()
    if length and not length.isdigit():
        return f"'length' {length!r} is not a whole number of frames"
    return None


def _pickle_labels(path: Path, collector: ManifestCollector) -> tuple[dict[str, _Labels], set[str]]:
    """csl2020ct_v2.pkl -> (name -> labels, names whose entry was rejected)."""
    data = load_plain_pickle(path)
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, list):
        raise ManifestError(f"{path}: expected a dict with an 'info' list of label entries")
    by_name: dict[str, _Labels] = {}
    first_entry: dict[str, int] = {}
    bad: set[str] = set()
    for n, entry in enumerate(info):
        name = entry.get("name") if isinstance(entry, dict) else None
        name = name.strip() if isinstance(name, str) else None
        try:
            labels = _pickle_entry(entry)
            if name in first_entry:
                raise ManifestError(f"{name!r} is listed twice (first in entry {first_entry[name]}, which is kept)")
        except ManifestError as e:
            collector.reject(f"info entry {n}", str(e), sample_id=name, metadata=path)
            if name is not None and name not in first_entry:
                bad.add(name)
            continue
        first_entry[name] = n
        by_name[name] = labels
    return by_name, bad


def _pickle_entry(entry: object) -> _Labels:
    if not isinstance(entry, dict):
        raise ManifestError(f"not a dict ({type(entry).__name__})")
    if not isinstance(entry.get("name"), str) or not entry["name"].strip():
        raise ManifestError("no 'name' string")
    glosses, words = entry.get("label_gloss"), entry.get("label_word", [])
    if not isinstance(glosses, list) or not glosses or not all(isinstance(g, str) for g in glosses):
        raise ManifestError(f"'label_gloss' must be a non-empty list of strings, got {glosses!r}")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ManifestError(f"'label_word' must be a list of strings, got {words!r}")
    length, signer = entry.get("length"), entry.get("signer")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
        raise ManifestError(f"'length' must be a whole number of frames, got {length!r}")
    if isinstance(signer, bool) or not isinstance(signer, (int, str, type(None))):
        raise ManifestError(f"'signer' must be an integer or a string, got {signer!r}")
    return _Labels(tuple(g.strip() for g in glosses), tuple(w.strip() for w in words), length, signer)
