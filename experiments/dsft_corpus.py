"""With and without DSFT on real keypoint shards, over several seeds, on held-out signers.

For every seed, `train_dsft` runs twice with the same config, data and initial weights, once
with the domain-sum transformation and once with `--no-dsft` (H = identity). Both arms train
the text projection with the same alignment loss, so H is the only difference. Splits are by
signer (`signprep.recipes.dsft`): test = the shards' `test` split, train = the `train` split
less the test signers and the validation signers.

Selection: with `--val-signers`, the epoch of each arm is chosen on the validation signers'
mean top-1 over seeds (ties: the later epoch), and the test figures are those of that epoch
(logged in every run's metrics.csv). Without it nothing is chosen: the epochs are fixed before
the run. The script prints which, and whether a validation signer's glosses have training videos
at all (on the 37-clip sample corpus none has: every gloss has one training video).

Printed: a row per run, then per metric mean +- std per arm, the paired difference
(DSFT - no DSFT) and the chance level.

Run:  .venv/bin/python experiments/dsft_corpus.py --shards SHARD_DIR [--seeds 0 1 2 3 4] [--epochs 40]
                                                  [--val-signers 903 904] [--out RUNS]
The shards need keypoints (any pipeline with the keypoints stage), labels and splits.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signprep.configs import MODEL_CONFIGS  # noqa: E402
from signprep.recipes.dsft import TEXT_CACHE_DIR, DSFTConfig, train_dsft  # noqa: E402
from signprep.shards import ShardReader  # noqa: E402
from signprep.training import epoch_metrics, load_train_config  # noqa: E402

METRICS = ("top1", "top5", "top1_per_class", "retrieval_top1", "retrieval_top5")
SPLITS = ("eval_train", "eval_test")


def signers_sharing_glosses(shards: Path) -> dict[str, int]:
    """For each signer of the train split who is not a test signer: how many of their glosses another
    such signer also has on video (what a validation signer's accuracy could measure)."""
    with ShardReader(shards) as reader:
        entries = [e for e in reader.index.samples.values() if int(e.get("label", -1)) >= 0]
    test_signers = {str(e.get("signer_id")) for e in entries if e.get("split") == "test"}
    glosses: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        signer = str(e.get("signer_id"))
        if e.get("split") == "train" and signer not in test_signers:
            glosses[signer].add(e.get("gloss"))
    return {s: len(g & set().union(*(o for t, o in glosses.items() if t != s))) for s, g in sorted(glosses.items())}


def _fmt(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {sd:.3f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", type=Path, required=True)
    p.add_argument("--config", default="dsft", help="a model config YAML or a shipped config's name")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--val-signers", nargs="*", default=[], help="signers to choose the epoch on (not test signers)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (tiny model: more only contend)")
    p.add_argument("--out", type=Path, help="keep the runs here (RUN = OUT/seed<S>-dsft|nodsft); default: a temp dir")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)

    base = load_train_config(MODEL_CONFIGS.find(args.config), DSFTConfig)
    overrides = {"epochs": args.epochs, "progress": False, "num_workers": 0, "device": "cpu",
                 "val_signers": tuple(args.val_signers)}  # fmt: skip
    shared = signers_sharing_glosses(args.shards)
    print("training signers: glosses another training signer also has on video:", shared)
    if args.val_signers and not any(shared.get(s) for s in args.val_signers):
        print(f"val signers {args.val_signers} share no gloss with the other training signers: a closed-set "
              "classifier scores 0 on them whatever the epoch, so nothing can be chosen on them")  # fmt: skip
        return 2

    histories: dict[bool, list[dict[int, dict[str, float]]]] = {True: [], False: []}
    chance: dict[str, float] = {}
    meta: dict = {}
    with tempfile.TemporaryDirectory(prefix="dsft-corpus-") as tmp:
        root = args.out or Path(tmp)
        text_cache = None
        for seed in args.seeds:
            config = base.model_copy(update={**overrides, "seed": seed})
            for use_dsft in (True, False):
                run_dir = root / f"seed{seed}-{'dsft' if use_dsft else 'nodsft'}"
                if text_cache is not None:
                    shutil.copytree(text_cache, run_dir / TEXT_CACHE_DIR)  # MiniLM once, not once per run
                t0 = time.perf_counter()
                trainer = train_dsft(args.shards, config, run_dir, use_dsft=use_dsft)
                text_cache = text_cache or run_dir / TEXT_CACHE_DIR
                chance = {k: v for k, v in trainer.final_metrics.items() if "/chance_" in k}
                meta = trainer.metadata
                histories[use_dsft].append(epoch_metrics(run_dir))
                m = trainer.final_metrics
                cells = "  ".join(f"{s[5:]}/{k}={m[f'{s}/{k}']:.3f}" for s in SPLITS for k in ("top1", "top5"))
                print(f"seed {seed} dsft={'on ' if use_dsft else 'off'} {cells}  ({time.perf_counter() - t0:.0f} s)",
                      flush=True)  # fmt: skip

    chosen: dict[bool, int] = {}
    for arm, runs in histories.items():
        if args.val_signers:
            mean_val = {e: statistics.mean(r[e]["eval_val/top1"] for r in runs) for e in runs[0]}
            chosen[arm] = max(mean_val, key=lambda e: (mean_val[e], e))
        else:
            chosen[arm] = max(runs[0])  # the last epoch: nothing chosen
    arms = {True: "DSFT", False: "no DSFT"}
    if args.val_signers:
        for arm, epoch in chosen.items():
            print(f"{arms[arm]}: chose epoch {epoch + 1} on val (signers {', '.join(meta['val_signers'])}), "
                  f"test on test (signers {', '.join(meta['test_signers'])})")  # fmt: skip
    else:
        print(f"nothing chosen: {args.epochs} epochs fixed before the run; test on test (signers "
              f"{', '.join(meta['test_signers'])}), train signers exclude them")  # fmt: skip

    print(f"\n{len(args.seeds)} seeds {args.seeds}, config {args.config}")
    print(f"{'metric':<28}{'with DSFT':>18}{'without DSFT':>18}{'paired diff':>18}{'chance':>8}  DSFT better/worse")
    for split in SPLITS:
        for k in METRICS:
            name = f"{split}/{k}"
            on = [r[chosen[True]][name] for r in histories[True]]
            off = [r[chosen[False]][name] for r in histories[False]]
            diff = [a - b for a, b in zip(on, off)]
            wins = sum(d > 0 for d in diff), sum(d < 0 for d in diff)
            level = chance[f"{split}/chance_{k}"]  # a uniform guess over the vocabulary
            print(f"{name:<28}{_fmt(on):>18}{_fmt(off):>18}{_fmt(diff):>18}{level:8.3f}  {wins[0]}/{wins[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
