"""The export job through the CLI: resume, choice of samples, one export per folder, the lock, bad samples."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
from typer.testing import CliRunner

from signprep.atomic import temp_path_for
from signprep.cli import app
from signprep.extraction.lock import OutputLock
from signprep.manifests import safe_file_name
from signprep.shards import ShardReader
from signprep.shards.schema import INDEX_NAME

PAIRS = ["90008", "90009", "90039", "90040"]
RTL = "rtl\u202efdp"  # a right-to-left override: displays as "rtlpdf", refused as an id


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _summary(folder: Path) -> dict:
    return json.loads((folder / "export_summary.json").read_text())


def test_a_rerun_exports_only_what_is_missing(dsft_shards: Path, tmp_path: Path):
    assert invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path, "-j", "1").exit_code == 0
    first = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.npz")}
    assert sorted(first) == [f"{s}.npz" for s in PAIRS]
    (tmp_path / "90039.npz").unlink()
    stale = temp_path_for(tmp_path / "90040.npz")  # what a write killed midway leaves
    stale.write_bytes(b"half an archive")
    result = invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path, "-j", "1")
    assert result.exit_code == 0, result.output
    assert "exported now        : 1 (" in result.output and "skipped (done)      : 3" in result.output
    assert not stale.exists()
    again = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.npz")}
    assert sorted(again) == sorted(first) and all(again[n] == first[n] for n in first if n != "90039.npz")
    assert (tmp_path / "samples.csv").read_text().count("\n") == 1 + len(PAIRS)  # the table lists every file
    summary = _summary(tmp_path)
    assert (summary["done_now"], summary["skipped"], summary["exit_code"]) == (1, 3, 0)


def test_samples_chosen_by_split_or_id(dsft_shards: Path, tmp_path: Path):
    result = invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path / "test", "--split", "test", "-j", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in (tmp_path / "test").glob("*.npz")) == ["90009", "90040"]
    result = invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path / "one", "-s", "90040", "-s", "90008")
    assert result.exit_code == 0 and sorted(p.stem for p in (tmp_path / "one").glob("*.npz")) == ["90008", "90040"]

    result = invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path / "bad", "-s", "90008", "-s", "12345")
    assert result.exit_code == 2 and f"no such samples in {dsft_shards}: 12345" in result.output
    result = invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path / "bad", "--split", "val")
    assert result.exit_code == 2 and "no samples of split 'val'" in result.output and "'test', 'train'" in result.output
    result = invoke("export", tmp_path, "-f", "npz", "-o", tmp_path / "bad")
    assert result.exit_code == 2 and "no shard_index.json" in result.output
    result = invoke("export", dsft_shards, "-f", "posec3d", "-o", tmp_path / "bad")
    assert result.exit_code == 2 and "'posec3d' is not one of 'pose', 'pyskl', 'npz'" in result.output
    assert not (tmp_path / "bad").exists()


def test_one_export_per_folder_and_one_writer(dsft_shards: Path, tmp_path: Path):
    assert invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path, "-s", "90008").exit_code == 0
    result = invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path, "-s", "90008", "--keypoint-subset", "hands")
    assert result.exit_code == 3 and f"{tmp_path} holds another export" in result.output
    assert "'keypoint_subset': 'all'" in result.output and "'keypoint_subset': 'hands'" in result.output
    result = invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path, "-s", "90008", "--keypoint-subset", "hands",
                    "--force")  # fmt: skip
    assert result.exit_code == 0 and "exported now        : 1 (" in result.output
    with OutputLock(tmp_path):
        result = invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path, "-s", "90009", "--keypoint-subset", "hands")
    assert result.exit_code == 3 and "is being written by another signprep process" in result.output
    assert not (tmp_path / "90009.npz").exists()


def test_the_pickle_is_redone_for_another_choice_only(dsft_shards: Path, tmp_path: Path):
    assert invoke("export", dsft_shards, "-f", "pyskl", "-o", tmp_path, "--split", "train").exit_code == 0
    pickle_file = tmp_path / "pyskl_signvtcl79.pkl"
    written = pickle_file.stat().st_mtime_ns
    result = invoke("export", dsft_shards, "-f", "pyskl", "-o", tmp_path, "--split", "train")
    assert result.exit_code == 0 and "skipped (done)      : 2" in result.output
    assert pickle_file.stat().st_mtime_ns == written
    assert invoke("export", dsft_shards, "-f", "pyskl", "-o", tmp_path).exit_code == 0
    with open(pickle_file, "rb") as f:
        assert [a["frame_dir"] for a in pickle.load(f)["annotations"]] == PAIRS


def test_ids_unsafe_as_file_names_get_safe_names_and_refused_ids_fail_alone(dsft_shards: Path, tmp_path: Path):
    """Shards travel: an index (and shard) from elsewhere may name a sample '..evil' (a valid id, not a
    file name: it gets the safe stem) or hold an id no manifest accepts (a bidi control: it fails alone)."""
    shards = tmp_path / "shards"
    shutil.copytree(dsft_shards, shards, ignore=shutil.ignore_patterns(".signprep.extraction.lock"))
    index = json.loads((shards / INDEX_NAME).read_text())
    for old, new in (("90008", "..evil"), ("90009", RTL)):
        entry = index["samples"].pop(old)
        index["samples"][new] = entry
        listed = index["shards"][entry["shard"]]["samples"]
        listed[listed.index(old)] = new
        with h5py.File(shards / entry["shard"], "r+") as f:
            f["samples"].move(old, new)
    (shards / INDEX_NAME).write_text(json.dumps(index))
    result = invoke("export", shards, "-f", "npz", "-o", tmp_path / "out", "-j", "1")
    assert result.exit_code == 1, result.output
    refused = f"sample id {RTL!r} holds the invisible character U+202E"  # repr: the control is escaped
    assert refused in result.output
    assert RTL not in result.output  # the summary's "failed" line escapes it too
    assert f"failed  {RTL!r} " in result.output
    evil = f"{safe_file_name('..evil')}.npz"
    assert evil.startswith("evil-") and len(evil) == len("evil-") + 20 + len(".npz")
    assert sorted(p.name for p in (tmp_path / "out").glob("*.npz")) == sorted(["90039.npz", "90040.npz", evil])
    with (tmp_path / "out" / "samples.csv").open(encoding="utf-8") as f:
        assert {row["sample_id"]: row["file"] for row in csv.DictReader(f)}["..evil"] == evil
    np.testing.assert_array_equal(np.load(tmp_path / "out" / evil)["keypoints"], _keypoints(dsft_shards, "90008"))
    errors = [json.loads(line) for line in (tmp_path / "out" / "export_errors.jsonl").read_text().splitlines()]
    assert [e["sample_id"] for e in errors] == [RTL]
    assert not list(tmp_path.glob("*evil*")) and not (tmp_path / "out" / "..evil.npz").exists()
    rerun = invoke("export", shards, "-f", "npz", "-o", tmp_path / "out", "-j", "1")
    assert "skipped (done)      : 3" in rerun.output, rerun.output  # the safe name is found again


def _keypoints(shards: Path, sample_id: str) -> np.ndarray:
    with ShardReader(shards) as reader:
        return reader[sample_id].read("keypoints")
