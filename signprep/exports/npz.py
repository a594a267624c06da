"""`--format npz`: one NumPy archive per sample and one CSV table of the samples' attributes.

DIR/<sample_id>.npz (the safe stem of an id that is not a plain ASCII file name; `numpy.load`;
zip-deflated: 35% smaller than `np.savez` on three corpus samples, for ~20 ms more per sample),
arrays as the shards store them (docs/shards.md):
    keypoints            (T, K', 3) float32   x, y pixels of the stored frame; z = MediaPipe depth x width
    keypoint_confidence  (T, K') float32
    keypoint_present     (T, K') bool
    keypoint_indices     (K',) int64          which of the shard's K points these are (the subset)
    frame_indices        (T,) int32           0-based source frame of each stored frame
    + each dataset asked for with --modality (heatmaps, frames, flow, ...), as stored (uint8 heatmaps:
      value x `heatmap_scale` in the table)

DIR/samples.csv (UTF-8): one row per archive in DIR: `sample_id`, `file`, then every sample attribute
in name order (docs/shards.md lists them); lists (glosses, crop_box, ...) and nested values as JSON text.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signprep.atomic import atomic_path, atomic_write_text
from signprep.exports.format import Exported, ExportError, sample_file_name
from signprep.exports.pose import require_keypoints
from signprep.kernels.keypoint_layout import KeypointLayout
from signprep.shards.reader import SampleView

TABLE_NAME = "samples.csv"
FIRST_COLUMNS = ("sample_id", "file")


@dataclass(frozen=True)
class NpzExport:
    keypoint_subset: str = "all"
    modalities: tuple[str, ...] = ()

    name = "npz"
    per_sample = True
    suffix = ".npz"
    output_name = TABLE_NAME

    def __post_init__(self) -> None:
        check_subset(self.keypoint_subset)

    def options(self) -> dict[str, Any]:
        return {"keypoint_subset": self.keypoint_subset, "modalities": sorted(self.modalities)}

    def check(self, sample: SampleView) -> None:
        require_keypoints(sample)
        missing = [m for m in self.modalities if m not in sample.datasets]
        if missing:
            raise ExportError(
                f"no modality {', '.join(map(repr, missing))} in the shards (sample {sample.sample_id} holds "
                f"{', '.join(sample.datasets)})"
            )

    def export_sample(self, sample: SampleView, dest: Path) -> Exported:
        indices = sample.layout().subset(self.keypoint_subset)
        arrays = {
            "keypoints": sample.read("keypoints")[:, indices],
            "keypoint_confidence": sample.read("keypoint_confidence")[:, indices],
            "keypoint_present": sample.read("keypoint_present")[:, indices],
            "keypoint_indices": indices,
            "frame_indices": sample.read("frame_indices"),
        }
        for modality in self.modalities:
            arrays[modality] = sample.read(modality)
        path = dest / sample_file_name(sample.sample_id, self.suffix)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:  # a file object: given a name, numpy would append ".npz" itself
                np.savez_compressed(f, **arrays)
        return Exported(sample.sample_id, path.stat().st_size, sample.num_frames, self.row_of(sample))

    def row_of(self, sample: SampleView) -> dict[str, str]:
        row = {"sample_id": sample.sample_id, "file": sample_file_name(sample.sample_id, self.suffix)}
        for key, value in sorted(sample.attrs.items()):
            if key in row:  # the sample_id attribute: the index's id (the group's name) is the one kept
                continue
            row[key] = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
        return row

    def read_rows(self, dest: Path) -> dict[str, dict[str, str]]:
        path = dest / TABLE_NAME
        if not path.is_file():
            return {}
        with path.open(newline="", encoding="utf-8") as f:
            return {row["sample_id"]: row for row in csv.DictReader(f)}

    def finish(self, dest: Path, rows: dict[str, dict[str, str]]) -> list[Path]:
        columns = list(FIRST_COLUMNS) + sorted({k for row in rows.values() for k in row} - set(FIRST_COLUMNS))
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows.values())
        atomic_write_text(dest / TABLE_NAME, text.getvalue())
        return [dest / TABLE_NAME]


def check_subset(name: str) -> None:
    """ExportError unless `name` is a keypoint subset (`KeypointLayout.subset`)."""
    try:
        KeypointLayout().subset(name)
    except KeyError as e:
        raise ExportError(e.args[0]) from None
