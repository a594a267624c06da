"""Bad metadata: damaged manifest lines, wrong types, impossible frame ranges, duplicate ids, ids
and paths that try to leave their folders. A bad entry costs only itself: it is rejected with its
place and the reason, every other entry is kept (issue 18, item 5; was: the whole run stopped with
exit 2, issue #9 item 2); nothing is written outside the output directory. WLASL/MS-ASL/CSV and the
continuous-dataset builders are tested entry by entry in tests/manifests/; these go through the
manifest readers every `signprep extract` uses, and through the CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from hardening_files import CHEAP_PIPELINE, write_video
from typer.testing import CliRunner

from signprep.cli import app
from signprep.manifests import build_manifest, load_manifest
from signprep.shards import ShardReader

# The CLI still reads a --manifest strictly and ignores Manifest.rejected; wiring the rejected
# entries into extract (extract_errors.jsonl, the summary, exit 1) is the integrator's part of
# issue 18. strict: these start to pass when it lands, and then the marker must go.


def _tree(root: Path) -> dict[str, int]:
    """Every file under root with its size: what a run may have written."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _error_texts(out: Path) -> set[str]:
    """Every string value of out/extract_errors.jsonl's rows."""
    rows = [json.loads(line) for line in (out / "extract_errors.jsonl").read_text().splitlines() if line]
    return {value for row in rows for value in row.values() if isinstance(value, str)}


@pytest.fixture(scope="module")
def cheap_pipeline_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "cheap.yaml"
    path.write_text(yaml.safe_dump(CHEAP_PIPELINE))
    return path


@pytest.fixture(scope="module")
def short_video(tmp_path_factory, signer_frames) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", signer_frames)  # 20 frames


def _extract(args: list[str], out: Path, pipeline: Path):
    return CliRunner().invoke(
        app, ["extract", *args, "--out", str(out), "-p", str(pipeline), "-j", "1", "--no-progress"]
    )


GOOD = {"sample_id": "good", "video_path": "clip.mp4", "dataset": "hardening"}

