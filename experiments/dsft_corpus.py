"""With and without DSFT on real keypoint shards, over several seeds: train-signer vs test-signer accuracy.

For every seed, `train_dsft` runs twice with the same config, data and
initial weights, once with the domain-sum transformation and once with
`--no-dsft` (H = identity). The final epoch's evaluation of both splits is
each run's `final_metrics`: top-1/5 per instance, top-1 per class, and
video -> gloss-text retrieval top-1/5. The sample corpus splits by signer, so
`test` measures signers never seen in training. Printed: a row per run, then
mean +- std per variant and the paired difference (DSFT - no DSFT) per metric.

Run:  .venv/bin/python experiments/dsft_corpus.py --shards SHARD_DIR [--seeds 0 1 2 3 4] [--epochs 40]
The shards need keypoints (any pipeline with the keypoints stage), labels and splits.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signprep.configs import MODEL_CONFIGS  # noqa: E402
from signprep.recipes.dsft import TEXT_CACHE_DIR, DSFTConfig, train_dsft  # noqa: E402
from signprep.training import load_train_config  # noqa: E402

METRICS = ("top1", "top5", "top1_per_class", "retrieval_top1", "retrieval_top5")
SPLITS = ("eval_train", "eval_test")


def run_one(shards: Path, config: DSFTConfig, use_dsft: bool, run_dir: Path, text_cache: Path | None) -> dict:
    """The run's final evaluation: the last epoch's `eval_*` metrics (and their chance levels)."""
    if text_cache is not None and text_cache.is_dir():
        shutil.copytree(text_cache, run_dir / TEXT_CACHE_DIR)  # MiniLM once, not once per run
    return train_dsft(shards, config, run_dir, use_dsft=use_dsft).final_metrics


def _fmt(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {sd:.3f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", type=Path, required=True)
    p.add_argument("--config", default="dsft", help="a model config YAML or a shipped config's name")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=40)
    args = p.parse_args(argv)

    base = load_train_config(MODEL_CONFIGS.find(args.config), DSFTConfig)
    overrides = {"epochs": args.epochs, "progress": False, "num_workers": 0, "device": "cpu"}
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="dsft-corpus-") as tmp:
        text_cache = None
        for seed in args.seeds:
            config = base.model_copy(update={**overrides, "seed": seed})
            for use_dsft in (True, False):
                run_dir = Path(tmp) / f"seed{seed}-{'dsft' if use_dsft else 'nodsft'}"
                t0 = time.perf_counter()
                m = run_one(args.shards, config, use_dsft, run_dir, text_cache)
                text_cache = text_cache or run_dir / TEXT_CACHE_DIR
                results[use_dsft].append(m)
                cells = "  ".join(f"{s[5:]}/{k}={m[f'{s}/{k}']:.3f}" for s in SPLITS for k in ("top1", "top5"))
                print(f"seed {seed} dsft={'on ' if use_dsft else 'off'} {cells}  ({time.perf_counter() - t0:.0f} s)")

    print(f"\n{len(args.seeds)} seeds, {args.epochs} epochs, config {args.config.name}")
    print(f"{'metric':<28}{'with DSFT':>18}{'without DSFT':>18}{'paired diff':>18}{'chance':>8}  DSFT better/worse")
    for split in SPLITS:
        for k in METRICS:
            name = f"{split}/{k}"
            on = [m[name] for m in results[True]]
            off = [m[name] for m in results[False]]
            diff = [a - b for a, b in zip(on, off)]
            wins = sum(d > 0 for d in diff), sum(d < 0 for d in diff)
            chance = results[True][0][f"{split}/chance_{k}"]  # a uniform guess over the vocabulary
            print(f"{name:<28}{_fmt(on):>18}{_fmt(off):>18}{_fmt(diff):>18}{chance:8.3f}  {wins[0]}/{wins[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
