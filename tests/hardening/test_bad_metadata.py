"""Bad metadata: damaged manifests, wrong types, impossible frame ranges, duplicate ids, ids and
paths that try to leave their folders. Clear errors naming the file (and line), and nothing
written outside the output directory (issue #9, item 2). WLASL/MS-ASL/CSV metadata errors of
the builders are tested in tests/manifests/; these go through `signprep extract`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from hardening_files import CHEAP_PIPELINE, write_video
from typer.testing import CliRunner

from signprep.cli import app
from signprep.shards import ShardReader


def _tree(root: Path) -> dict[str, int]:
    """Every file under root with its size: what a run may have written."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def cheap_pipeline_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "cheap.yaml"
    path.write_text(yaml.safe_dump(CHEAP_PIPELINE))
    return path


@pytest.fixture(scope="module")
def short_video(tmp_path_factory, signer_frames) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", signer_frames)  # 20 frames


def _extract(manifest: Path, out: Path, pipeline: Path):
    args = ["extract", "--manifest", str(manifest), "--out", str(out), "--pipeline", str(pipeline)]
    return CliRunner().invoke(app, [*args, "--workers", "1", "--no-progress"])


GOOD = {"sample_id": "good", "video_path": "clip.mp4", "dataset": "hardening"}

# case -> (manifest text, what the error must say)
BAD_MANIFESTS = {
    "truncated mid-record": (json.dumps(GOOD) + "\n" + json.dumps(GOOD)[:30], ":2: not valid JSON"),
    "not an object": (json.dumps(GOOD) + "\n[1, 2]\n", ":2: expected a JSON object"),
    "missing field": (json.dumps({"sample_id": "a", "dataset": "x"}), ":1: missing manifest fields ['video_path']"),
    "unknown field": (json.dumps(dict(GOOD, frame_begin=3)), ":1: unknown manifest fields ['frame_begin']"),
    "label of the wrong type": (json.dumps(dict(GOOD, label="7")), ":1: field 'label' must be an integer"),
    "fractional frame": (json.dumps(dict(GOOD, frame_end=2.5)), ":1: field 'frame_end' must be an integer"),
    "path of the wrong type": (json.dumps(dict(GOOD, video_path=7)), ":1: field 'video_path' must be a string"),
    "bbox of two numbers": (json.dumps(dict(GOOD, bbox=[1, 2])), ":1: field 'bbox' must be [x1, y1, x2, y2]"),
    "frame_start after frame_end": (json.dumps(dict(GOOD, frame_start=9, frame_end=3)), "frame_end 3 is before"),
    "frame_start 0": (json.dumps(dict(GOOD, frame_start=0)), "frame_start 0 < 1 (frames are 1-based)"),
    "duplicate ids": (json.dumps(GOOD) + "\n" + json.dumps(GOOD), "duplicate sample ids in the manifest: good"),
}


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_a_bad_manifest_is_a_usage_error_naming_the_file_and_writes_nothing(
    case, tmp_path: Path, short_video: Path, cheap_pipeline_file: Path
):
    text, expected = BAD_MANIFESTS[case]
    shutil.copy(short_video, tmp_path / "clip.mp4")
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(text)
    before = _tree(tmp_path)
    result = _extract(manifest, tmp_path / "out", cheap_pipeline_file)
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert "duplicate" in case or str(manifest) in result.output  # duplicates are named by id
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert _tree(tmp_path) == before and not (tmp_path / "out").exists()


# sample ids become file names (parts/<id>.h5) and HDF5 group names
ESCAPING_IDS = ["../evil", "../../evil", "/tmp/evil", "a/../../evil", "..", "evil/x", "evil\x00.h5", ".hidden", ""]


@pytest.mark.parametrize("source", ["manifest", "csv", "wlasl"])
def test_ids_that_try_to_escape_are_refused_by_every_reader(source, tmp_path: Path, short_video, cheap_pipeline_file):
    videos = tmp_path / "data" / "videos"
    videos.mkdir(parents=True)
    shutil.copy(short_video, videos / "clip.mp4")
    out = tmp_path / "work" / "out"
    for sample_id in ESCAPING_IDS:
        if source == "csv" and sample_id == "":
            continue  # an empty CSV cell means "not given": the id is the video's file stem (documented)
        if source == "manifest":
            path = tmp_path / "data" / "manifest.jsonl"
            path.write_text(json.dumps(dict(GOOD, sample_id=sample_id, video_path=str(videos / "clip.mp4"))) + "\n")
            args = ["--manifest", str(path)]
        elif source == "csv":
            path = tmp_path / "data" / "clips.csv"
            path.write_text(f"sample_id,file\n{json.dumps(sample_id)},videos/clip.mp4\n")
            args = ["--dataset", "csv", "--root", str(path)]
        else:
            path = tmp_path / "data" / "WLASL_v0.3.json"
            path.write_text(json.dumps([{"gloss": "soup", "instances": [{"video_id": sample_id}]}]))
            args = ["--dataset", "wlasl", "--root", str(tmp_path / "data")]
        before = _tree(tmp_path)
        result = CliRunner().invoke(app, ["extract", *args, "--out", str(out), "-p", str(cheap_pipeline_file)])
        assert result.exit_code == 2, (sample_id, result.output)
        assert "not safe as a file or group name" in result.output or "video_id" in result.output, result.output
        assert _tree(tmp_path) == before, f"{sample_id!r} wrote files"
        assert not out.exists()


def test_video_paths_outside_the_video_folder_are_only_read_and_bad_ranges_fail_alone(
    tmp_path: Path, short_video: Path, cheap_pipeline_file: Path
):
    """Video paths in a CSV or manifest may point anywhere (manifests store absolute paths by
    design): they are read, never written. Ranges past the video: frame_end is clipped to the
    real end (WLASL counts header frames), a frame_start past the end is that sample's error."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(short_video, elsewhere / "clip.mp4")
    root = tmp_path / "dataset"
    root.mkdir()
    rows = [
        "sample_id,file,frame_start,frame_end",
        "dotdot,../elsewhere/clip.mp4,,",
        f"absolute,{elsewhere / 'clip.mp4'},,",
        "end-past-the-video,../elsewhere/clip.mp4,5,500",
        "start-past-the-video,../elsewhere/clip.mp4,100,-1",
    ]
    (root / "clips.csv").write_text("\n".join(rows) + "\n")
    before = _tree(tmp_path)
    mtime = os.stat(elsewhere / "clip.mp4").st_mtime_ns
    out = tmp_path / "out"
    args = ["extract", "--dataset", "csv", "--root", str(root / "clips.csv"), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "-p", str(cheap_pipeline_file), "-j", "1", "--no-progress"])
    assert result.exit_code == 1, result.output  # one sample failed, the others are done
    assert "failed  start-past-the-video [decode] no frames in range 100..-1" in result.output
    assert str(elsewhere / "clip.mp4") in result.output
    after = _tree(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("out/")} == before  # nothing new outside out/
    assert os.stat(elsewhere / "clip.mp4").st_mtime_ns == mtime
    with ShardReader(out) as reader:
        assert sorted(reader) == ["absolute", "dotdot", "end-past-the-video"]
        assert reader["absolute"].num_frames == reader["dotdot"].num_frames == 20
        assert reader["end-past-the-video"].num_frames == 16  # frames 5..20 of 20
