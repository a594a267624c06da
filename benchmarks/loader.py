"""Training data path throughput, measured side by side in one run.

Samples/s of 32-frame clips, one process (the rate each DataLoader worker delivers), for
  - keypoints: the SignVTCL 79 points, normalised, augmentation on (speed and crop), random
    sampling, as the DSFT recipe reads them;
  - stored heatmaps (uint8, 79 x 64 x 64) and stored frames (112 x 112), no augmentation; heatmaps
    also handed on as stored (`heatmap_dtype="stored"`: uint8 codes, made float on the device);
  - keypoints + heatmaps rendered from them (`HeatmapBatchTransform`) on the CPU, and on
    CUDA when present: the alternative to storing heatmaps;
each read three ways:
  - today's path: `signprep.data.reference_clips.reference_item` (the item as read before
    issue 22) on shards rewritten by this script with the old storage (gzip 4, chunks of 64
    frames capped at 1 MiB): a fixed reference;
  - the new path: `ShardDataset` on shards of the current default storage, keypoints
    from its cache (every epoch after the first) and without it (`keypoint_cache_mb=0`),
    image modalities also from shards stored without a codec (`storage.compression: none`,
    one frame per chunk: the opt-in for a disk that holds 2-37x the bytes) and from shards stored
    with LZ4 (`storage.compression: lz4`, the opt-in plugin codec: `pip install 'signprep[lz4]'`);
  - raw h5py reads of the same whole samples from the old shards (the I/O and decompression
    figure the issue quoted);
and, as a training loop sees them, keypoint clips through torch's DataLoader with one worker (wall
time, batches of 10 and 64, the two tensor-sharing strategies of torch.multiprocessing) beside the
same DataLoader over a dataset that hands out a ready item (the DataLoader's own ceiling: each
batched tensor crosses to the main process through shared memory);
against re-decoding and re-estimating every video (decode + Holistic + the derived stages,
one worker): what training without shards would cost.
Paths are timed in alternating order, `--rounds` rounds of `--seconds` of CPU time each (the
CUDA path in wall time); medians, with the range across rounds in brackets (this machine is
shared: compare within a run). The re-estimation rate is the extraction's wall time.

Run: python benchmarks/loader.py [--clips 6] [--seconds 2] [--rounds 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import torch
import torch.multiprocessing
from step_rate import loader_rate  # benchmarks/step_rate.py: the script's own folder is on sys.path
from torch.utils.data import Dataset

from signprep.data import HeatmapBatchTransform, ShardDataset
from signprep.data.reference_clips import reference_item
from signprep.extraction.pipeline import load_pipeline
from signprep.extraction.runner import run_extract
from signprep.extraction.sample import storage_of
from signprep.kernels.gaussian_heatmaps import render_heatmaps_np, render_heatmaps_torch
from signprep.manifests import Manifest, build_manifest
from signprep.shards import ShardReader
from signprep.shards.repack import repack
from signprep.shards.writer import Storage

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wlasl-sample"
OLD_STORAGE = Storage(
    compression="gzip", compression_level=4, chunk_frames=64, chunk_bytes=2**20, one_frame_chunks_above=None
)
KEYPOINTS = {"modalities": ("keypoints",), "keypoint_subset": "signvtcl79", "augment": True, "sampling": "random"}


def rate(fn: Callable[[], object], seconds: float, timer: Callable[[], float] = time.process_time) -> float:
    """Calls of fn per second of `timer` over at least `seconds` of it: by default this process's CPU
    time, what one single-threaded worker gets from a core of its own (on a shared machine wall time
    counts other jobs' time slices; CUDA paths pass perf_counter)."""
    n, t = 0, timer()
    while timer() - t < seconds:
        fn()
        n += 1
    return n / (timer() - t)


def cycling(fn: Callable[[int], object], n: int) -> Callable[[], object]:
    counter = itertools.count()
    return lambda: fn(next(counter) % n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="keep the shards written here (for benchmarks/codecs.py)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # one DataLoader worker's view
    records = sorted(build_manifest("wlasl", CORPUS).records, key=lambda r: r.sample_id)[: args.clips]
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="signprep-loader-"))
    try:
        new, old = tmp / "new", tmp / "old"
        pipeline = load_pipeline("multimodal")
        summary = run_extract(Manifest(records), pipeline, new, workers=1, progress=False)
        redo = summary.done_now / summary.seconds  # samples/s re-estimating whole videos
        repack(new, old, OLD_STORAGE)
        plain = tmp / "uncompressed"  # storage.compression: none, the opt-in for image modalities
        repack(new, plain, Storage(compression="none"))
        lz4 = tmp / "lz4"  # storage.compression: lz4, the opt-in plugin codec
        repack(new, lz4, Storage(compression="lz4"))
        s = storage_of(pipeline)
        print(f"{summary.done_now} clips, {summary.frames / summary.done_now:.0f} frames each on average; "
              f"32-frame clips; new storage: {s.compression} {s.compression_level if s.compression == 'gzip' else ''}"
              f" chunks <= {s.chunk_frames} frames and {s.chunk_bytes // 1024} KiB")  # fmt: skip

        kp_new = ShardDataset(new, seed=0, **KEYPOINTS)
        kp_nocache = ShardDataset(new, seed=0, keypoint_cache_mb=0, **KEYPOINTS)
        kp_old = ShardDataset(old, seed=0, **KEYPOINTS)  # only its options: reference_item reads
        images = {
            m: (
                ShardDataset(new, modalities=(m,)),
                ShardDataset(old, modalities=(m,)),
                ShardDataset(plain, modalities=(m,)),
                ShardDataset(lz4, modalities=(m,)),
            )
            for m in ("heatmaps", "frames")
        }
        n = len(kp_new)
        [kp_new[i] for i in range(n)]  # the first epoch fills the cache; the rate is every later one's
        old_reader = ShardReader(old)
        transform = HeatmapBatchTransform(keypoint_indices="signvtcl79", size=(64, 64), sigma=2.0)
        kp_all = ShardDataset(new, modalities=("keypoints",), augment=True, sampling="random", seed=0)

        def render_on(device: str) -> Callable[[int], object]:
            def item(i: int):
                batch = {k: (v[None].to(device) if torch.is_tensor(v) else v) for k, v in kp_all[i].items()}
                out = transform(batch)
                if device == "cuda":
                    torch.cuda.synchronize()
                return out

            return item

        ids = list(old_reader)
        files = {s: h5py.File(old / old_reader.index.samples[s]["shard"], "r") for s in ids}

        def raw(names):
            return lambda i: [files[ids[i]]["samples"][ids[i]][m][()] for m in names]

        paths = {
            ("keypoints", "today"): cycling(lambda i: reference_item(kp_old, i, old_reader), n),
            ("keypoints", "new"): cycling(kp_new.__getitem__, n),
            ("keypoints", "new, no cache"): cycling(kp_nocache.__getitem__, n),
            ("keypoints", "raw reads"): cycling(raw(("keypoints", "keypoint_confidence", "keypoint_present")), n),
            ("heatmaps rendered", "CPU"): cycling(render_on("cpu"), n),
        }
        if torch.cuda.is_available():
            paths[("heatmaps rendered", "CUDA")] = cycling(render_on("cuda"), n)
        for m, (ds_new, ds_old, ds_plain, ds_lz4) in images.items():
            paths[(f"stored {m}", "today")] = cycling(lambda i, d=ds_old: reference_item(d, i, old_reader), n)
            paths[(f"stored {m}", "new")] = cycling(ds_new.__getitem__, n)
            paths[(f"stored {m}", "new, no codec")] = cycling(ds_plain.__getitem__, n)
            paths[(f"stored {m}", "new, lz4")] = cycling(ds_lz4.__getitem__, n)
            paths[(f"stored {m}", "raw reads")] = cycling(raw((m,)), n)
        # heatmaps handed on as stored (uint8 codes + heatmap_scale), converted on the training device
        for label, root in (("new, as uint8", new), ("lz4, as uint8", lz4)):
            codes = ShardDataset(root, modalities=("heatmaps",), heatmap_dtype="stored")
            paths[("stored heatmaps", label)] = cycling(codes.__getitem__, n)
        for fn in paths.values():
            fn()  # warm-up
        rates: dict[tuple[str, str], list[float]] = {k: [] for k in paths}
        for r in range(args.rounds):
            for key in list(paths) if r % 2 == 0 else list(paths)[::-1]:
                timer = time.perf_counter if "CUDA" in key[1] else time.process_time
                rates[key].append(rate(paths[key], args.seconds, timer))

        def med(key):
            return statistics.median(rates[key])

        print(f"\n[loader] samples/s, one process; median of {args.rounds} alternating rounds [range]; "
              f"re-estimating the videos: {redo:.3f}/s")  # fmt: skip
        print(f"{'clips':<20} {'path':<15} {'samples/s':>10} {'[range]':>17} {'vs today':>9} {'vs re-estimating':>17}")
        for (what, path), values in rates.items():
            today = (what, "today")
            versus = f"{med((what, path)) / med(today):8.1f}x" if today in rates and path != "today" else ""
            print(f"{what:<20} {path:<15} {med((what, path)):10.1f} [{min(values):7.1f}-{max(values):7.1f}] "
                  f"{versus:>9} {med((what, path)) / redo:16.0f}x")  # fmt: skip
        ratio = med(("keypoints", "new")) / med(("keypoints", "today"))
        print(f"\nkeypoints: new path {med(('keypoints', 'new')):.0f}/s = {ratio:.1f}x today's path (target >= 10x, "
              f">= 2000/s); keypoint cache: {len(kp_new.keypoint_cache)} samples, "
              f"{kp_new.keypoint_cache.nbytes / 2**20:.2f} MiB")  # fmt: skip
        for f in files.values():
            f.close()
        old_reader.close()

        dataloader_rates(kp_new, args.seconds)

        # renderers alone: a batch of 8 clips x 32 frames x 79 keypoints at 64x64
        xy = torch.rand(8, 32, 79, 2) * torch.tensor([640.0, 360.0])
        numpy_rate = rate(lambda: render_heatmaps_np(xy.numpy(), size=(64, 64), sigma=2.0, frame_size=(360, 640)),
                          args.seconds) * 8 * 32  # fmt: skip
        cpu_rate = rate(lambda: render_heatmaps_torch(xy, size=(64, 64), sigma=2.0, frame_size=(360, 640)),
                        args.seconds) * 8 * 32  # fmt: skip
        print("\n[renderers] frames/s, 79 keypoints at 64x64, batches of 8 x 32 frames")
        print(f"  numpy {numpy_rate:10.0f} | torch CPU (1 thread) {cpu_rate:10.0f}")
        if torch.cuda.is_available():
            g = xy.cuda()

            def cuda_render():
                render_heatmaps_torch(g, size=(64, 64), sigma=2.0, frame_size=(360, 640))
                torch.cuda.synchronize()

            cuda_rate = rate(cuda_render, args.seconds, time.perf_counter) * 8 * 32
            name = torch.cuda.get_device_name()
            print(f"  torch CUDA ({name}) {cuda_rate:10.0f} -> {cuda_rate / numpy_rate:6.0f}x numpy")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


