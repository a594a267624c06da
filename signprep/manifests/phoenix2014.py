"""RWTH-PHOENIX-Weather 2014: German weather-forecast sentences (DGS) with gloss sequences
(no translations), shipped as folders of 210x260 PNG frames at 25 fps.

Obtained from https://www-i6.informatik.rwth-aachen.de/ftp/pub/rwth-phoenix/2016/phoenix-2014.v3.tar.gz
(page: https://www-i6.informatik.rwth-aachen.de/~koller/RWTH-PHOENIX/), which unpacks to

    phoenix2014-release/
        phoenix-2014-multisigner/
            annotations/manual/{train,dev,test}.corpus.csv
            features/fullFrame-210x260px/{train,dev,test}/<folder>/1/<video>.avi_pid0_fn000000-0.png ...
        phoenix-2014-signerindependent-SI5/
            annotations/manual/{train,dev,test}.SI5.corpus.csv
            features/fullFrame-210x260px/...

A corpus file is "|"-separated, unquoted, with the header `id|folder|signer|annotation`, e.g.
`01April_2010_Thursday_heute_default-0|01April_2010_Thursday_heute_default-0/1/*.png|Signer04|`
`__ON__ LIEB ZUSCHAUER ABEND WINTER ...` (one line):
`folder` is a glob of the sentence's frames relative to `features/fullFrame-210x260px/<split>/`,
`annotation` the space-separated gloss sequence.
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
# variant -> (its folder in phoenix2014-release/, the name of its corpus files)
VARIANTS = {
    "multisigner": ("phoenix-2014-multisigner", "{split}.corpus.csv"),
    "SI5": ("phoenix-2014-signerindependent-SI5", "{split}.SI5.corpus.csv"),
}
ANNOTATIONS = Path("annotations", "manual")
FRAMES = Path("features", "fullFrame-210x260px")
COLUMNS = ("id", "folder", "signer", "annotation")
FPS = 25.0  # the rate the corpus was recorded at (the frames carry none)


def prepare_phoenix2014(
    root: str | Path,
    *,
    variant: str = "multisigner",
    splits: str | Iterable[str] | None = None,
    annotations_dir: str | Path | None = None,
    frames_dir: str | Path | None = None,
) -> Manifest:
    """Build the manifest of a PHOENIX-2014 download.

    root: `phoenix2014-release`, or the variant's folder inside it.
    variant: "multisigner" (the usual benchmark; default) or "SI5" (signer 5 held out).
    splits: which of train, dev, test ("train,dev" or a list); default every split
        whose corpus file exists. The dataset's own split names are kept.
    annotations_dir: the folder of the corpus files (default <variant>/annotations/manual).
    frames_dir: the folder of the split frame folders (default
        <variant>/features/fullFrame-210x260px).

    One record per sentence: sample_id = id, video_path = the `folder` glob under the
    split's frame folder, glosses = annotation split at spaces, kept as written
    (__ON__, __OFF__, loc-, cl- and the like included: cleaning is a vocabulary choice
    of the training side), signer_id = signer ("Signer04"), translation None, label -1,
    gloss None, fps 25. A sentence whose frame folder is absent goes to `missing`. A
    bad row (wrong number of cells, empty id or annotation, an unusable or repeated
    id, a folder that leaves the split folder) is rejected with its line; a corpus
    file without the header columns is a ManifestError.
    """
    if variant not in VARIANTS:
        raise ManifestError(f"unknown PHOENIX-2014 variant {variant!r}; known: {', '.join(VARIANTS)}")
    folder_name, corpus_file = VARIANTS[variant]
    root = Path(root)
    release = root / folder_name if (root / folder_name).is_dir() else root
    annotations = Path(annotations_dir) if annotations_dir is not None else release / ANNOTATIONS
    frames = Path(os.path.abspath(frames_dir if frames_dir is not None else release / FRAMES))
    files = split_files(annotations, corpus_file, split_list(splits), SPLITS, "PHOENIX-2014")
    if not frames.is_dir():
        raise ManifestError(f"no PHOENIX-2014 frame folder {frames} (pass frames_dir)")

    return read_corpus_files(
        files,
        columns=COLUMNS,
        id_column="id",
        record_of=lambda row, split: _sentence_record(row, split, frames / split, variant),
    )


def _sentence_record(row: TableRow, split: str, split_frames: Path, variant: str) -> SampleRecord:
    if row.problem:
        raise ManifestError(row.problem)
    cells = {name: value.strip() for name, value in row.cells.items()}
    if not cells["id"]:
        raise ManifestError("empty 'id'")
    check_sample_id(cells["id"])  # before `folder`: an unusable id is the more basic fault
    if not cells["folder"]:
        raise ManifestError("empty 'folder'")
    glosses = cells["annotation"].split()
    if not glosses:
        raise ManifestError("empty 'annotation' (no glosses)")
    folder = relative_inside(cells["folder"], "'folder'")
    return SampleRecord(
        sample_id=cells["id"],
        video_path=str(split_frames / folder),
        dataset="phoenix2014",
        glosses=tuple(glosses),
        signer_id=cells["signer"] or None,
        split=split,
        fps=FPS,
        video_id=cells["id"],
        extra={"folder": cells["folder"], "variant": variant},
    )
