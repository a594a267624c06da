"""The export job through the CLI: resume, choice of samples, one export per folder, the lock, bad samples."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import h5py
from typer.testing import CliRunner

from signprep.atomic import temp_path_for
from signprep.cli import app
from signprep.extraction.lock import OutputLock
from signprep.shards.schema import INDEX_NAME

PAIRS = ["90008", "90009", "90039", "90040"]


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


def test_a_sample_id_unsafe_as_a_file_name_fails_alone(dsft_shards: Path, tmp_path: Path):
    """Shards travel: an index (and shard) from elsewhere may name a sample '..evil'; it must not
    become a file name, and the other samples are exported."""
    shards = tmp_path / "shards"
    shutil.copytree(dsft_shards, shards, ignore=shutil.ignore_patterns(".signprep.extraction.lock"))
    index = json.loads((shards / INDEX_NAME).read_text())
    entry = index["samples"].pop("90008")
    index["samples"]["..evil"] = entry
    listed = index["shards"][entry["shard"]]["samples"]
    listed[listed.index("90008")] = "..evil"
    (shards / INDEX_NAME).write_text(json.dumps(index))
    with h5py.File(shards / entry["shard"], "r+") as f:
        f["samples"].move("90008", "..evil")
    result = invoke("export", shards, "-f", "npz", "-o", tmp_path / "out", "-j", "1")
    assert result.exit_code == 1, result.output
    assert "failed  ..evil sample id '..evil' is not safe as a file or group name" in result.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.npz")) == ["90009.npz", "90039.npz", "90040.npz"]
    errors = [json.loads(line) for line in (tmp_path / "out" / "export_errors.jsonl").read_text().splitlines()]
    assert [e["sample_id"] for e in errors] == ["..evil"] and "not safe" in errors[0]["error"]
    assert not list(tmp_path.glob("*evil*")) and not list((tmp_path / "out").glob("*evil*"))
