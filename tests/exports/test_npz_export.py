"""`export --format npz`: NumPy archives and the attribute table, against the shards."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from signprep.cli import app
from signprep.shards import ShardReader


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _table(folder: Path) -> dict[str, dict[str, str]]:
    with (folder / "samples.csv").open(newline="") as f:
        return {row["sample_id"]: row for row in csv.DictReader(f)}


def test_archives_and_table_equal_the_shards(dsft_shards: Path, tmp_path: Path):
    result = invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path, "-j", "2")  # two worker processes
    assert result.exit_code == 0, result.output
    table = _table(tmp_path)
    with ShardReader(dsft_shards) as reader:
        assert sorted(table) == list(reader)
        for sample_id in reader:
            sample = reader[sample_id]
            with np.load(tmp_path / f"{sample_id}.npz") as archive:
                assert sorted(archive.files) == [
                    "frame_indices", "keypoint_confidence", "keypoint_indices", "keypoint_present", "keypoints",
                ]  # fmt: skip
                for name in ("keypoints", "keypoint_confidence", "keypoint_present", "frame_indices"):
                    np.testing.assert_array_equal(archive[name], sample.read(name))
                    assert archive[name].dtype == sample.read(name).dtype
                assert archive["keypoint_indices"].tolist() == list(range(543))
            row = table[sample_id]
            assert row["file"] == f"{sample_id}.npz"
            assert set(row) == {"sample_id", "file", *sample.attrs}
            for key, value in sample.attrs.items():
                written = row[key]
                if isinstance(value, (list, dict)):
                    assert json.loads(written) == value, key
                elif isinstance(value, float):
                    assert float(written) == value, key
                else:
                    assert written == str(value), key


def test_a_subset_and_a_derived_modality(all_stages_run, tmp_path: Path):
    out, _ = all_stages_run
    result = invoke("export", out, "-f", "npz", "-o", tmp_path, "-m", "heatmaps", "--keypoint-subset", "hands",
                    "-s", "90029", "-j", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    with ShardReader(out) as reader, np.load(tmp_path / "90029.npz") as archive:
        sample = reader["90029"]
        np.testing.assert_array_equal(archive["heatmaps"], sample.read("heatmaps"))
        assert archive["heatmaps"].dtype == np.uint8
        np.testing.assert_array_equal(archive["keypoints"], sample.read("keypoints")[:, 501:543])
        assert archive["keypoint_indices"].tolist() == list(range(501, 543))
    assert float(_table(tmp_path)["90029"]["heatmap_scale"]) == 1 / 255
    assert not (tmp_path / "90012.npz").exists()

    result = invoke("export", out, "-f", "npz", "-o", tmp_path / "bad", "-m", "heatmap")
    assert result.exit_code == 2 and "no modality 'heatmap' in the shards" in result.output
    assert "heatmaps" in result.output and not (tmp_path / "bad").exists()
    result = invoke("export", out, "-f", "pose", "-o", tmp_path / "bad", "-m", "heatmaps")
    assert result.exit_code == 2 and "--modality applies to --format npz" in result.output
