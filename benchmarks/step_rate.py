"""Does the loader keep up? Training-step samples/s of each trainer's default model beside the
ShardDataset loader's samples/s with 1, 2 and 4 DataLoader workers, in one run.

Models are built as the recipes build them, from the shipped default configs (`models/*.yaml`),
and trained for `--steps` optimizer steps on real batches of the recipe's batch size and
shapes, read from shards this script extracts (`disentangle` pipeline: keypoints, person mask
and background-removed 64x64 frames of `--clips` corpus videos):
  - dsft: keypoint transformer over 32-frame clips of the 79 SignVTCL points (augmentation on),
    DSFT and the classifier; loader: ShardDataset keypoints, the keypoint cache on;
  - disentangle: GaitNet-style encoders/decoders over 20-frame 64x64 clips, pairs of videos;
    loader: ShardDataset background-removed frames (per video: a pair is two);
  - handpose and siamese train from crops and features held in memory (`HandCropSet`,
    precomputed encoder features): no loader per step, their step rate alone is printed.
The step runs on the CPU (one thread per core given to torch) and, when CUDA is present, on
the GPU too, with the Trainer's float16 autocast. Step times: median of --rounds rounds.
A loader keeps up when its samples/s at that many workers is at least the step's.

Run: python benchmarks/step_rate.py [--clips 6] [--steps 5] [--rounds 3] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler, default_collate

from signprep.configs import MODEL_CONFIGS
from signprep.data import ShardDataset
from signprep.data.crop_augment import augment_crops, random_affine
from signprep.extraction.pipeline import load_pipeline
from signprep.extraction.runner import run_extract
from signprep.manifests import Manifest, build_manifest
from signprep.models.disentangle_losses import disentangle_losses
from signprep.models.dsft_losses import label_smoothed_cross_entropy
from signprep.models.handpose import HandPoseNet, heatmap_bce_loss, heatmap_loss, heatmap_targets
from signprep.models.siamese import siamese_pair_loss
from signprep.recipes import disentangle as disentangle_recipe
from signprep.recipes import dsft as dsft_recipe
from signprep.recipes import handpose as handpose_recipe
from signprep.recipes import siamese as siamese_recipe
from signprep.training import build_optimizer, build_sgd_warm_restarts
from signprep.training.config import load_train_config

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wlasl-sample"
TEXT_DIM = 384  # all-MiniLM-L6-v2's sentence embeddings: the DSFT text features (random here, same shapes)


def to(batch: dict, device: str) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def step_rate(model, optimizer, loss_of: Callable, batch: dict, n: int, device: str, steps: int, rounds: int) -> list:
    """Samples/s of `steps` optimizer steps (forward, loss, backward, step), one value per round."""
    model.to(device).train()
    batch = to(batch, device)
    amp = device == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def one_step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=amp):
            loss = loss_of(model, batch)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    one_step()  # warm-up (cuDNN autotuning, allocator)
    rates = []
    for _ in range(rounds):
        if amp:
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            one_step()
        if amp:
            torch.cuda.synchronize()
        rates.append(n * steps / (time.perf_counter() - t))
    return rates


def loader_rate(dataset, batch_size: int, workers: int, seconds: float) -> float:
    """Samples/s a DataLoader with `workers` workers delivers (after its first batch: start-up apart)."""
    # drawn with replacement, without end: a few corpus videos give batches of any size, every epoch
    sampler = RandomSampler(dataset, replacement=True, num_samples=2**31 - 1)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                        multiprocessing_context="fork")  # fmt: skip
    it, n = iter(loader), 0
    next(it)
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        n += len(next(it)["label"])
    rate = n / (time.perf_counter() - t)
    del it, loader
    return rate


def dsft_case(shards: Path):
    config = load_train_config(MODEL_CONFIGS.find("dsft"), dsft_recipe.DSFTConfig)
    ds = ShardDataset(shards, modalities=("keypoints",), clip_len=config.clip_len, augment=config.augment,
                      keypoint_subset=config.keypoint_subset, label_map=True, seed=0)  # fmt: skip
    text = torch.nn.functional.normalize(torch.randn(ds.num_classes, TEXT_DIM), dim=-1)
    model = dsft_recipe._build_model(config, text, int(ds[0]["keypoints"].shape[1]))
    batch = default_collate([ds[i % len(ds)] for i in range(config.batch_size)])

    def loss_of(m, b):
        return label_smoothed_cross_entropy(m(b)["logits"], b["label"], None)

    return "dsft (keypoints)", model, build_optimizer(model.parameters(), config), loss_of, batch, ds, config


def disentangle_case(shards: Path):
    config = load_train_config(MODEL_CONFIGS.find("disentangle"), disentangle_recipe.DisentangleConfig)
    ds = ShardDataset(shards, modalities=disentangle_recipe._modalities(config), clip_len=config.clip_len,
                      sampling=config.sampling, augment=config.augment, label_map=True, seed=0)  # fmt: skip
    model = disentangle_recipe._build_model(config, ds.num_classes, sorted(set(ds.signers)))
    # pairs [a1, b1, a2, b2, ...]: any two videos stand in for a same-gloss pair in a step's cost
    batch = default_collate([ds[i % len(ds)] for i in range(2 * config.batch_size)])

    def loss_of(m, b):
        out = m(b)
        return disentangle_losses(out, b["label"], m.streams, identity_weight=config.identity_weight,
                                  reconstruction_weight=config.reconstruction_weight,
                                  similarity_weight=config.similarity_weight, adversarial_weight=0.0,
                                  identity_step_weights=config.identity_step_weights)["loss"]  # fmt: skip

    return "disentangle", model, build_optimizer(model.parameters(), config), loss_of, batch, ds, config


def handpose_case():
    config = load_train_config(MODEL_CONFIGS.find("handpose"), handpose_recipe.HandPoseConfig)
    model = HandPoseNet(expand=config.expand)
    size = 64
    gen = torch.Generator().manual_seed(0)
    batch = {"image": torch.randint(0, 256, (config.batch_size, size, size, 3), dtype=torch.uint8, generator=gen),
             "keypoints": torch.rand(config.batch_size, 21, 2, generator=gen) * size}  # fmt: skip
    loss_fn = heatmap_bce_loss if config.loss == "bce" else heatmap_loss

    def loss_of(m, b):
        images, keypoints = random_affine(b["image"], b["keypoints"], config)
        return loss_fn(m(augment_crops(images, config)), heatmap_targets(keypoints, size, config.heatmap_radius))

    optimizer, _ = build_sgd_warm_restarts(model.parameters(), config)
    return "handpose", model, optimizer, loss_of, batch, None, config


def siamese_case():
    config = load_train_config(MODEL_CONFIGS.find("siamese"), siamese_recipe.SiameseConfig)
    handpose = HandPoseNet(
        expand=load_train_config(MODEL_CONFIGS.find("handpose"), handpose_recipe.HandPoseConfig).expand
    )
    model = siamese_recipe._build_model(config, handpose)
    p = config.classes_per_batch or 8
    n = p * config.samples_per_class
    gen = torch.Generator().manual_seed(0)
    batch = {"features": torch.randn(n, handpose.feature_dim, generator=gen),
             "label": torch.arange(p).repeat_interleave(config.samples_per_class)}  # fmt: skip

    def loss_of(m, b):
        emb = m.head(b["features"])
        return siamese_pair_loss(emb, b["label"], m.head.alpha, m.head.beta, float(p - 1), config.beta_weight)["loss"]

    optimizer, _ = build_sgd_warm_restarts(model.head.parameters(), config)
    return "siamese (head)", model, optimizer, loss_of, batch, None, config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="per loader measurement")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    records = sorted(build_manifest("wlasl", CORPUS).records, key=lambda r: r.sample_id)[: args.clips]
    tmp = Path(tempfile.mkdtemp(prefix="signprep-steps-"))
    try:
        shards = tmp / "shards"
        summary = run_extract(Manifest(records), load_pipeline("disentangle"), shards, workers=min(2, cores),
                              progress=False)  # fmt: skip
        assert summary.exit_code == 0, summary.render()
        print(f"{summary.done_now} clips; {cores} cores for this process, load {os.getloadavg()[0]:.1f}; "
              f"devices {devices}; {args.steps} steps x {args.rounds} rounds")  # fmt: skip
        rows = []
        for case in (dsft_case(shards), disentangle_case(shards), handpose_case(), siamese_case()):
            name, model, optimizer, loss_of, batch, dataset, config = case
            n = len(next(v for v in batch.values() if torch.is_tensor(v)))
            steps = {d: step_rate(model, optimizer, loss_of, batch, n, d, args.steps, args.rounds) for d in devices}
            print(f"  {name}: steps timed", flush=True)
            loaders = {}
            if dataset is not None:
                for w in args.workers:
                    loaders[w] = loader_rate(dataset, config.batch_size, w, args.seconds)
            rows.append((name, n, steps, loaders))
            print(f"  {name} done", flush=True)
        print(f"\n{'model':<18} {'batch':>5} {'device':>6} {'step samples/s':>22} | loader samples/s (keeps up?)")
        for name, n, steps, loaders in rows:
            for device, rates in steps.items():
                step = statistics.median(rates)
                cells = [f"{w} workers {r:8.1f} ({'yes' if r >= step else 'no'})" for w, r in loaders.items()]
                loader = " | ".join(cells) if cells else "in memory (no loader per step)"
                print(f"{name:<18} {n:>5} {device:>6} {step:9.1f} [{min(rates):.1f}-{max(rates):.1f}] | {loader}")
        print(f"\n(loader workers beyond the {cores} cores here share them: on a loaded or small machine the 4-worker "
              "figure is not 4x the 1-worker one)")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
