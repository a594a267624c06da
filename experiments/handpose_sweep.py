"""Which hand-pose training recipe beats the mean-pose baseline on held-out signers?

`signprep train handpose` with the thesis's recipe (SGD with warm restarts, Eq. 3.9 loss,
photometric augmentation only) fits the sample corpus's training signers and does not
generalise to the held-out ones. This script trains named variants on the same crops and
prints, for each, the keypoint error at 64x64 on the held-out signers' crops next to the
mean-pose baseline (every crop predicted as the training crops' mean landmarks).

Each variant is `models/handpose-thesis.yaml` plus the overrides in VARIANTS (`geo-adamw-bce`
is the shipped `models/handpose.yaml`); every run goes through
`train_handpose` (given the crops in memory), the function behind `signprep train handpose`,
so CUDA and AMP are the real trainer's. Variants run in parallel processes (`--jobs`): on a GPU the small network leaves
it mostly idle, so several runs share it.

Run:  .venv/bin/python experiments/handpose_sweep.py --shards SHARDS [--save-crops crops.npz]
      .venv/bin/python experiments/handpose_sweep.py --crops crops.npz --variants thesis geo-adamw-bce
                        [--epochs 100] [--seeds 0 1] [--jobs 4] [--device cuda] [--out runs/handpose-sweep]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signprep.configs import MODEL_CONFIGS  # noqa: E402
from signprep.data.hand_crop_set import HandCropSet  # noqa: E402
from signprep.recipes.handpose import HandPoseConfig, train_handpose  # noqa: E402

GEOMETRY = {"rotate": 30.0, "scale": 0.2, "shift": 6.0, "flip": True}
VARIANTS: dict[str, dict] = {
    "thesis": {},
    "geo": GEOMETRY,
    "bce": {"loss": "bce"},
    "geo-bce": {**GEOMETRY, "loss": "bce"},
    "adamw": {"optimizer": "adamw", "lr": 1e-3, "lr_min": 1e-6, "weight_decay": 1e-4},
    "geo-adamw": {**GEOMETRY, "optimizer": "adamw", "lr": 1e-3, "lr_min": 1e-6, "weight_decay": 1e-4},
    "adamw-bce": {"optimizer": "adamw", "lr": 1e-3, "lr_min": 1e-6, "weight_decay": 1e-4, "loss": "bce"},
    "geo-adamw-bce": {**GEOMETRY, "optimizer": "adamw", "lr": 1e-3, "lr_min": 1e-6, "weight_decay": 1e-4,
                      "loss": "bce"},
}  # fmt: skip
BASE = MODEL_CONFIGS.find("handpose-thesis")  # the variants change the thesis's recipe


def variant_config(name: str, epochs: int, seed: int, device: str, batch_size: int | None) -> HandPoseConfig:
    """models/handpose-thesis.yaml + the variant's overrides; the warm restarts keep the thesis's
    proportions (at 1/4 and 1/2 of the run) whatever the number of epochs."""
    values = yaml.safe_load(BASE.read_text())
    values.update(VARIANTS[name])
    restarts = sorted({r for r in (epochs // 4, epochs // 2) if r > 0})
    values.update(epochs=epochs, seed=seed, device=device, progress=False, restarts=restarts)
    if batch_size:
        values["batch_size"] = batch_size
    return HandPoseConfig.model_validate(values)


def run_one(crops_file: str, name: str, epochs: int, seed: int, device: str, batch_size: int | None, out: str):
    import torch

    torch.set_num_threads(1)  # parallel runs: one thread each
    config = variant_config(name, epochs, seed, device, batch_size)
    crops = HandCropSet.load_npz(crops_file)
    run_dir = Path(out) / f"{name}-seed{seed}"
    t = time.perf_counter()
    report = dict(train_handpose(crops, config, run_dir).report)
    report.update(variant=name, seed=seed, seconds=time.perf_counter() - t, epochs=epochs)
    return report


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(message)s", datefmt="%H:%M:%S")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--shards", help="shard directory with the hand_crops stage")
    src.add_argument("--crops", help="crops cache written by --save-crops")
    ap.add_argument("--save-crops", help="write the crops of --shards to this .npz and use it")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default="runs/handpose-sweep")
    args = ap.parse_args()

    crops_file = args.crops
    if args.shards:
        if not args.save_crops:
            ap.error("--shards needs --save-crops (the runs read the crops from that file)")
        crops = HandCropSet.load(args.shards, hands=(0, 1), progress=True)
        crops_file = str(crops.save_npz(args.save_crops))
        print(f"{len(crops)} crops of {len(set(crops.signers))} signers -> {crops_file}")

    jobs = [(v, s) for v in args.variants for s in args.seeds]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool, (out / "reports.jsonl").open("a") as log:
        futures = [pool.submit(run_one, crops_file, v, args.epochs, s, args.device, args.batch_size, args.out)
                   for v, s in jobs]  # fmt: skip
        for future in as_completed(futures):  # each report kept as it comes: a cut-off sweep keeps its runs
            r = future.result()
            reports.append(r)
            log.write(json.dumps(r) + "\n")
            log.flush()
            print(f"{r['variant']} seed {r['seed']}: {r['test']['keypoint_error_px']:.2f} px held out, "
                  f"{r['train']['keypoint_error_px']:.2f} px train ({r['seconds']:.0f} s)", flush=True)  # fmt: skip

    first = reports[0]
    print(f"\nheld-out signers {first['test_signers']}: {int(first['test']['crops'])} crops; "
          f"{first['train_crops']} training crops of {len(first['train_signers'])} signers; "
          f"{args.epochs} epochs; mean-pose baseline {first['mean_pose_baseline_px']:.2f} px")  # fmt: skip
    print(f"{'variant':15s} {'test px':>14s} {'train px':>9s} {'test loss':>9s} {'s/run':>6s}  seeds")
    for v in args.variants:
        rs = [r for r in reports if r["variant"] == v]
        test = [r["test"]["keypoint_error_px"] for r in rs]
        sd = statistics.stdev(test) if len(test) > 1 else math.nan
        train = statistics.mean(r["train"]["keypoint_error_px"] for r in rs)
        loss = statistics.mean(r["test"]["loss"] for r in rs)
        seconds = statistics.mean(r["seconds"] for r in rs)
        print(f"{v:15s} {statistics.mean(test):7.2f} ± {sd:4.2f} {train:9.2f} {loss:9.4f} {seconds:6.0f}  {len(rs)}")
    (out / "sweep.json").write_text(json.dumps(reports, indent=1) + "\n")


if __name__ == "__main__":
    main()
