"""What a shard directory holds, sample by sample: the facts `signprep report` and `inspect` show.

One `SampleFacts` per indexed sample, from its index entry and its group's attributes and
dataset sizes (no array is read, except the keypoint arrays of a sample whose quality
figures predate the index field: `ShardReader.quality` recomputes them); the run's
failures from `extract_errors.jsonl` and its summary from `extract_summary.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from signprep.shards.reader import ShardReader

ERRORS_FILE = "extract_errors.jsonl"  # signprep/extraction/runner.py writes both
SUMMARY_FILE = "extract_summary.json"


@dataclass
class SampleFacts:
    sample_id: str
    split: str
    gloss: str
    signer_id: str
    num_frames: int
    fps: float
    width: int  # stored frame, pixels
    height: int
    quality: dict[str, Any] | None  # signprep/kernels/keypoint_quality.py; None without keypoints
    stored_bytes: dict[str, int] = field(default_factory=dict)  # dataset -> bytes on disk (compressed)
    person_box: list[float] | None = None  # stored-frame pixels, with fit: person
    person_box_basis: str = ""
    glosses: tuple[str, ...] = ()  # a sentence's gloss sequence (continuous datasets); () for an isolated sign

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps if self.fps else 0.0

    @property
    def gloss_tokens(self) -> tuple[str, ...]:
        """The glosses the sample signs: its one gloss, or a sentence's sequence; () if unlabelled."""
        return (self.gloss,) if self.gloss else self.glosses

    @property
    def label_text(self) -> str:
        """What the sample signs, for a table cell: the gloss, or the sentence's glosses."""
        return self.gloss or " ".join(self.glosses)


def gather_samples(reader: ShardReader, *, progress: bool = False) -> list[SampleFacts]:
    """The facts of every indexed sample, in sample-id order."""
    facts = []
    for sample_id in tqdm(list(reader), desc="read samples", unit="sample", disable=not progress, leave=False):
        entry, view = reader.index.samples[sample_id], reader[sample_id]
        a = view.attrs
        facts.append(
            SampleFacts(
                sample_id=sample_id,
                split=str(entry.get("split", "")),
                gloss=str(entry.get("gloss", "")),
                signer_id=str(entry.get("signer_id", "")),
                num_frames=int(entry["num_frames"]),
                fps=float(a.get("fps") or 0.0),
                width=int(a.get("width") or 0),
                height=int(a.get("height") or 0),
                quality=reader.quality(sample_id),
                stored_bytes={name: int(view[name].id.get_storage_size()) for name in view.datasets},
                person_box=a.get("person_box") if isinstance(a.get("person_box"), list) else None,
                person_box_basis=str(a.get("person_box_basis") or ""),
                glosses=tuple(str(g) for g in entry.get("glosses") or ()),  # indexes before issue 18: none
            )
        )
    return facts


def read_errors(root: Path) -> list[dict[str, Any]]:
    """The rows of `extract_errors.jsonl` (the last run's failures, missing videos, rejected entries);
    [] without the file. A line that is not a JSON object is kept as an 'unreadable line' row."""
    path = Path(root) / ERRORS_FILE
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            row = {"sample_id": "", "status": "unreadable line", "stage": "", "error": f"{ERRORS_FILE}:{number}"}
        rows.append(row)
    return rows


def read_summary(root: Path) -> dict[str, Any] | None:
    path = Path(root) / SUMMARY_FILE
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return summary if isinstance(summary, dict) else None
