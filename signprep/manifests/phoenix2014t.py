"""RWTH-PHOENIX-Weather 2014 T: German weather-forecast sentences (DGS) with gloss sequences
and German translations, shipped as folders of 210x260 PNG frames at 25 fps.

Obtained from https://www-i6.informatik.rwth-aachen.de/ftp/pub/rwth-phoenix/2016/phoenix-2014-T.v3.tar.gz
(page: https://www-i6.informatik.rwth-aachen.de/~koller/RWTH-PHOENIX-2014-T/), which unpacks to

    PHOENIX-2014-T-release-v3/PHOENIX-2014-T/
        annotations/manual/PHOENIX-2014-T.{train,dev,test}.corpus.csv
        features/fullFrame-210x260px/{train,dev,test}/<name>/images0001.png ...

A corpus file is "|"-separated, unquoted, with the header
`name|video|start|end|speaker|orth|translation`, e.g. (one line)
`11August_2010_Wednesday_tagesschau-2|11August_2010_Wednesday_tagesschau-2/1/*.png|-1|-1|Signer08|`
`DRUCK TIEF KOMMEN|tiefer luftdruck bestimmt in den nächsten tagen unser wetter`.
`orth` is the space-separated gloss sequence, `translation` the German sentence (lower
case, tokenised). Its `video` column says `<name>/1/*.png`, but the v3 release holds the
frames directly in `<split>/<name>/`; the first is used where it exists, else the second.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import ManifestError
from .metadata_files import TableRow, relative_inside, split_files, split_list
from .names import check_sample_id
from .phoenix_corpus import read_corpus_files
from .records import Manifest, SampleRecord

SPLITS = ("train", "dev", "test")
RELEASE_FOLDER = "PHOENIX-2014-T"  # inside PHOENIX-2014-T-release-v3/
ANNOTATIONS = Path("annotations", "manual")
CORPUS_FILE = "PHOENIX-2014-T.{split}.corpus.csv"
FRAMES = Path("features", "fullFrame-210x260px")
COLUMNS = ("name", "video", "start", "end", "speaker", "orth", "translation")
FPS = 25.0  # the rate the corpus was recorded at (the frames carry none)


def prepare_phoenix2014t(
    root: str | Path,
    *,
    splits: str | Iterable[str] | None = None,
    annotations_dir: str | Path | None = None,
    frames_dir: str | Path | None = None,
) -> Manifest:
    """Build the manifest of a PHOENIX-2014-T download.

    root: `PHOENIX-2014-T-release-v3` or the `PHOENIX-2014-T` folder inside it.
    splits: which of train, dev, test ("train,dev" or a list); default every split
        whose corpus file exists. The dataset's own split names are kept.
    annotations_dir: the folder of the corpus files (default root/annotations/manual).
    frames_dir: the folder of the split frame folders (default
        root/features/fullFrame-210x260px).

    One record per sentence: sample_id = name, video_path = its frame folder,
    glosses = orth split at spaces, kept as written (markers such as __ON__ or
    loc-NORD included: cleaning them is a vocabulary choice of the training side),
    translation = the German sentence, signer_id = speaker ("Signer08"), label -1,
    gloss None, fps 25, the whole folder (start/end are -1 throughout the release;
    other values are kept in `extra`). A sentence whose frame folder is absent goes
    to `missing`. A bad row (wrong number of cells, empty name or orth, an unusable
    or repeated name, a `video` that leaves the split folder) is rejected with its
    line; a corpus file without the header columns is a ManifestError.
    """
    release = _release_folder(Path(root))
    annotations = Path(annotations_dir) if annotations_dir is not None else release / ANNOTATIONS
    frames = Path(os.path.abspath(frames_dir if frames_dir is not None else release / FRAMES))
    files = split_files(annotations, CORPUS_FILE, split_list(splits), SPLITS, "PHOENIX-2014-T")
    if not frames.is_dir():
        raise ManifestError(f"no PHOENIX-2014-T frame folder {frames} (pass frames_dir)")

    return read_corpus_files(
        files,
        columns=COLUMNS,
        id_column="name",
        record_of=lambda row, split: _sentence_record(row, split, frames / split),
    )


def _release_folder(root: Path) -> Path:
    if not (root / ANNOTATIONS).is_dir() and (root / RELEASE_FOLDER / ANNOTATIONS).is_dir():
        return root / RELEASE_FOLDER
    return root


def _sentence_record(row: TableRow, split: str, split_frames: Path) -> SampleRecord:
    if row.problem:
        raise ManifestError(row.problem)
    cells = {name: value.strip() for name, value in row.cells.items()}
    name = cells["name"]
    if not name:
        raise ManifestError("empty 'name'")
    check_sample_id(name)  # before `video`: an unusable name is the more basic fault
    glosses = cells["orth"].split()
    if not glosses:
        raise ManifestError("empty 'orth' (no glosses)")
    video = relative_inside(cells["video"], "'video'") if cells["video"] else ""
    extra = {"video": cells["video"]}
    extra.update({key: cells[key] for key in ("start", "end") if cells[key] not in ("-1", "")})
    return SampleRecord(
        sample_id=name,
        video_path=str(_frames_of(split_frames, name, video)),
        dataset="phoenix2014t",
        glosses=tuple(glosses),
        translation=cells["translation"] or None,
        signer_id=cells["speaker"] or None,
        split=split,
        fps=FPS,
        video_id=name,
        extra=extra,
    )


def _frames_of(split_frames: Path, name: str, video: str) -> Path:
    """The sentence's frames: the corpus file's `video` glob (`<name>/1/*.png`) where that
    folder exists, else `<split>/<name>/` (the v3 release's layout; absent if neither is)."""
    if video:
        pattern = split_frames / video
        if pattern.parent.is_dir():
            return pattern
    return split_frames / name
