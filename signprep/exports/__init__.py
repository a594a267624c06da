"""Exports of a shard directory into the files other teams' tools read (`signprep export`).

- `pose`: one pose-format `.pose` file per sample (sign-language-processing's tools, sign.mt, SLR
  repositories), and a manifest that imports them again (signprep/exports/pose.py);
- `pyskl`: one PoseC3D/pyskl annotation pickle (mmaction2, pyskl) of a keypoint subset
  (signprep/exports/pyskl.py; docs/exports.md, field by field);
- `npz`: one NumPy archive per sample and a CSV table of the samples' attributes, for teams without
  HDF5 (signprep/exports/npz.py).

`run_export` (signprep/exports/job.py) is the job: resumable, atomic per file, parallel.
"""

from __future__ import annotations

from collections.abc import Sequence

from signprep.exports.format import Exported, ExportError, ExportFormat
from signprep.exports.job import ExportConflict, ExportSummary, choose_samples, run_export
from signprep.exports.npz import NpzExport
from signprep.exports.pose import PoseExport
from signprep.exports.pyskl import PysklExport

FORMATS = ("pose", "pyskl", "npz")

__all__ = [
    "FORMATS",
    "ExportConflict",
    "ExportError",
    "ExportFormat",
    "ExportSummary",
    "Exported",
    "NpzExport",
    "PoseExport",
    "PysklExport",
    "choose_samples",
    "make_format",
    "run_export",
]


def make_format(name: str, keypoint_subset: str | None = None, modalities: Sequence[str] = ()) -> ExportFormat:
    """The export format `name` with its options; ExportError for an unknown format or subset, or an
    option the format does not take."""
    if name not in FORMATS:
        raise ExportError(f"unknown export format {name!r}; known: {', '.join(FORMATS)}")
    if modalities and name != "npz":
        raise ExportError(f"--modality applies to --format npz; {name} holds keypoints only")
    if name == "pose":
        if keypoint_subset is not None:
            raise ExportError("--keypoint-subset does not apply to --format pose: a .pose file holds every point")
        return PoseExport()
    if name == "pyskl":
        return PysklExport(keypoint_subset or "signvtcl79")
    return NpzExport(keypoint_subset or "all", tuple(dict.fromkeys(modalities)))
