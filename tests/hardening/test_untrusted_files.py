"""Files from elsewhere: checkpoints, pipeline configs and shard directories are checked before
use, and a hostile one is refused with a message naming the file (issue #9, item 4)."""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hardening_files import CHEAP_PIPELINE, write_video

from signprep.configs import ConfigError
from signprep.extraction.pipeline import load_pipeline, parse_pipeline
from signprep.extraction.runner import run_extract
from signprep.manifests import Manifest, SampleRecord
from signprep.shards import SchemaError, ShardReader
from signprep.shards.verify import verify_dir
from signprep.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

PACKAGE = Path(__file__).resolve().parents[2] / "signprep"


# ----------------------------------------------------------------- checkpoints
class _RunsCode:
    """What a hostile checkpoint pickles: unpickling it calls Path.touch on a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path: Path):
    marker = tmp_path / "code-ran"
    hostile = tmp_path / "last.pt"
    torch.save({"model": {"w": torch.ones(2)}, "payload": _RunsCode(marker)}, hostile)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="not a weights-only file") as e:
        load_checkpoint(hostile)
    assert str(hostile) in str(e.value) and "weights_only=False" not in str(e.value)
    assert not marker.exists(), "unpickling ran the payload"


def test_a_truncated_checkpoint_is_an_error_naming_the_file(tmp_path: Path):
    path = save_checkpoint(tmp_path / "last.pt", {"step": 3, "w": torch.arange(10_000.0)})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="damaged or not a checkpoint") as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)


def test_every_torch_load_in_the_package_is_weights_only():
    # a static guard: a new `torch.load(...)` without weights_only=True would unpickle arbitrary code
    unsafe = []
    for source in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                flags = {k.arg: ast.unparse(k.value) for k in node.keywords}
                if flags.get("weights_only") != "True":
                    unsafe.append(f"{source.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert len(list(PACKAGE.rglob("*.py"))) > 20  # the scan saw the package
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"


# ----------------------------------------------------------------- pipeline configs
BAD_PIPELINES = {
    "unknown stage key": ("name: x\nstages:\n  keypoints:\n    model_complexty: 1\n", "model_complexty: unknown key"),
    "unknown stage": ("name: x\nstages:\n  optical_flow: {}\n", "stages.optical_flow: unknown key"),
    "wrong type": ("name: x\nstages:\n  frames:\n    size: big\n", "stages.frames.size"),
    "out of range": ("name: x\ndecode:\n  fps: -5\n", "decode.fps: Input should be greater than 0"),
    "not a mapping": ("- name: x\n", "expected a mapping at the top level"),
    "empty file": ("", "expected a mapping at the top level"),
    "missing name": ("stages: {}\n", "name: Field required"),
    "python object tag": ("name: !!python/object/apply:os.system ['touch {marker}']\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", list(BAD_PIPELINES))
def test_a_bad_pipeline_config_names_the_file_and_the_key(case, tmp_path: Path):
    text, expected = BAD_PIPELINES[case]
    marker = tmp_path / "code-ran"
    path = tmp_path / "pipeline.yaml"
    path.write_text(text.replace("{marker}", str(marker)))
    with pytest.raises(ConfigError) as e:
        load_pipeline(path)
    assert str(path) in str(e.value) and expected in str(e.value), str(e.value)
    assert not marker.exists()  # safe_load: YAML tags never construct Python objects


# train configs: tests/training/test_train_config.py::test_errors_name_file_and_key (unknown keys, wrong
# types) and ::test_unreadable_and_invalid_yaml


# ----------------------------------------------------------------- shard directories
@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory, signer_frames) -> Path:
    """A real two-sample extraction with the cheap pipeline, one sample per shard. Read only."""
    root = tmp_path_factory.mktemp("untrusted shards")
    video = write_video(root / "clip.mp4", signer_frames)
    pipeline = parse_pipeline(dict(CHEAP_PIPELINE, storage={"max_shard_mb": 0.001}))
    manifest = Manifest([SampleRecord(sid, str(video), "hardening") for sid in ("a", "b")])
    summary = run_extract(manifest, pipeline, root / "out", workers=1, progress=False)
    assert summary.exit_code == 0, summary.render()
    return root / "out"


def _tamper_a(out: Path, how: str, elsewhere: Path) -> Path:
    """Change the shard holding sample "a" the way a file from elsewhere might differ; return it."""
    shard = out / ShardReader(out).index.samples["a"]["shard"]
    if how == "not hdf5":
        shard.write_bytes(b"<html>403 Forbidden</html>")
        return shard
    with h5py.File(shard, "r+") as f:
        g = f["samples/a"]
        if how == "attribute missing":
            del g.attrs["num_frames"]
        elif how == "frames disagree":
            data = g["frames"][()]
            del g["frames"]
            g["frames"] = data[:-1]
        elif how == "external link":
            with h5py.File(elsewhere, "w") as other:
                other["secret"] = np.zeros((20, 32, 32, 3), np.uint8)
            del g["frames"]
            g["frames"] = h5py.ExternalLink(str(elsewhere), "secret")
        elif how == "another pipeline":
            f.attrs["pipeline_hash"] = "0123456789abcdef"
    return shard


TAMPERING = {
    "not hdf5": "cannot open as HDF5",
    "attribute missing": "lacks attributes ['num_frames']",
    "frames disagree": "/samples/a/frames has shape (19, 32, 32, 3), expected 20 frames first",
    "external link": "/samples/a/frames is a ExternalLink, not a plain dataset",
    "another pipeline": "pipeline hash 0123456789abcdef differs from the index's",
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_a_shard_from_elsewhere_is_checked_against_the_schema_before_use(how, shard_dir: Path, tmp_path: Path):
    out = Path(shutil.copytree(shard_dir, tmp_path / "out"))
    shard = _tamper_a(out, how, tmp_path / "elsewhere.h5")
    with ShardReader(out) as reader:
        with pytest.raises(SchemaError) as e:
            reader["a"].read("frames")
        assert str(shard) in str(e.value) and TAMPERING[how] in str(e.value), str(e.value)
        assert reader["b"].read("frames").shape == (20, 32, 32, 3)  # the untouched shard stays usable
    # the training datasets read through ShardReader, so they refuse it too
    from signprep.data.datasets import ShardDataset

    dataset = ShardDataset(out, modalities=("frames",), clip_len=8)
    with pytest.raises(SchemaError):
        for n in range(len(dataset)):
            dataset[n]
    # and `verify` without checksums (a structural check) reports it as well
    report = verify_dir(out, checksums=False)
    assert not report.ok and any(shard.name in p for p in report.problems), report.problems
    if how == "external link":
        assert os.path.exists(tmp_path / "elsewhere.h5")  # nothing deleted, nothing followed
