"""Where the samples come from, the same for `manifest`, `extract` and `plan`: --dataset/--root and the
builder's options (named flags or --dataset-option KEY=VALUE), or --manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from signprep.cli import app
from signprep.manifests import read_manifest, write_manifest


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def wlasl_full(corpus: Path) -> Path:
    return corpus / "metadata" / "wlasl"  # 21,083 instances, no videos


@pytest.fixture(scope="module")
def msasl_dir(corpus: Path) -> Path:
    return corpus / "metadata" / "msasl"  # MSASL_test.json (4172 clips) and MSASL_classes.json, no videos


def test_manifest_of_the_sample_download(tmp_path: Path, wlasl_root: Path):
    out = tmp_path / "m.jsonl"
    result = invoke("manifest", "--dataset", "wlasl", "--root", wlasl_root, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"38 samples: 37 with video, 1 missing video -> {out}" in result.output
    assert "missing 99999:" in result.output and str(wlasl_root / "videos" / "99999.mp4") in result.output
    records = read_manifest(out)
    assert len(records) == 38 and len({r.sample_id for r in records}) == 38
    assert sum(1 for r in records if Path(r.video_path).is_file()) == 37
    assert invoke("manifest", "--root", wlasl_root, "-o", tmp_path / "default.jsonl").exit_code == 0
    assert (tmp_path / "default.jsonl").read_bytes() == out.read_bytes()  # wlasl is the default dataset


def test_manifest_of_a_missing_root_is_a_usage_error(tmp_path: Path):
    result = invoke("manifest", "-d", "wlasl", "--root", tmp_path / "nowhere", "--out", tmp_path / "m.jsonl")
    assert result.exit_code == 2 and "nowhere" in result.output
    assert not (tmp_path / "m.jsonl").exists()
    result = invoke("manifest", "-d", "wlsal", "--root", tmp_path, "--out", tmp_path / "m.jsonl")
    assert result.exit_code == 2 and "'wlsal' is not one of 'wlasl', 'msasl', 'csv', 'folder'" in result.output


def test_dataset_option_reaches_the_builder_like_the_named_flags(
    tmp_path: Path, wlasl_full: Path, wlasl_root: Path, corpus: Path
):
    """--dataset-option subset=100 is --subset 100 and class_list=... is --class-list ...; the class list
    changes the sample download's labels (from positions in its metadata to the full list's indices), so
    the comparison can tell an option that arrived from one that did not."""

    def manifest(name: str, *args) -> bytes:
        result = invoke("manifest", "-o", tmp_path / name, *args)
        assert result.exit_code == 0, result.output
        return (tmp_path / name).read_bytes()

    videos = tmp_path / "no-videos-yet"
    videos.mkdir()
    full = ["--root", wlasl_full, "--videos", videos]
    assert manifest("subset.jsonl", *full, "--dataset-option", "subset=100") == manifest(
        "s.jsonl", *full, "--subset", "100"
    )
    assert len(read_manifest(tmp_path / "subset.jsonl")) == 2038  # the video ids of nslt_100.json

    class_list = wlasl_full / "wlasl_class_list.txt"
    named = manifest("named.jsonl", "--root", wlasl_root, "--class-list", class_list)
    generic = manifest("generic.jsonl", "--root", wlasl_root, "--dataset-option", f"class-list={class_list}")
    assert generic == named != manifest("plain.jsonl", "--root", wlasl_root)


def test_a_list_option_of_msasl_through_plan_before_the_download(msasl_dir: Path):
    """split_files takes several files: one --dataset-option gives a list of one, not a string that the
    builder would read letter by letter."""
    result = invoke(
        "plan", "-d", "msasl", "--root", msasl_dir, "--json",
        "--dataset-option", f"split_files={msasl_dir / 'MSASL_test.json'}",
        "--dataset-option", f"classes={msasl_dir / 'MSASL_classes.json'}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["samples"] == 4172 and plan["missing"] == 4172 and plan["present"] == 0
    assert "video folder" in plan["note"] and plan["note"].endswith("every sample counted as missing")


def test_plan_takes_the_class_list_like_extract(wlasl_full: Path):
    class_list = wlasl_full / "wlasl_class_list.txt"
    result = invoke("plan", "--root", wlasl_full, "--subset", "100", "--class-list", class_list, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["samples"] == 2038


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset-option", "nope=1"], "takes no option nope; its options: metadata, videos_dir, subset, class_list"),
        (["--dataset-option", "subset"], "--dataset-option 'subset': expected KEY=VALUE"),
        (["--subset", "100", "--dataset-option", "subset=300"], "subset given twice"),
        (["--dataset-option", "subset=100", "--dataset-option", "subset=300"], "subset given 2 times"),
        (["-d", "csv", "--subset", "100"], "dataset 'csv' takes no option subset"),
    ],
)
def test_bad_builder_options_are_usage_errors_that_name_them(args, message, tmp_path: Path, wlasl_root: Path):
    for command in (["manifest", "-o", tmp_path / "m.jsonl"], ["extract", "-o", tmp_path / "out"], ["plan"]):
        result = invoke(*command, "--root", wlasl_root, *args)
        assert result.exit_code == 2, (command, result.output)
        assert message in result.output, (command, result.output)
    assert list(tmp_path.iterdir()) == []


def test_manifest_and_root_together_are_refused(tmp_path: Path, wlasl_root: Path, small_manifest):
    manifest_file = tmp_path / "m.jsonl"
    write_manifest(small_manifest.records, manifest_file)
    for command in (["extract", "-o", tmp_path / "out"], ["plan"]):
        result = invoke(*command, "--manifest", manifest_file, "--root", wlasl_root)
        assert result.exit_code == 2 and "--root and the dataset's options do not apply" in result.output
    assert not (tmp_path / "out").exists()