# case -> (a bad manifest line, the reason it is rejected with)
BAD_LINES = {
    "truncated mid-record": (json.dumps(GOOD)[:30], "not valid JSON (Unterminated string starting at)"),
    "not an object": ("[1, 2]", "expected a JSON object per line"),
    "missing field": (json.dumps({"sample_id": "a", "dataset": "x"}), "missing manifest fields ['video_path']"),
    "unknown field": (json.dumps(dict(GOOD, sample_id="b", frame_begin=3)), "unknown manifest fields ['frame_begin']"),
    "label of the wrong type": (json.dumps(dict(GOOD, sample_id="c", label="7")), "field 'label' must be an integer"),
    "fractional frame": (json.dumps(dict(GOOD, sample_id="d", frame_end=2.5)), "field 'frame_end' must be an integer"),
    "path of the wrong type": (json.dumps(dict(GOOD, sample_id="e", video_path=7)), "field 'video_path' must be a"),
    "bbox of two numbers": (json.dumps(dict(GOOD, sample_id="f", bbox=[1, 2])), "field 'bbox' must be [x1, y1, x2"),
    "frame_start after frame_end": (
        json.dumps(dict(GOOD, sample_id="g", frame_start=9, frame_end=3)),
        "frame_end 3 is before",
    ),
    "frame_start 0": (json.dumps(dict(GOOD, sample_id="h", frame_start=0)), "frame_start 0 < 1 (frames are 1-based)"),
    "time range backwards": (
        json.dumps(dict(GOOD, sample_id="i", time_start=2, time_end=1)),
        "time_end 1.0 s is not after",
    ),
    "duplicate id": (json.dumps(GOOD), "duplicate sample id 'good': already used by line 1 (the first is kept)"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_manifest_line_is_rejected_and_the_others_kept(case, tmp_path: Path, short_video: Path):
    line, reason = BAD_LINES[case]
    shutil.copy(short_video, tmp_path / "clip.mp4")
    manifest_file = tmp_path / "manifest.jsonl"
    manifest_file.write_text(json.dumps(GOOD) + "\n" + line + "\n" + json.dumps(dict(GOOD, sample_id="after")) + "\n")
    manifest = load_manifest(manifest_file)
    assert [r.sample_id for r in manifest.records] == ["good", "after"]
    [rejected] = manifest.rejected
    assert (rejected.metadata, rejected.location) == (str(manifest_file), "line 2")
    assert reason in rejected.reason


def test_extract_of_a_manifest_with_bad_lines_extracts_the_good_ones_and_exits_1(
    tmp_path: Path, short_video: Path, cheap_pipeline_file: Path
):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(short_video, data / "clip.mp4")
    manifest_file = data / "manifest.jsonl"
    manifest_file.write_text("\n".join([json.dumps(GOOD), *(line for line, _ in BAD_LINES.values())]) + "\n")
    before = _tree(tmp_path)
    out = tmp_path / "out"
    result = _extract(["--manifest", str(manifest_file)], out, cheap_pipeline_file)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    with ShardReader(out) as reader:
        assert sorted(reader) == ["good"]
    texts = " ".join(_error_texts(out))
    for _, reason in BAD_LINES.values():
        assert reason in texts
    assert "rejected" in result.output  # the summary counts them
    assert {k: v for k, v in _tree(tmp_path).items() if not k.startswith("out/")} == before


# Ids that would leave a folder or are no name at all, as a manifest, a CSV or WLASL JSON may hold
# them. (".hidden" was refused while ids were file names; parts now get safe_file_name.)
ESCAPING_IDS = ["../evil", "../../evil", "/tmp/evil", "a/../../evil", "..", ".", "evil/x", "evil\\x", "evil\x00.h5", ""]


def _write_source(source: str, data: Path, ids: list[str], video: Path) -> list[str]:
    """Metadata of `source` kind listing `ids` then one good entry "good"; returns the CLI arguments."""
    if source == "manifest":
        path = data / "manifest.jsonl"
        lines = [json.dumps(dict(GOOD, sample_id=i, video_path=str(video))) for i in [*ids, "good"]]
        path.write_text("\n".join(lines) + "\n")
        return ["--manifest", str(path)]
    if source == "csv":
        path = data / "clips.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["sample_id", "file"])
            # an empty cell means "not given": the id is then the file stem (documented)
            writer.writerows([i, "videos/clip.mp4"] for i in [*ids, "good"] if i != "")
        return ["--dataset", "csv", "--root", str(path)]
    path = data / "WLASL_v0.3.json"
    shutil.copy(video, video.parent / "good.mp4")
    path.write_text(json.dumps([{"gloss": "soup", "instances": [{"video_id": i} for i in [*ids, "good"]]}]))
    return ["--dataset", "wlasl", "--root", str(data)]


@pytest.mark.parametrize("source", ["manifest", "csv", "wlasl"])
def test_ids_that_try_to_escape_are_rejected_by_every_reader_and_the_good_one_kept(
    source, tmp_path: Path, short_video: Path
):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(short_video, videos / "clip.mp4")
    args = _write_source(source, tmp_path, ESCAPING_IDS, videos / "clip.mp4")
    manifest = load_manifest(Path(args[1])) if source == "manifest" else build_manifest(source, Path(args[3]))
    assert [r.sample_id for r in manifest.records] == ["good"]
    expected = [i for i in ESCAPING_IDS if not (source == "csv" and i == "")]
    assert [r.sample_id for r in manifest.rejected] == [
        None if (source == "wlasl" and i == "") else i for i in expected
    ]  # WLASL's empty video_id is "missing" before it is an id
    for rejected in manifest.rejected:
        assert rejected.reason.startswith(("sample id ", "missing or non-string 'video_id'")), rejected


@pytest.mark.parametrize("source", ["manifest", "csv", "wlasl"])
def test_extract_with_escaping_ids_writes_nothing_outside_out_and_exits_1(
    source, tmp_path: Path, short_video: Path, cheap_pipeline_file: Path
):
    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    shutil.copy(short_video, data / "videos" / "clip.mp4")
    args = _write_source(source, data, ESCAPING_IDS, data / "videos" / "clip.mp4")
    before = _tree(tmp_path)
    out = tmp_path / "work" / "out"
    result = _extract(args, out, cheap_pipeline_file)
    assert result.exit_code == 1, (source, result.output)
    with ShardReader(out) as reader:
        assert sorted(reader) == ["good"]
    assert "sample id '../evil' holds the path separator '/'" in _error_texts(out) | {result.output}
    assert {k: v for k, v in _tree(tmp_path).items() if not k.startswith("work/out/")} == before


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
