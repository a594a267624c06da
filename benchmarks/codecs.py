"""Storage options measured on the corpus: bytes per frame, write and read speed, clip reads.

For each storage option (gzip 1/4/9, LZF, LZ4, none, all with the shuffle filter where there is
a filter; chunks of up to 64 frames capped at 1 MiB, the old layout, or "1-frame": frames of
more than 8 KiB, the image modalities, one per chunk, the new default) and each modality of
a shard directory, every
sample's dataset is written into an in-memory HDF5 file and read back:
  - bytes/frame stored;
  - write frames/s (compression; the shard's disk write is the same for all and not timed);
  - read frames/s, whole samples (decompression);
  - clips/s: 32-frame uniform clips read as ShardDataset reads them (`read_frames`: only the
    chunks holding a wanted frame), the figure a DataLoader worker sees before the rest of
    an item.
Then, per image modality, the CPU time to inflate one stored one-frame chunk: Python's zlib (the
read path before), zlib-ng (the read path's deflate now) and lz4 (the opt-in codec's).
Times are this process's CPU time (all of the work is in this process: in-memory files, no
disk; on a shared machine wall time counts other jobs' time slices). Options are measured in
alternating order, median of --rounds rounds (the range beside it). Also prints the largest error float16 would
make on the stored pixel coordinates (why coordinates stay float32).

Run: python benchmarks/codecs.py SHARDS [--clips 12] [--rounds 3]
     (SHARDS from `signprep extract --pipeline multimodal`; benchmarks/loader.py makes one too)
"""

from __future__ import annotations

import argparse
import statistics
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
from zlib_ng import zlib_ng

from signprep.data.clips import sample_clip_indices
from signprep.data.datasets import read_frames
from signprep.shards import ShardReader
from signprep.shards.codecs import dataset_filters, decode_lz4_chunk
from signprep.shards.writer import chunk_frames

ONE_FRAME_ABOVE = 8 * 1024  # the default storage.one_frame_chunks_above_kib
# (label, compression, level, chunk byte cap, frames of more bytes than this alone in a chunk)
OPTIONS = [
    ("none", "none", 0, 2**20, None),
    ("lzf", "lzf", 0, 2**20, None),
    ("lz4", "lz4", 0, 2**20, None),
    ("gzip 1", "gzip", 1, 2**20, None),
    ("gzip 4 (old default)", "gzip", 4, 2**20, None),
    ("gzip 9", "gzip", 9, 2**20, None),
    ("none, 1-frame", "none", 0, 2**20, ONE_FRAME_ABOVE),
    ("lzf, 1-frame", "lzf", 0, 2**20, ONE_FRAME_ABOVE),
    ("lz4, 1-frame", "lz4", 0, 2**20, ONE_FRAME_ABOVE),
    ("gzip 1, 1-frame (default)", "gzip", 1, 2**20, ONE_FRAME_ABOVE),
    ("gzip 4, 1-frame", "gzip", 4, 2**20, ONE_FRAME_ABOVE),
]
MODALITIES = ("keypoints", "keypoint_confidence", "keypoint_present", "frames", "heatmaps", "flow")


