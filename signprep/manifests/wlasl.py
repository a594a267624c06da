"""WLASL: the metadata JSON of a WLASL download becomes a manifest.

WLASL v0.3 metadata is a list of gloss entries, `[{gloss, instances: [{video_id,
bbox, fps, frame_start, frame_end, signer_id, split, source, url, instance_id,
variation_id}]}]`. Its frame ranges are kept as they are (1-based, inclusive,
`frame_end == -1` meaning "to the end of the video"), and so is its bbox
(x1, y1, x2, y2 in pixels of the source video).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from .errors import ManifestError
from .metadata_files import index_videos, load_metadata_json
from .names import normalise_name
from .records import Manifest, ManifestCollector, SampleRecord

METADATA_NAMES = ("WLASL_v0.3.json", "WLASL_v0.3.json.gz")


def prepare_wlasl(
    root: str | Path,
    *,
    metadata: str | Path | None = None,
    videos_dir: str | Path | None = None,
    subset: int | str | Path | None = None,
    class_list: str | Path | None = None,
) -> Manifest:
    """Build the manifest of a WLASL download.

    root: the download folder. `metadata` defaults to `root/WLASL_v0.3.json`,
        else `root/WLASL_v0.3.json.gz` (either may be gzip; the bytes decide).
        `videos_dir` defaults to `root/videos`, holding `<video_id>.mp4` (or
        .mkv/.webm/.mov/.avi when there is no .mp4).
    subset: None for every instance; 100/300/1000/2000 (int or digit string) for
        `nslt_<n>.json` beside the metadata or in root; or the path of an nslt
        file (`{video_id: {subset, action: [class, start, end]}}`). Only the
        instances it lists are kept, with its split and its class (action[0]) as
        label; its name is stored in `extra["subset"]`. nslt ids absent from the
        metadata are ignored (the real nslt_300/1000/2000 list a few).
    class_list: an `index<TAB>gloss` file (wlasl_class_list.txt). Without it a
        label is the position of the gloss's entry in the metadata, which is the
        WLASL convention. With it the label is the file's index for the gloss,
        and an instance whose gloss is missing from it is rejected (the real list
        names class 163 "losear" where the v0.3 metadata says "lose").

    Every instance gives one record with sample_id = video_id; those whose video
    file is absent go to `Manifest.missing`. A bad entry costs only itself: a gloss
    entry that is not an object or lacks 'gloss' or 'instances', a gloss listed in two
    entries (the first is kept: a second entry would give it a second label), an
    instance with a missing, unsafe or repeated video_id (the first is kept, the later
    ones name it), a mistyped field, a bad frame range, or a gloss absent from the
    class list goes to `Manifest.rejected` with its place and the reason; so does a
    bad entry of the nslt subset file. Only metadata that cannot be parsed at all (not
    JSON, not a list) is a ManifestError.
    """
    root = Path(root)
    metadata = Path(metadata) if metadata is not None else _default_metadata(root)
    videos_dir = Path(os.path.abspath(videos_dir if videos_dir is not None else root / "videos"))
    entries = load_metadata_json(metadata)
    if not isinstance(entries, list):
        raise ManifestError(f"{metadata}: expected a JSON list of gloss entries, got {type(entries).__name__}")

    collector = ManifestCollector(metadata)
    chosen = _read_subset(subset, metadata, root, collector) if subset is not None else None
    class_index = read_class_list(Path(class_list)) if class_list is not None else None
    videos = index_videos(videos_dir)

    position_of_gloss: dict[str, int] = {}
    for position, entry in enumerate(entries):
        try:
            gloss, instances = _gloss_entry(entry, position)
        except ManifestError as e:
            collector.reject(f"entry {position}", str(e))
            continue
        where_entry = f"gloss {gloss!r} (entry {position})"
        if gloss in position_of_gloss:
            collector.reject(
                where_entry,
                f"gloss {gloss!r} has two entries ({position_of_gloss[gloss]} and {position}); the first is kept, "
                f"these {len(instances)} instances are not",
            )
            continue
        position_of_gloss[gloss] = position
        for n, instance in enumerate(instances):
            where = f"{where_entry}, instance {n}"
            try:
                video_id = _video_id(instance)
            except ManifestError as e:
                collector.reject(where, str(e))
                continue
            if chosen is not None and video_id not in chosen.members:
                continue
            collector.add(
                where,
                lambda i=instance, v=video_id, g=gloss, p=position: _instance_record(
                    i, v, g, p, chosen, class_index, class_list, videos, videos_dir
                ),
                sample_id=video_id,
                present=video_id in videos,
            )
    return collector.manifest()


def _instance_record(
    instance: dict,
    video_id: str,
    gloss: str,
    position: int,
    chosen: _Subset | None,
    class_index: dict[str, int] | None,
    class_list,
    videos: dict[str, Path],
    videos_dir: Path,
) -> SampleRecord:
    extra = {
        "instance_id": instance.get("instance_id"),
        "variation_id": instance.get("variation_id"),
        "url": instance.get("url"),
    }
    subset_split = None
    if chosen is not None:
        subset_split, label = chosen.members[video_id]
        extra["subset"] = chosen.name
        if class_index is not None and class_index.get(gloss) != label:
            raise ManifestError(
                f"{chosen.name} gives class {label} but {class_list} gives {class_index.get(gloss)} for gloss {gloss!r}"
            )
    elif class_index is not None:
        if gloss not in class_index:
            raise ManifestError(f"gloss {gloss!r} is not in the class list {class_list}")
        label = class_index[gloss]
    else:
        label = position
    video_path = videos.get(video_id)
    return SampleRecord(
        sample_id=video_id,
        video_id=video_id,
        video_path=str(video_path) if video_path else os.path.join(videos_dir, video_id + ".mp4"),
        dataset="wlasl",
        gloss=gloss,
        label=label,
        signer_id=_optional(instance, "signer_id", (int, str)),
        split=subset_split or _optional(instance, "split", str),
        frame_start=_integer(instance, "frame_start", 1),
        frame_end=_integer(instance, "frame_end", -1),
        fps=_fps(instance),
        bbox=_bbox(instance),
        source=_optional(instance, "source", str),
        extra=extra,
    )


def read_class_list(path: Path) -> dict[str, int]:
    """Read an `index<TAB>gloss` class list (WLASL's wlasl_class_list.txt) into gloss -> index."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ManifestError(f"cannot read class list {path}: {e.strerror}") from e
    index_of: dict[str, int] = {}
    for line_number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)  # glosses may hold spaces ("thank you")
        if len(parts) != 2 or not parts[0].isdigit():
            raise ManifestError(f"{path}:{line_number}: expected 'index<TAB>gloss', got {line!r}")
        gloss = parts[1].strip()
        if gloss in index_of:
            raise ManifestError(f"{path}:{line_number}: gloss {gloss!r} listed twice")
        index_of[gloss] = int(parts[0])
    return index_of


