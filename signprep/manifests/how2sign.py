"""How2Sign: American Sign Language instructional videos with English sentences, as
sentence time ranges (seconds) inside long videos.

Obtained from https://how2sign.github.io/ (the "English Translation (manually re-aligned)"
CSVs and the "Green Screen RGB videos (frontal view)", optionally the sentence "clips").
The download script there (download_how2sign.sh) lays them out as

    How2Sign/
        video_level/{train,val,test}/rgb_front/raw_videos/<VIDEO_NAME>.mp4
        sentence_level/{train,val,test}/rgb_front/raw_videos/<SENTENCE_NAME>.mp4     (clips)
        sentence_level/{train,val,test}/text/en/raw_text/re_aligned/how2sign_realigned_{split}.csv

and unpacked by hand the archives give `raw_videos/` folders (train_raw_videos.zip ->
raw_videos/...). A realigned CSV is tab-separated with the header
`VIDEO_ID VIDEO_NAME SENTENCE_ID SENTENCE_NAME START_REALIGNED END_REALIGNED SENTENCE`, e.g.
`-d5dN54tH2E  -d5dN54tH2E-1-rgb_front  -d5dN54tH2E_0  -d5dN54tH2E_0-1-rgb_front  12.97  19.52  We're going to ...`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import ManifestError
from .metadata_files import TableRow, first_existing, index_videos, read_table, split_list
from .records import Manifest, ManifestCollector, SampleRecord

SPLITS = ("train", "val", "test")
COLUMNS = ("VIDEO_ID", "VIDEO_NAME", "SENTENCE_ID", "SENTENCE_NAME", "START_REALIGNED", "END_REALIGNED", "SENTENCE")
# where the realigned CSVs and the videos are looked for, in this order; {split} is the split
CSV_PLACES = (
    "how2sign_realigned_{split}.csv",
    "sentence_level/{split}/text/en/raw_text/re_aligned/how2sign_realigned_{split}.csv",
)
VIDEO_PLACES = ("video_level/{split}/rgb_front/raw_videos", "{split}_raw_videos/raw_videos", "raw_videos")


def prepare_how2sign(
    root: str | Path,
    *,
    splits: str | Iterable[str] | None = None,
    csv_file: str | Path | None = None,
    videos_dir: str | Path | None = None,
    clips_dir: str | Path | None = None,
) -> Manifest:
    """Build the manifest of a How2Sign download.

    root: the download folder.
    splits: which of train, val, test ("train,val" or a list); default every split
        whose realigned CSV is found. The dataset's own split names are kept (val, not dev).
    csv_file: the realigned CSV; "{split}" in it stands for the split (default: the
        first of CSV_PLACES under root that exists).
    videos_dir: the folder of the raw videos, <VIDEO_NAME>.mp4 (.mkv, .webm ...);
        "{split}" in it stands for the split (default: the first of VIDEO_PLACES under
        root that exists).
    clips_dir: instead of raw videos, the folder of the sentence clips
        <SENTENCE_NAME>.mp4 ("{split}" as above); each record is then the whole clip.

    One record per sentence: sample_id = SENTENCE_NAME, video_path = its raw video,
    time_start/time_end = START_REALIGNED/END_REALIGNED (seconds), translation =
    SENTENCE, glosses None (How2Sign has none), label -1, signer None, fps None (the
    decoder measures it); video_id = VIDEO_NAME, extra holds VIDEO_ID ("youtube_id")
    and SENTENCE_ID. A sentence whose video is absent goes to `missing`. A bad row
    (wrong number of cells, an empty or unusable or repeated SENTENCE_NAME, times that
    are not numbers, end not after start) is rejected with its line; a CSV without the
    header columns is a ManifestError.
    """
    root = Path(root)
    files = _csv_files(root, csv_file, split_list(splits))
    collector = ManifestCollector(next(iter(files.values())))
    for split, path in files.items():
        media = _media_folder(root, split, videos_dir, clips_dir)
        videos = index_videos(media)
        _, rows = read_table(path, delimiter="\t", required=COLUMNS)
        for row in rows:
            name = row.cells.get("VIDEO_NAME", "").strip()
            sentence = row.cells.get("SENTENCE_NAME", "").strip()
            stem = sentence if clips_dir is not None else name
            collector.add(
                f"line {row.line}",
                lambda row=row, split=split, media=media, videos=videos: _sentence_record(
                    row, split, media, videos, clips=clips_dir is not None
                ),
                sample_id=sentence or None,
                present=stem in videos,
                metadata=path,
            )
    return collector.manifest()


def _csv_files(root: Path, csv_file, splits: tuple[str, ...] | None) -> dict[str, Path]:
    wanted = splits if splits is not None else SPLITS
    found: dict[str, Path] = {}
    for split in wanted:
        if csv_file is not None:
            candidates = [Path(str(csv_file).replace("{split}", split))]
        else:
            candidates = [root / place.format(split=split) for place in CSV_PLACES]
        path = first_existing(candidates, folder=False)
        if path is not None:
            found[split] = path
        elif splits is not None:
            raise ManifestError(f"no How2Sign CSV for split {split!r} (looked for {', '.join(map(str, candidates))})")
    if not found:
        looked = csv_file if csv_file is not None else ", ".join(str(root / p) for p in CSV_PLACES)
        raise ManifestError(f"no How2Sign realigned CSV found (looked for {looked}, split in {', '.join(wanted)})")
    if csv_file is not None and "{split}" not in str(csv_file) and len(found) > 1:
        raise ManifestError(f"csv_file {csv_file} names one file for {len(found)} splits: put {{split}} in it")
    return found


def _media_folder(root: Path, split: str, videos_dir, clips_dir) -> Path:
    given = clips_dir if clips_dir is not None else videos_dir
    if given is not None:
        return Path(os.path.abspath(str(given).replace("{split}", split)))
    candidates = [root / place.format(split=split) for place in VIDEO_PLACES]
    folder = first_existing(candidates)
    if folder is None:
        raise ManifestError(
            f"no How2Sign video folder for split {split!r} (looked for {', '.join(map(str, candidates))}; "
            "pass videos_dir or clips_dir)"
        )
    return Path(os.path.abspath(folder))


def _sentence_record(row: TableRow, split: str, media: Path, videos: dict[str, Path], *, clips: bool) -> SampleRecord:
    if row.problem:
        raise ManifestError(row.problem)
    cells = {name: value.strip() for name, value in row.cells.items()}
    sentence, video = cells["SENTENCE_NAME"], cells["VIDEO_NAME"]
    if not sentence or not video:
        raise ManifestError("empty 'SENTENCE_NAME' or 'VIDEO_NAME'")
    stem = sentence if clips else video
    path = videos.get(stem, media / f"{stem}.mp4")
    times = (
        {}
        if clips
        else {"time_start": _seconds(cells, "START_REALIGNED"), "time_end": _seconds(cells, "END_REALIGNED")}
    )
    extra = {"youtube_id": cells["VIDEO_ID"], "sentence_id": cells["SENTENCE_ID"]}
    if clips:  # the range inside the raw video the clip was cut from, for reference
        extra.update(start=cells["START_REALIGNED"], end=cells["END_REALIGNED"])
    return SampleRecord(
        sample_id=sentence,
        video_path=str(path),
        dataset="how2sign",
        translation=cells["SENTENCE"] or None,
        split=split,
        video_id=video,
        extra=extra,
        **times,
    )


def _seconds(cells: dict[str, str], column: str) -> float:
    try:
        return float(cells[column])
    except ValueError:
        raise ManifestError(f"{column} {cells[column]!r} is not a number of seconds") from None
