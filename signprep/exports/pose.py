"""`--format pose`: one pose-format `.pose` file per sample, and the manifest that imports them again.

DIR/<sample_id>.pose (an id that is not a plain ASCII file name gets its safe stem:
`sample_file_name`): MediaPipe Holistic in pose-format's own header (pose, face, left hand,
right hand; pose-format's point names, limbs and colours; no world landmarks), the source
video's width and height, the fps of the stored frames, one person; x, y in the source video's
pixels, z MediaPipe's raw depth, confidence from `keypoint_confidence`, absent points 0 and masked
(signprep/pose_files.py has the conventions). The file holds the sample's stored frames: its
frame range and frame rate are applied already.

DIR/manifest.jsonl: one manifest record per file (`video_path` = the file's name, relative to
DIR; the real sample id, gloss, glosses and translation, label, signer, split, dataset, bbox of
the sample), so that `signprep import
--format pose DIR --manifest DIR/manifest.jsonl` labels the files as the shards did.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signprep.atomic import atomic_write_bytes
from signprep.exports.format import Exported, ExportError, sample_file_name
from signprep.manifests.records import SampleRecord, read_manifest, write_manifest
from signprep.pose_files import pose_bytes, pose_of_sample, require_pose_format
from signprep.shards.reader import SampleView

MANIFEST_NAME = "manifest.jsonl"
KEYPOINT_DATASETS = ("keypoints", "keypoint_confidence", "keypoint_present")


@dataclass(frozen=True)
class PoseExport:
    name = "pose"
    per_sample = True
    suffix = ".pose"
    output_name = MANIFEST_NAME

    def options(self) -> dict[str, Any]:
        return {}

    def check(self, sample: SampleView) -> None:
        require_pose_format("export --format pose")
        require_keypoints(sample)

    def export_sample(self, sample: SampleView, dest: Path) -> Exported:
        data = pose_bytes(pose_of_sample(sample))
        atomic_write_bytes(dest / sample_file_name(sample.sample_id, self.suffix), data)
        return Exported(sample.sample_id, bytes=len(data), frames=sample.num_frames, row=self.row_of(sample))

    def row_of(self, sample: SampleView) -> SampleRecord:
        """The manifest record of the sample's file: its own frames (1..-1), in the source video's pixels."""
        a = sample.attrs
        bbox = a.get("bbox") or None
        return SampleRecord(
            sample_id=sample.sample_id,
            video_path=sample_file_name(sample.sample_id, self.suffix),
            dataset=str(a["dataset"]),
            gloss=a["gloss"] or None,
            glosses=tuple(a.get("glosses") or ()) or None,  # a sentence's, in signing order
            translation=a.get("translation") or None,
            label=int(a["label"]),
            signer_id=a["signer_id"] or None,
            split=a["split"] or None,
            fps=float(a["fps"]),
            bbox=tuple(int(v) for v in bbox) if bbox else None,  # source pixels, as the file's coordinates
            source=a.get("source") or None,
            video_id=a.get("video_id") or None,
        )

    def read_rows(self, dest: Path) -> dict[str, SampleRecord]:
        path = dest / MANIFEST_NAME
        if not path.is_file():
            return {}
        # read_manifest resolves the relative file names against DIR: keep them relative
        return {r.sample_id: dataclasses.replace(r, video_path=Path(r.video_path).name) for r in read_manifest(path)}

    def finish(self, dest: Path, rows: dict[str, SampleRecord]) -> list[Path]:
        write_manifest(rows.values(), dest / MANIFEST_NAME)
        return [dest / MANIFEST_NAME]


def require_keypoints(sample: SampleView) -> None:
    missing = [name for name in KEYPOINT_DATASETS if name not in sample.datasets]
    if missing:
        raise ExportError(
            f"sample {sample.sample_id} has no {', '.join(missing)} (datasets: {', '.join(sample.datasets)}): "
            "its pipeline ran without the keypoint stage"
        )
