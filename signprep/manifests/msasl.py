"""MS-ASL: the split files of an MS-ASL download become a manifest.

Each split file (MSASL_train.json, MSASL_val.json, MSASL_test.json) is a list of
clips cut out of YouTube videos: `{url, start, end, fps, box, width, height,
label, signer_id, clean_text, ...}`. `start`/`end` are 0-based frame numbers of
the source video and `box` is `[y0, x0, y1, x1]` normalised to 0..1 by the
video's width and height (the order the MS-ASL README states; its boxes touch
the bottom edge, y1 == 1, far more often than the right edge, as upper-body
boxes should). Several clips usually share one YouTube video.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import ManifestError
from .metadata_files import index_videos, load_metadata_json
from .records import Manifest, ManifestCollector, SampleRecord

SPLITS = ("train", "val", "test")

# "www.youtube.com/watch?v=ID", "https://youtu.be/ID", with or without scheme.
_YOUTUBE_ID = re.compile(r"(?:[?&]v=|youtu\.be/|/embed/|/shorts/)([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])")
_SPLIT_FILE = re.compile(r"^MSASL_(train|val|test)\.json(?:\.gz)?$", re.IGNORECASE)


def prepare_msasl(
    root: str | Path,
    *,
    split_files: Mapping[str, str | Path] | Iterable[str | Path] | None = None,
    videos_dir: str | Path | None = None,
    classes: str | Path | None = None,
) -> Manifest:
    """Build the manifest of an MS-ASL download.

    root: the download folder. `split_files` defaults to every
        `MSASL_{train,val,test}.json` present in root; it may be a mapping
        {split: path} or paths named `MSASL_<split>.json`. Videos are
        `<videos_dir>/<youtube id>.mp4` (or .mkv/.webm/.mov/.avi), `videos_dir`
        defaulting to `root/videos`.
    classes: MSASL_classes.json (a list of 1000 glosses, class i at position i).
        Without it the gloss is the clip's `clean_text`. With it the gloss is the
        class name of the clip's label, so that one label has one gloss (MS-ASL
        folds synonyms into one class: "store" is labelled as class "sell"), and a
        label beyond the list is an error. `clean_text` stays in `extra` either way.

    sample_id is `msasl-<split>-<index>`, index being the clip's position in its
    split file. Frames become WLASL's convention, 1-based and inclusive:
    frame_start = start + 1, frame_end = end + 1. bbox becomes pixels
    (x1, y1, x2, y2), rounded. Clips whose video is absent go to `missing`. A bad
    clip (not an object, a missing or mistyped field, no YouTube id in its url, a
    label beyond the class list) is rejected with its file, index and reason, and
    the others are kept; a split file that is not a JSON list is a ManifestError.
    """
    root = Path(root)
    videos_dir = Path(os.path.abspath(videos_dir if videos_dir is not None else root / "videos"))
    files = _split_files(root, split_files)
    class_names = _read_classes(Path(classes)) if classes is not None else None
    videos = index_videos(videos_dir)

    collector = ManifestCollector(next(iter(files.values())) if files else root)
    for split, path in files.items():
        clips = load_metadata_json(path)
        if not isinstance(clips, list):
            raise ManifestError(f"{path}: expected a JSON list of clips, got {type(clips).__name__}")
        for index, clip in enumerate(clips):
            collector.add(
                f"clip {index}",
                lambda c=clip, s=split, i=index: _clip_record(c, s, i, videos, videos_dir, class_names),
                sample_id=f"msasl-{split}-{index:05d}",
                metadata=path,
            )
    return collector.manifest()


def youtube_id(url: str) -> str:
    """The 11-character video id of a YouTube watch/short link."""
    match = _YOUTUBE_ID.search(url)
    if match is None:
        raise ManifestError(f"cannot find a YouTube video id in url {url!r}")
    return match.group(1)


def _split_files(root: Path, split_files) -> dict[str, Path]:
    if split_files is None:
        found = {split: root / f"MSASL_{split}.json" for split in SPLITS}
        found = {split: path for split, path in found.items() if path.is_file()}
        if not found:
            raise ManifestError(f"no MS-ASL split files in {root} (looked for MSASL_{{{','.join(SPLITS)}}}.json)")
        return found
    if isinstance(split_files, Mapping):
        return {str(split): Path(path) for split, path in split_files.items()}
    files: dict[str, Path] = {}
    for path in map(Path, split_files):
        match = _SPLIT_FILE.match(path.name)
        if match is None:
            raise ManifestError(f"cannot tell the split of {path}; pass split_files as {{split: path}}")
        split = match.group(1).lower()
        if split in files:
            raise ManifestError(f"two files for split {split!r}: {files[split]} and {path}")
        files[split] = path
    return files


def _read_classes(path: Path) -> list[str]:
    names = load_metadata_json(path)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ManifestError(f"{path}: expected a JSON list of gloss strings")
    return names


def _clip_record(
    clip: object,
    split: str,
    index: int,
    videos: dict[str, Path],
    videos_dir: Path,
    class_names: list[str] | None,
) -> SampleRecord:
    if not isinstance(clip, dict):
        raise ManifestError("not an object")
    for key in ("url", "start", "end", "label"):
        if key not in clip:
            raise ManifestError(f"missing {key!r}")
    url = clip["url"]
    if not isinstance(url, str):
        raise ManifestError(f"'url' must be a string, got {url!r}")
    video_id = youtube_id(url)
    label = _whole_number(clip, "label")
    if class_names is not None and label >= len(class_names):
        raise ManifestError(f"label {label} is beyond the {len(class_names)} classes")
    text = clip.get("clean_text", clip.get("text"))
    gloss = class_names[label] if class_names is not None else text
    fps = clip.get("fps")
    if fps is not None and (not isinstance(fps, (int, float)) or fps <= 0):
        raise ManifestError(f"'fps' must be a positive number, got {fps!r}")
    signer_id = clip.get("signer_id")
    if isinstance(signer_id, bool) or not isinstance(signer_id, (int, str, type(None))):
        raise ManifestError(f"'signer_id' must be an integer or a string, got {signer_id!r}")
    video_path = videos.get(video_id)
    return SampleRecord(
        sample_id=f"msasl-{split}-{index:05d}",
        video_id=video_id,
        video_path=str(video_path) if video_path else os.path.join(videos_dir, video_id + ".mp4"),
        dataset="msasl",
        gloss=gloss,
        label=label,
        signer_id=signer_id,
        split=split,
        # 0-based -> 1-based; MS-ASL's end frame is included in the clip.
        frame_start=_whole_number(clip, "start") + 1,
        frame_end=_whole_number(clip, "end") + 1,
        fps=float(fps) if fps is not None else None,
        bbox=_pixel_box(clip),
        source="youtube",
        extra={
            "url": url,
            "clean_text": text,
            "start_time": clip.get("start_time"),
            "end_time": clip.get("end_time"),
            "width": clip.get("width"),
            "height": clip.get("height"),
        },
    )


def _whole_number(clip: dict, key: str) -> int:
    value = clip[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise ManifestError(f"{key!r} must be a whole number >= 0, got {value!r}")
    return int(value)


def _pixel_box(clip: dict) -> tuple[int, int, int, int] | None:
    """[y0, x0, y1, x1] normalised -> (x1, y1, x2, y2) in pixels of the declared frame size."""
    box = clip.get("box")
    if box is None:
        return None
    width, height = clip.get("width"), clip.get("height")
    if not (isinstance(width, (int, float)) and isinstance(height, (int, float)) and width > 0 and height > 0):
        raise ManifestError(f"'box' needs a positive 'width' and 'height', got {width!r} x {height!r}")
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
        raise ManifestError(f"'box' must be [y0, x0, y1, x1] normalised, got {box!r}")
    y0, x0, y1, x1 = box
    return (round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height))