def measure(arrays: list[np.ndarray], compression: str, level: int, cap: int, one_frame) -> tuple[float, ...]:
    """(bytes/frame, write frames/s, read frames/s, clips/s) of one modality under one option."""
    frames = sum(len(a) for a in arrays)
    stored = write_s = read_s = clip_s = 0.0
    clips = 0
    with h5py.File("codecs.h5", "w", driver="core", backing_store=False) as f:
        for i, a in enumerate(arrays):
            chunks = (chunk_frames(a, 64, cap, one_frame),) + a.shape[1:]
            t = time.process_time()
            ds = f.create_dataset(str(i), data=a, chunks=chunks, **dataset_filters(compression, level))
            f.flush()
            write_s += time.process_time() - t
            stored += ds.id.get_storage_size()
        for i, a in enumerate(arrays):
            t = time.process_time()
            f[str(i)][()]
            read_s += time.process_time() - t
            idx = sample_clip_indices(len(a), 32, "uniform")
            t = time.process_time()
            read_frames(f[str(i)], idx)
            clip_s += time.process_time() - t
            clips += 1
    return stored / frames, frames / write_s, frames / read_s, clips / clip_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shards", type=Path)
    ap.add_argument("--clips", type=int, default=12, help="samples whose image modalities are measured (all: 0)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with ShardReader(args.shards) as reader:
        ids = list(reader)
        image_ids = ids if args.clips <= 0 else ids[:: max(1, len(ids) // args.clips)][: args.clips]
        data = {}
        for name in MODALITIES:
            chosen = ids if name.startswith("keypoint") else image_ids
            if name in reader[ids[0]].datasets:
                data[name] = [reader[s].read(name) for s in chosen]
    frames = {name: sum(len(a) for a in arrays) for name, arrays in data.items()}
    print(f"{args.shards}: {len(ids)} samples; keypoints over all ({frames['keypoints']} frames),")
    print(f"  image modalities over {len(image_ids)} samples ({frames.get('frames', 0)} frames); "
          f"median of {args.rounds} alternating rounds")  # fmt: skip
    results: dict[tuple[str, str], list[tuple[float, ...]]] = {}
    for r in range(args.rounds):
        order = OPTIONS if r % 2 == 0 else OPTIONS[::-1]
        for label, *option in order:
            for name, arrays in data.items():
                results.setdefault((label, name), []).append(measure(arrays, *option))
        print(f"  round {r + 1} done", flush=True)

    def cell(values, k):
        xs = [v[k] for v in values]
        return statistics.median(xs), min(xs), max(xs)

    groups = {"keypoints (3 datasets)": [n for n in data if n.startswith("keypoint")]}
    groups.update({n: [n] for n in data if not n.startswith("keypoint")})
    for group, names in groups.items():
        print(f"\n[{group}]")
        print(f"{'option':<26} {'bytes/frame':>11} {'write fr/s':>11} {'read fr/s':>18} {'32-frame clips/s':>20}")
        for label, *_ in OPTIONS:
            per = [results[(label, n)] for n in names]
            size = sum(cell(v, 0)[0] for v in per)
            # rates of several datasets read one after the other: 1 / sum(1 / rate)
            rates = []
            for k in (1, 2, 3):
                med = 1 / sum(1 / cell(v, k)[0] for v in per)
                lo = 1 / sum(1 / cell(v, k)[1] for v in per)
                hi = 1 / sum(1 / cell(v, k)[2] for v in per)
                rates.append((med, lo, hi))
            (w, _, _), (rd, rlo, rhi), (c, clo, chi) = rates
            print(f"{label:<26} {size:11.0f} {w:11.0f} {rd:8.0f} ({rlo:.0f}-{rhi:.0f}) {c:9.0f} ({clo:.0f}-{chi:.0f})")
    inflate_rates(data)
    kp = np.concatenate([a.reshape(-1, 3)[:, :2] for a in data["keypoints"]])
    err = np.abs(kp.astype(np.float16).astype(np.float32) - kp).max()
    print(f"\nfloat16 coordinates: largest error {err:.2f} px on these samples (up to {kp.max():.0f} px): not offered")


def inflate_rates(data: dict[str, list[np.ndarray]]) -> None:
    """CPU us to inflate one one-frame chunk of each image modality: zlib, zlib-ng (gzip 1) and lz4."""
    print("\n[inflate] CPU us per one-frame chunk (median of 5 passes over every chunk)")
    inflaters = {"gzip 1, zlib": zlib.decompress, "gzip 1, zlib-ng": zlib_ng.decompress, "lz4": decode_lz4_chunk}
    for name, arrays in data.items():
        if name.startswith("keypoint"):
            continue
        chunks = {}
        with h5py.File("inflate.h5", "w", driver="core", backing_store=False) as f:
            for codec, level in (("gzip", 1), ("lz4", 0)):
                for i, a in enumerate(arrays):
                    filters = dataset_filters(codec, level)
                    ds = f.create_dataset(f"{codec}{i}", data=a, chunks=(1,) + a.shape[1:], **filters)
                    raws = [ds.id.read_direct_chunk((t,) + (0,) * (a.ndim - 1))[1] for t in range(len(a))]
                    chunks.setdefault(codec, []).extend(raws)
        cells = []
        for label, inflate in inflaters.items():
            raws = chunks["lz4" if label == "lz4" else "gzip"]
            passes = []
            for _ in range(5):
                t = time.process_time()
                for raw in raws:
                    inflate(raw)
                passes.append((time.process_time() - t) / len(raws) * 1e6)
            cells.append(f"{label} {statistics.median(passes):7.1f}")
        print(f"  {name:<12} " + " | ".join(cells))


if __name__ == "__main__":
    main()