class _Subset(NamedTuple):
    """An nslt subset: its name ("nslt_100") and video_id -> (split, class index)."""

    name: str
    members: dict[str, tuple[str, int]]


def _default_metadata(root: Path) -> Path:
    for name in METADATA_NAMES:
        if (root / name).is_file():
            return root / name
    raise ManifestError(f"no WLASL metadata in {root} (looked for {' or '.join(METADATA_NAMES)})")


def _read_subset(subset: int | str | Path, metadata: Path, root: Path, collector: ManifestCollector) -> _Subset:
    """The nslt subset; its bad entries are rejected into `collector` (their video ids are left out)."""
    if isinstance(subset, bool):
        raise ManifestError(f"subset must be a size such as 100 or an nslt json path, not {subset!r}")
    if isinstance(subset, int) or (isinstance(subset, str) and subset.isdigit()):
        name = f"nslt_{int(subset)}.json"
        candidates = [metadata.parent / name, root / name]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise ManifestError(f"subset {subset}: no {name} in {metadata.parent} or {root}")
    else:
        path = Path(subset)
    data = load_metadata_json(path)
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object {{video_id: {{subset, action}}}}")
    members: dict[str, tuple[str, int]] = {}
    for video_id, entry in data.items():
        where = f"video_id {video_id!r}"
        try:
            split = entry["subset"]
            label = entry["action"][0]
        except (TypeError, KeyError, IndexError):
            collector.reject(where, "lacks 'subset' or 'action': [class, ...]", sample_id=video_id, metadata=path)
            continue
        if not isinstance(split, str) or not isinstance(label, int) or isinstance(label, bool) or label < 0:
            collector.reject(where, f"bad subset {split!r} or class {label!r}", sample_id=video_id, metadata=path)
            continue
        members[video_id] = (split, label)
    return _Subset(Path(path.name).stem, members)


def _gloss_entry(entry: object, position: int) -> tuple[str, list]:
    if not isinstance(entry, dict):
        raise ManifestError(f"entry {position} is not an object")
    gloss = entry.get("gloss")
    if not isinstance(gloss, str) or not gloss:
        raise ManifestError(f"entry {position} has no 'gloss' string")
    instances = entry.get("instances")
    if not isinstance(instances, list):
        raise ManifestError(f"gloss {gloss!r} (entry {position}) has no 'instances' list")
    return normalise_name(gloss), instances


def _video_id(instance: object) -> str:
    if not isinstance(instance, dict):
        raise ManifestError("not an object")
    video_id = instance.get("video_id")
    # WLASL ids are strings with leading zeros; a number would have lost them.
    if not isinstance(video_id, str) or not video_id:
        raise ManifestError(f"missing or non-string 'video_id' ({video_id!r})")
    # Unsafe ids ("../evil") are rejected by SampleRecord's check_sample_id.
    return video_id


def _optional(instance: dict, key: str, kind: type | tuple[type, ...]):
    value = instance.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ManifestError(f"'{key}' has the wrong type ({value!r})")
    return value


def _integer(instance: dict, key: str, default: int) -> int:
    value = instance.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ManifestError(f"'{key}' must be an integer frame number, got {value!r}")
    return value


def _fps(instance: dict) -> float | None:
    value = _optional(instance, "fps", (int, float))
    if value is None:
        return None
    if value <= 0:
        raise ManifestError(f"'fps' must be positive, got {value!r}")
    return float(value)


def _bbox(instance: dict) -> tuple[int, int, int, int] | None:
    value = instance.get("bbox")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ManifestError(f"'bbox' must be [x1, y1, x2, y2] in pixels, got {value!r}")
    x1, y1, x2, y2 = value
    return (round(x1), round(y1), round(x2), round(y2))
