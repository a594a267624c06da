"""The classes of a shard directory: shard label <-> class index <-> gloss.

Every recipe that classifies glosses maps the shards' labels (WLASL's gloss ids, sparse) to
class indices 0..C-1 in label order, and stores the vocabulary in its checkpoint's metadata
(`to_dict`), so the model's outputs can be named again at embedding time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from signprep.shards import ShardReader

__all__ = ["Vocabulary"]


class Vocabulary:
    """Class index <-> gloss of a shard directory: every labelled sample of the index, all splits.

    `label_map` {shard label: class index}, `glosses` [class index] -> gloss (the label as text
    when a sample has no gloss).
    """

    def __init__(self, label_map: dict[int, int], glosses: list[str]) -> None:
        self.label_map, self.glosses = label_map, glosses

    @classmethod
    def from_shards(cls, shards: str | Path) -> Vocabulary:
        """The labelled samples of the shard index, in label order; ValueError naming `shards` if none."""
        with ShardReader(shards) as reader:
            gloss_of: dict[int, str] = {}
            for e in reader.index.samples.values():
                if int(e.get("label", -1)) >= 0:
                    gloss_of.setdefault(int(e["label"]), e.get("gloss") or str(e["label"]))
        if not gloss_of:
            raise ValueError(f"{shards}: no labelled samples in the shard index")
        labels = sorted(gloss_of)
        return cls({lab: i for i, lab in enumerate(labels)}, [gloss_of[lab] for lab in labels])

    def to_dict(self) -> dict:
        """{"labels": shard labels in class order, "glosses"}: plain lists, for a checkpoint's metadata."""
        return {"labels": sorted(self.label_map, key=self.label_map.__getitem__), "glosses": list(self.glosses)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Vocabulary:
        return cls({int(lab): i for i, lab in enumerate(d["labels"])}, list(d["glosses"]))

    def __len__(self) -> int:
        return len(self.glosses)
