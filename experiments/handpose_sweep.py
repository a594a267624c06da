"""Hand-pose training recipes side by side, each chosen on validation signers, scored on the test signers.

Each variant is a shipped config plus overrides (VARIANTS): `thesis` is
`models/handpose-thesis.yaml` as written (SGD with warm restarts, Eq. 3.9, photometric
augmentation only, the thesis's initialisation with a zero output bias), `project` is the shipped
`models/handpose.yaml` (geometric augmentation, AdamW, BCE, output bias at logit 0.01);
`thesis-prior` is the thesis's recipe with only the project's output-bias start added, and the
`geo`/`bce`/`adamw` variants are the earlier ablations on the thesis's recipe (with that start).

Protocol: the crops are split by signer (`signprep.data.splits`): the test signers (those of the
shards' `test` split) are never trained on, and `--val-signers` are held out of training too.
Every epoch evaluates every validation and test crop. For each variant the epoch with the lowest
mean validation keypoint error over seeds is chosen, and the variant with the lowest chosen
validation error is the recommended recipe; the test errors printed are those at the chosen
epochs, beside the mean-pose baseline (every crop predicted as the training crops' mean
landmarks). Every run goes through `train_handpose` (given the crops in memory), the function
behind `signprep train handpose`, so CUDA and AMP are the real trainer's. Variants run in
parallel processes (`--jobs`): on a GPU the small network leaves it mostly idle.

Run:  .venv/bin/python experiments/handpose_sweep.py --shards SHARDS --save-crops crops.npz
      .venv/bin/python experiments/handpose_sweep.py --crops crops.npz [--variants thesis project]
                        [--val-signers 903 904] [--epochs 20] [--seeds 0 1] [--frame-stride 1] [--expand 4]
                        [--batch-size N] [--jobs 4] [--device cuda] [--out runs/handpose-sweep]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signprep.configs import MODEL_CONFIGS  # noqa: E402
from signprep.data.hand_crop_set import HandCropSet  # noqa: E402
from signprep.recipes.handpose import HandPoseConfig, train_handpose  # noqa: E402
from signprep.training import epoch_metrics  # noqa: E402

GEOMETRY = {"rotate": 30.0, "scale": 0.2, "shift": 6.0, "flip": True}
ADAMW = {"optimizer": "adamw", "lr": 1e-3, "lr_min": 1e-6, "weight_decay": 1e-4}
PRIOR = {"output_prior": 0.01}
VARIANTS: dict[str, tuple[str, dict]] = {
    "thesis": ("handpose-thesis", {}),
    "project": ("handpose", {}),
    "thesis-prior": ("handpose-thesis", PRIOR),
    "geo": ("handpose-thesis", {**PRIOR, **GEOMETRY}),
    "bce": ("handpose-thesis", {**PRIOR, "loss": "bce"}),
    "geo-bce": ("handpose-thesis", {**PRIOR, **GEOMETRY, "loss": "bce"}),
    "adamw": ("handpose-thesis", {**PRIOR, **ADAMW}),
    "geo-adamw": ("handpose-thesis", {**PRIOR, **GEOMETRY, **ADAMW}),
    "adamw-bce": ("handpose-thesis", {**PRIOR, **ADAMW, "loss": "bce"}),
}


def variant_config(name: str, args: argparse.Namespace, seed: int) -> HandPoseConfig:
    """The variant's shipped config + its overrides; the warm restarts keep both recipes' proportions (at 1/4
    and 1/2 of the run) whatever the number of epochs; every epoch evaluates every val and test crop."""
    base, overrides = VARIANTS[name]
    values = yaml.safe_load(MODEL_CONFIGS.find(base).read_text())
    values.update(overrides)
    restarts = sorted({r for r in (args.epochs // 4, args.epochs // 2) if r > 0})
    values.update(epochs=args.epochs, seed=seed, device=args.device, progress=False, restarts=restarts,
                  val_signers=list(args.val_signers), eval_max_crops=None)  # fmt: skip
    for key in ("batch_size", "expand"):
        if getattr(args, key):
            values[key] = getattr(args, key)
    return HandPoseConfig.model_validate(values)


def run_one(crops_file: str, name: str, seed: int, args: argparse.Namespace, frame_stride: int) -> dict:
    import torch

    torch.set_num_threads(args.threads)  # parallel runs: a thread or few each
    config = variant_config(name, args, seed)
    crops = HandCropSet.load_npz(crops_file)
    if frame_stride > 1:
        crops = crops.subset(crops.frames.numpy() % frame_stride == 0)
    run_dir = Path(args.out) / f"{name}-seed{seed}"
    t = time.perf_counter()
    report = dict(train_handpose(crops, config, run_dir).report)
    report.update(variant=name, seed=seed, seconds=time.perf_counter() - t, epochs=epoch_metrics(run_dir))
    return report


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(message)s", datefmt="%H:%M:%S")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--shards", help="shard directory with the hand_crops stage")
    src.add_argument("--crops", help="crops cache written by --save-crops")
    ap.add_argument("--save-crops", help="write the crops of --shards to this .npz and use it")
    ap.add_argument("--variants", nargs="+", default=["thesis", "project"], choices=list(VARIANTS))
    ap.add_argument("--val-signers", nargs="+", default=["903", "904"], help="held out of training, to choose on")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--frame-stride", type=int, default=1, help="keep every n-th frame's crops (CPU runs)")
    ap.add_argument("--batch-size", type=int, default=None, help="override every recipe's batch")
    ap.add_argument("--expand", type=int, default=None, help="override the expansion ratio (thesis 4)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
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
        futures = [pool.submit(run_one, crops_file, v, s, args, args.frame_stride) for v, s in jobs]
        for future in as_completed(futures):  # each report kept as it comes: a cut-off sweep keeps its runs
            r = future.result()
            reports.append(r)
            log.write(json.dumps(r) + "\n")
            log.flush()
            print(f"{r['variant']} seed {r['seed']}: last epoch {r['val']['keypoint_error_px']:.2f} px val, "
                  f"{r['test']['keypoint_error_px']:.2f} px test ({r['seconds']:.0f} s)", flush=True)  # fmt: skip

    first = reports[0]
    print(f"\n{first['train_crops']} training crops of signers {first['train_signers']}; val signers "
          f"{first['val_signers']}: {int(first['val']['crops'])} crops; test signers {first['test_signers']}: "
          f"{int(first['test']['crops'])} crops; {args.epochs} epochs, frame stride {args.frame_stride}, seeds "
          f"{args.seeds}")  # fmt: skip
    print(f"mean-pose baseline: val {first['val_mean_pose_baseline_px']:.2f} px, "
          f"test {first['mean_pose_baseline_px']:.2f} px")  # fmt: skip
    heads = ("chosen epoch", "val px", "test px", "last-epoch test", "s/run")
    print(f"{'variant':14s} {heads[0]:>12s} {heads[1]:>8s} {heads[2]:>15s} {heads[3]:>15s} {heads[4]:>6s}")
    chosen: dict[str, tuple[int, float]] = {}
    for v in args.variants:
        rs = [r for r in reports if r["variant"] == v]
        epochs = sorted(rs[0]["epochs"], key=int)
        val = {e: statistics.mean(r["epochs"][e]["eval_val/keypoint_error_px"] for r in rs) for e in epochs}
        best = min(epochs, key=lambda e: (val[e], int(e)))  # ties: the earlier epoch
        chosen[v] = (int(best) + 1, val[best])
        test = [r["epochs"][best]["eval_test/keypoint_error_px"] for r in rs]
        sd = statistics.stdev(test) if len(test) > 1 else np.nan
        last = statistics.mean(r["test"]["keypoint_error_px"] for r in rs)
        seconds = statistics.mean(r["seconds"] for r in rs)
        print(f"{v:14s} {int(best) + 1:>12d} {val[best]:8.2f} {statistics.mean(test):8.2f} ± {sd:4.2f} {last:15.2f} "
              f"{seconds:6.0f}")  # fmt: skip
    pick = min(chosen, key=lambda v: chosen[v][1])
    print(f"chose {pick} (epoch {chosen[pick][0]}) on val (signers {', '.join(first['val_signers'])}), "
          f"test on test (signers {', '.join(first['test_signers'])})")  # fmt: skip
    (out / "sweep.json").write_text(json.dumps(reports, indent=1) + "\n")


if __name__ == "__main__":
    main()
