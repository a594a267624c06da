"""`--format pyskl`: one PoseC3D/pyskl annotation pickle of the chosen samples (docs/exports.md, field by field).

    {"split": {"train": [frame_dir, ...], "test": [...]},
     "annotations": [{"frame_dir", "label", "img_shape", "original_shape", "total_frames",
                      "keypoint" (M, T, V, 2) float32, "keypoint_score" (M, T, V) float32,
                      + "glosses", "translation" for a sentence that has them}, ...],
     "keypoint_info": {...}, "glosses": {label: gloss}}      # signprep's additions; pyskl reads neither

M = 1 (one signer), V = the keypoint subset's points (default SignVTCL's 79), in pixels of the
stored frame, whose (height, width) is `img_shape`; absent points are 0 with score 0.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signprep.atomic import atomic_path
from signprep.exports.format import Exported
from signprep.exports.npz import check_subset
from signprep.exports.pose import require_keypoints
from signprep.shards.reader import SampleView

# protocol 5 needs Python 3.8 to read, 4 reads from 3.4: older mmaction2/pyskl environments read it too
PICKLE_PROTOCOL = 4


@dataclass(frozen=True)
class PysklExport:
    keypoint_subset: str = "signvtcl79"

    name = "pyskl"
    per_sample = False
    suffix = ""

    def __post_init__(self) -> None:
        check_subset(self.keypoint_subset)

    @property
    def output_name(self) -> str:
        return f"pyskl_{self.keypoint_subset}.pkl"

    def options(self) -> dict[str, Any]:
        return {"keypoint_subset": self.keypoint_subset}

    def check(self, sample: SampleView) -> None:
        require_keypoints(sample)

    def export_sample(self, sample: SampleView, dest: Path) -> Exported:
        a = sample.attrs
        layout = sample.layout()
        indices = layout.subset(self.keypoint_subset)
        present = sample.read("keypoint_present")[:, indices]
        keypoint = np.where(present[..., None], sample.read("keypoints")[:, indices, :2], 0).astype(np.float32)
        score = np.where(present, sample.read("keypoint_confidence")[:, indices], 0).astype(np.float32)
        annotation = {
            "frame_dir": sample.sample_id,
            "label": int(a["label"]),
            "img_shape": (int(a["height"]), int(a["width"])),
            "original_shape": (int(a["source_height"]), int(a["source_width"])),
            "total_frames": sample.num_frames,
            "keypoint": keypoint[None],
            "keypoint_score": score[None],
        }
        if a.get("glosses"):  # a sentence (PHOENIX, CSL-Daily): its glosses in signing order, for CTC
            annotation["glosses"] = [str(g) for g in a["glosses"]]
        if a.get("translation"):
            annotation["translation"] = str(a["translation"])
        info = {
            "subset": self.keypoint_subset,
            "names": [layout.names()[i] for i in indices],
            "indices": [int(i) for i in indices],
            "skeleton": layout.limbs_within(indices),
        }
        row = {"annotation": annotation, "split": str(a["split"]), "gloss": str(a["gloss"]), "keypoint_info": info}
        return Exported(sample.sample_id, 0, sample.num_frames, row)

    def row_of(self, sample: SampleView) -> Any:
        raise NotImplementedError("the pickle is written whole")  # never asked: not a per-sample format

    def read_rows(self, dest: Path) -> dict[str, Any]:
        return {}

    def finish(self, dest: Path, rows: dict[str, dict[str, Any]]) -> list[Path]:
        splits: dict[str, list[str]] = {}
        for sample_id, row in rows.items():
            if row["split"]:  # a sample without a split is in no list
                splits.setdefault(row["split"], []).append(sample_id)
        content = {
            "split": splits,
            "annotations": [row["annotation"] for row in rows.values()],
            # one shard directory is one pipeline, so one face mesh: every sample has the same layout
            "keypoint_info": next(iter(rows.values()))["keypoint_info"],
            "glosses": {row["annotation"]["label"]: row["gloss"] for row in rows.values()},
        }
        path = dest / self.output_name
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                pickle.dump(content, f, protocol=PICKLE_PROTOCOL)
        return [path]
