"""The classes of a shard directory: shard label <-> class index <-> gloss (isolated signs), and the
gloss vocabulary of sequences (continuous datasets, CTC targets).

Every recipe that classifies glosses maps the shards' labels (WLASL's gloss ids, sparse) to
class indices 0..C-1 in label order, and stores the vocabulary in its checkpoint's metadata
(`to_dict`), so the model's outputs can be named again at embedding time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from signprep.shards import ShardReader

__all__ = ["GlossVocabulary", "Vocabulary"]


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


class GlossVocabulary:
    """Gloss <-> index for gloss *sequences* (continuous datasets), the targets of a CTC loss.

    Built from the gloss sequences of one split (`from_shards(shards, split="train")`, the
    training sentences): the glosses sorted by code point, so the same split always gives the
    same indices. Index 0 is the CTC blank (`BLANK`, never a target; pass `blank=0` to
    `torch.nn.CTCLoss`), index 1 stands for any gloss the building split lacks (`UNKNOWN`: a
    dev/test gloss never seen in training), the glosses follow from 2.
    """

    BLANK, UNKNOWN = "<blank>", "<unk>"
    BLANK_INDEX, UNKNOWN_INDEX = 0, 1

    def __init__(self, glosses: list[str]) -> None:
        self.tokens = [self.BLANK, self.UNKNOWN, *glosses]
        self.index = {g: i for i, g in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("a gloss vocabulary lists each gloss once (and not <blank> or <unk>)")

    @classmethod
    def from_shards(cls, shards: str | Path, split: str | None = "train") -> GlossVocabulary:
        """The glosses of the sequences of `split` (None: every split); ValueError naming `shards` if none."""
        with ShardReader(shards) as reader:
            entries = [e for e in reader.index.samples.values() if split is None or e.get("split") == split]
        glosses = {g for e in entries for g in e.get("glosses") or ()}
        if not glosses:
            where = f"the {split!r} split" if split is not None else "any split"
            raise ValueError(f"{shards}: no gloss sequences in {where} of the shard index")
        return cls(sorted(glosses))

    def encode(self, glosses: list[str] | tuple[str, ...]) -> list[int]:
        """Indices of a gloss sequence; a gloss the vocabulary lacks becomes UNKNOWN_INDEX."""
        return [self.index.get(g, self.UNKNOWN_INDEX) for g in glosses]

    def decode(self, indices) -> list[str]:
        """Glosses of indices (blanks dropped; no CTC collapsing: do that on the network's output)."""
        return [self.tokens[int(i)] for i in indices if int(i) != self.BLANK_INDEX]

    def to_dict(self) -> dict:
        """{"glosses": [...]} (without blank and unknown): plain lists, for a checkpoint's metadata."""
        return {"glosses": self.tokens[2:]}

    @classmethod
    def from_dict(cls, d: Mapping) -> GlossVocabulary:
        return cls(list(d["glosses"]))

    def __len__(self) -> int:
        """The number of classes a CTC network outputs: blank + unknown + glosses."""
        return len(self.tokens)
