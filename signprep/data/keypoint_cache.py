"""A bounded, per-process cache of decompressed keypoints: decode a sample once, cut clips from memory.

What one entry holds: the whole sample's `keypoints` (T, P, 3) float32, `keypoint_confidence`
(T, P) float32 and `keypoint_present` (T, P) bool for the P stored points a dataset keeps
(its subset plus the two shoulders the normalisation needs): 17 bytes per point and frame,
exact copies of the stored values; with gap filling (`ShardDataset(fill_gaps=N)`) the values
filled over the whole sample and a `filled` flag (18 bytes). Sizes: a 32-frame clip's worth is 43 KB for the
SignVTCL 79 points; full WLASL (21,083 videos, ~1.34M frames) is ~1.8 GB for those 79
points and ~12.4 GB for all 543.

Bound: entries are added until `max_bytes` is reached, then no more (nothing is evicted):
random access over an epoch makes every eviction order as good as any other, and a fixed
set of resident samples gives a steady hit rate of about `max_bytes / dataset bytes`
with no copying. Each DataLoader worker fills its own (a dataset forked after filling
shares the parent's entries copy-on-write); spawned workers start empty.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# keypoints (3 float32) + confidence (float32) + present (bool), per point and frame
BYTES_PER_POINT_FRAME = 17


class CachedKeypoints(NamedTuple):
    keypoints: np.ndarray  # (T, P, 3) float32, read-only
    confidence: np.ndarray  # (T, P) float32, read-only
    present: np.ndarray  # (T, P) bool, read-only
    filled: np.ndarray | None = None  # (T, P) bool, read-only: points gap filling made present

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(a for a in self if a is not None)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)


class KeypointCache:
    """sample id -> CachedKeypoints, at most `max_bytes` of arrays in all (0: off)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.hits = self.misses = 0
        self._entries: dict[str, CachedKeypoints] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, sample_id: str) -> CachedKeypoints | None:
        entry = self._entries.get(sample_id)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def fits(self, nbytes: int) -> bool:
        """Would an entry of `nbytes` be kept?"""
        return self.nbytes + nbytes <= self.max_bytes

    def add(self, sample_id: str, entry: CachedKeypoints) -> bool:
        """Keep `entry` if it fits under the bound; returns whether it was kept."""
        if sample_id in self._entries or not self.fits(entry.nbytes):
            return False
        for a in entry.arrays:
            a.setflags(write=False)  # clips are cut by fancy indexing (copies): nothing may write here
        self._entries[sample_id] = entry
        self.nbytes += entry.nbytes
        return True
