"""Trainers that read keypoints run on imported shards: DSFT on an import of the pair clips' .pose export
trains exactly as on the shards extracted from the videos (the same keypoints, bit for bit)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from signprep.extraction.pipeline import load_pipeline
from signprep.imports.pose import run_import
from signprep.manifests import Manifest, read_manifest
from signprep.recipes.dsft import TEXT_CACHE_DIR, DSFTConfig, train_dsft

TINY = dict(
    epochs=2, batch_size=2, clip_len=25, feature_dim=32, rank=4, bank_size=8, depth=1, heads=2, dropout=0.0,
    augment=True, progress=False, log_every=1, num_workers=0, device="cpu",
)  # fmt: skip


def _metrics(out: Path) -> list[tuple[str, str, str]]:
    with (out / "metrics.csv").open() as f:
        return [(r["name"], r["step"], r["value"]) for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def imported(pose_export: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imported-pairs") / "out"
    labels = Manifest(read_manifest(pose_export / "manifest.jsonl"))
    summary = run_import(pose_export, out, load_pipeline("keypoints"), labels, progress=False)
    assert summary.exit_code == 0 and summary.done_now == 4, summary.render()
    return out


@pytest.mark.parametrize("encoder", ["keypoints", "heatmaps"])  # the keypoint transformer; heatmaps rendered from them
def test_dsft_on_imported_keypoints_equals_dsft_on_the_extracted_shards(
    imported: Path, dsft_shards: Path, text_cache: Path, tmp_path: Path, encoder: str
):
    config = DSFTConfig(**TINY, encoder=encoder, heatmap_size=(16, 16))
    runs = {}
    for name, shards in (("extracted", dsft_shards), ("imported", imported)):
        out = tmp_path / name
        shutil.copytree(text_cache, out / TEXT_CACHE_DIR)
        trainer = train_dsft(shards, config, out)
        assert trainer.epoch == 2
        runs[name] = _metrics(out)
    assert len(runs["extracted"]) > 20 and any(n == "eval_test/top1" for n, _, _ in runs["extracted"])
    assert runs["imported"] == runs["extracted"]  # every logged loss and accuracy, to the digit