class ReadyItem(Dataset):
    """Hands out copies of one item: what a DataLoader costs with nothing to read."""

    def __init__(self, item: dict) -> None:
        self.item = item

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> dict:
        return {k: (v.clone() if torch.is_tensor(v) else v) for k, v in self.item.items()}


def dataloader_rates(keypoints: ShardDataset, seconds: float) -> None:
    ready = ReadyItem(keypoints[0])
    tensors = sum(torch.is_tensor(v) for v in ready.item.values())
    print(f"\n[DataLoader] keypoint clips/s through torch's DataLoader, 1 worker, wall ({tensors} tensors an item)")
    print(f"{'sharing strategy':<18} {'batch':>5} {'ShardDataset':>13} {'ready item (ceiling)':>21}")
    default = torch.multiprocessing.get_sharing_strategy()
    try:
        for strategy in ("file_descriptor", "file_system"):
            torch.multiprocessing.set_sharing_strategy(strategy)
            for batch in (10, 64):
                ours, ceiling = (loader_rate(d, batch, 1, seconds) for d in (keypoints, ready))
                print(f"{strategy:<18} {batch:>5} {ours:13.0f} {ceiling:21.0f}")
    finally:
        torch.multiprocessing.set_sharing_strategy(default)


if __name__ == "__main__":
    main()
