"""Shards from a folder of pose-format `.pose` files, without video (`signprep import --format pose`).

Which file is a sample's: `DIR/<name>.pose`, where <name> is the stem of the sample's video file
(or frame folder) in its manifest record (WLASL: the video id), which is what pose-format's
`videos_to_poses` writes for a folder of videos; for a frame-folder pattern (PHOENIX's
`<name>/1/*.png`, whose last folder names no sample) the sample id's file stem
(`output_file_stem`: the id itself for PHOENIX's ASCII names). Several records may share a file
(How2Sign's sentences are time ranges of one raw video). Labels, glosses, translations, splits,
signers and frame or time ranges come from that record (a manifest file or a dataset builder).
Without records, every `.pose` file of DIR is a sample of its own, unlabelled, named after its
file (signprep.manifests.names: any script; a name that cannot be an id is a rejected entry, and
the other files are imported).

The job is the extract job (signprep/extraction/runner.py) on a pipeline with `source: pose`:
resume by index, parts, packing, lock, errors file, --workers, the summary. The keypoints come from
the files (signprep/pose_files.py: pixels of the file's video, z scaled by its width), each
record's frame or time range and the pipeline's decode.fps select their frames as they would a video's,
and keypoint-only stages (heatmaps) run on them; a stage that needs frames is refused before
anything runs (`on_pose_files`). A bad file fails alone, named, with stage "read".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from signprep.extraction.pipeline import PipelineConfig, on_pose_files
from signprep.extraction.runner import ExtractSummary, run_extract
from signprep.manifests.names import output_file_stem, printable
from signprep.manifests.records import Manifest, ManifestCollector, ManifestError, SampleRecord, check_sample_id
from signprep.pose_files import require_pose_format
from signprep.video.frame_folder import split_pattern

SUFFIX = ".pose"
UNLABELLED_DATASET = "pose"  # the `dataset` of files imported without records


def pose_manifest(poses_dir: Path, labels: Manifest | None = None) -> Manifest:
    """The samples of a folder of .pose files: `labels`' records (present and missing videos alike) with
    `video_path` their .pose file (missing when absent), or without labels one record per file."""
    poses_dir = Path(poses_dir).absolute()
    if not poses_dir.is_dir():
        raise ManifestError(f"no folder of .pose files at {poses_dir}")
    if labels is None:
        files = sorted(p for p in poses_dir.glob(f"*{SUFFIX}") if not p.name.startswith("."))  # ._x: macOS forks
        if not files:
            raise ManifestError(f"no {SUFFIX} files in {poses_dir}")
        collector = ManifestCollector(poses_dir)  # a bad name costs its file only; NFC twins keep the first
        for path in files:
            collector.add(
                printable(path.name),
                lambda path=path: SampleRecord(check_sample_id(path.stem), str(path), UNLABELLED_DATASET),
                sample_id=printable(path.stem),
                present=True,
            )
        return collector.manifest()
    present, missing = [], []
    for record in labels.records + labels.missing:
        pose_file = pose_file_of(record, poses_dir)
        (present if pose_file.is_file() else missing).append(dataclasses.replace(record, video_path=str(pose_file)))
    return Manifest(present, missing, list(labels.rejected))


def pose_file_of(record: SampleRecord, poses_dir: Path) -> Path:
    """The .pose file of `record` in `poses_dir` (the module's docstring says which)."""
    _, pattern = split_pattern(record.video_path)
    stem = output_file_stem(record.sample_id) if pattern is not None else Path(record.video_path).stem
    return poses_dir / f"{stem}{SUFFIX}"


def choose_records(manifest: Manifest, samples: list[str] | None = None, splits: list[str] | None = None) -> Manifest:
    """The records whose ids are in `samples` (all when None) and whose split is in `splits` (any when None);
    ManifestError naming ids the manifest lacks."""
    every = manifest.records + manifest.missing
    if samples:
        unknown = sorted(set(samples) - {r.sample_id for r in every})
        if unknown:
            raise ManifestError(f"no such samples among the records: {', '.join(unknown[:20])}")

    def chosen(record: SampleRecord) -> bool:
        return (not samples or record.sample_id in samples) and (not splits or (record.split or "") in splits)

    records, missing = [r for r in manifest.records if chosen(r)], [r for r in manifest.missing if chosen(r)]
    return Manifest(records, missing, manifest.rejected if not samples and not splits else [])


def run_import(
    poses_dir: Path,
    out: Path,
    pipeline: PipelineConfig,
    labels: Manifest | None = None,
    *,
    samples: list[str] | None = None,
    splits: list[str] | None = None,
    workers: int = 1,
    force: bool = False,
    progress: bool = True,
) -> ExtractSummary:
    """Import the .pose files of `poses_dir` into shards in `out` with `pipeline` (its stages checked for
    pose files first: ConfigError naming a stage that needs frames). Raises as `run_extract` does."""
    require_pose_format("import --format pose")
    pose_pipeline = on_pose_files(pipeline)
    manifest = choose_records(pose_manifest(poses_dir, labels), samples, splits)
    return run_extract(manifest, pose_pipeline, out, workers=workers, force=force, progress=progress)
