"""`signprep import --format pose`: shards from real .pose files (pose-format's own FOOTBALL.pose, and
exports of corpus shards), without video: arrays, labels, keypoint-only stages, bad files, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from pose_format import Pose
from typer.testing import CliRunner

from signprep.cli import app
from signprep.extraction.pipeline import load_pipeline
from signprep.imports.pose import run_import
from signprep.manifests import Manifest, SampleRecord, write_manifest
from signprep.shards import ShardReader
from signprep.video.decode import DecodeOptions, SampleFrames

K = 543


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def football_file(corpus: Path) -> Path:
    return corpus / "poses" / "pose_format" / "FOOTBALL.pose"


@pytest.fixture(scope="module")
def reimported(pose_export: Path, tmp_path_factory) -> Path:
    """The export of dsft_shards imported again through the CLI, labelled by the export's manifest."""
    out = tmp_path_factory.mktemp("reimported") / "out"
    result = invoke("import", "--format", "pose", pose_export, "--manifest", pose_export / "manifest.jsonl",
                    "-o", out, "-j", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "signprep import:" in result.output and "imported now        : 4 (" in result.output
    return out


def test_an_import_of_an_export_gives_the_shards_arrays_back(reimported: Path, dsft_shards: Path):
    with ShardReader(dsft_shards) as original, ShardReader(reimported) as imported:
        assert list(imported) == list(original)
        for sample_id in original:
            a, b = original[sample_id], imported[sample_id]
            for name in ("keypoints", "keypoint_confidence", "keypoint_present"):
                np.testing.assert_array_equal(b.read(name), a.read(name), err_msg=f"{sample_id} {name}")
                assert b.read(name).dtype == a.read(name).dtype
            # frame_indices count the file's frames: the export holds the 12 fps frames only
            assert b.read("frame_indices").tolist() == list(range(a.num_frames))
            assert a.read("frame_indices")[-1] > a.num_frames  # the originals index the 25-30 fps video
            for key in ("gloss", "label", "signer_id", "split", "dataset", "num_frames", "fps", "width", "height",
                        "keypoint_layout", "keypoint_units"):  # fmt: skip
                assert b.attrs[key] == a.attrs[key], key
            assert (b.attrs["decoder"], b.attrs["keypoint_source"]) == ("pose-file", "pose-format file")
            assert b.attrs["source_path"].endswith(f"{sample_id}.pose")
        assert imported.index.samples.keys() == original.index.samples.keys()
        assert imported.index.pipeline["source"] == "pose"
        assert imported.index.pipeline_hash != original.index.pipeline_hash  # an extract into it is refused


def test_pose_formats_own_file_imports_exactly(football_file: Path, tmp_path: Path):
    """FOOTBALL.pose, written by pose-format's video_to_pose (five components, world landmarks last)."""
    records = Manifest([SampleRecord("90012", str(football_file), "wlasl", gloss="football", label=5)])
    summary = run_import(football_file.parent, tmp_path / "out", load_pipeline("keypoints"), records, progress=False)
    assert summary.exit_code == 0 and summary.done_now == 1, summary.render()
    pose = Pose.read(football_file.read_bytes())
    data, conf = np.ma.getdata(pose.body.data)[:, 0, :K], pose.body.confidence[:, 0, :K]
    with ShardReader(tmp_path / "out") as reader:
        sample = reader["90012"]
        kp = sample.read("keypoints")
        present = conf > 0
        np.testing.assert_array_equal(kp[..., :2], np.where(present[..., None], data[..., :2], 0))
        np.testing.assert_array_equal(kp[..., 2], np.where(present, (data[..., 2] * np.float64(640)), 0).astype("f4"))
        np.testing.assert_array_equal(sample.read("keypoint_confidence"), np.where(present, conf, 0))
        np.testing.assert_array_equal(sample.read("keypoint_present"), present)
        a = sample.attrs
        assert (a["width"], a["height"], a["num_frames"], a["gloss"], a["label"]) == (640, 360, 62, "football", 5)
        assert a["fps"] == pytest.approx(29.97) and a["scale"] == [1.0, 1.0] and a["crop_box"] == ""
        assert a["decoder_note"] == "POSE_WORLD_LANDMARKS not stored"
    # exported again: pose-format's x, y and confidence exactly, z within one float32 step (x width, /width)
    assert invoke("export", tmp_path / "out", "-f", "pose", "-o", tmp_path / "again", "-j", "1").exit_code == 0
    again = Pose.read((tmp_path / "again" / "90012.pose").read_bytes())
    mine = np.ma.getdata(again.body.data)[:, 0]
    np.testing.assert_array_equal(mine[..., :2], np.where(present[..., None], data[..., :2], 0))
    np.testing.assert_array_max_ulp(mine[..., 2], np.where(present, data[..., 2], 0).astype("f4"), maxulp=1)
    np.testing.assert_array_equal(again.body.confidence[:, 0], np.where(present, conf, 0))


def test_frame_range_and_fps_select_the_frames_a_video_would_give(football_file: Path, corpus: Path, tmp_path: Path):
    """Frames 11..40 at 10 fps of the 29.97 fps file: every third frame or so, by hand; the decoder picks the
    same frames of the video."""
    record = SampleRecord("90012", str(football_file), "wlasl", frame_start=11, frame_end=40)
    config = load_pipeline("keypoints").model_dump()
    config["decode"]["fps"] = 10
    pipeline_file = tmp_path / "ten.yaml"
    pipeline_file.write_text(yaml.safe_dump(config))
    summary = run_import(football_file.parent, tmp_path / "out", load_pipeline(pipeline_file), Manifest([record]),
                         progress=False)  # fmt: skip
    assert summary.exit_code == 0, summary.render()
    expected = [10, 13, 16, 19, 22, 25, 28, 31, 34, 37]  # round(10 + n * 2.997), up to frame 40 (index 39)
    video = SampleFrames(corpus / "wlasl-sample" / "videos" / "90012.mp4", DecodeOptions(fps=10), frame_start=11,
                         frame_end=40)  # fmt: skip
    assert [frame.index for frame in next(video.attempts())[1]] == expected
    data = np.ma.getdata(Pose.read(football_file.read_bytes()).body.data)[:, 0, :K]
    with ShardReader(tmp_path / "out") as reader:
        sample = reader["90012"]
        assert sample.read("frame_indices").tolist() == expected and sample.attrs["fps"] == 10
        np.testing.assert_array_equal(sample.read("keypoints")[:, :33, :2], data[expected, :33, :2])
        assert (sample.attrs["first_frame"], sample.attrs["last_frame"]) == (11, 38)


def test_keypoint_stages_run_on_imported_keypoints_as_on_the_videos(all_stages_run, all_stages_config, tmp_path):
    """90029 and 90012 with every stage: their keypoints exported and imported again with the same heatmap
    stage give the heatmaps of the video extraction, to the byte."""
    out, _ = all_stages_run
    assert invoke("export", out, "-f", "pose", "-o", tmp_path / "poses", "-j", "1").exit_code == 0
    pipeline = tmp_path / "heatmaps.yaml"
    stages = {"keypoints": all_stages_config["keypoints"], "heatmaps": all_stages_config["heatmaps"]}
    pipeline.write_text(yaml.safe_dump({"name": "keypoint-heatmaps", "stages": stages}))
    result = invoke("import", tmp_path / "poses", "--manifest", tmp_path / "poses" / "manifest.jsonl",
                    "-p", pipeline, "-o", tmp_path / "imported", "-j", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    with ShardReader(out) as video, ShardReader(tmp_path / "imported") as imported:
        for sample_id in ("90029", "90012"):
            a, b = video[sample_id], imported[sample_id]
            assert b.read("heatmaps").shape == a.read("heatmaps").shape == (a.num_frames, 79, 48, 48)
            np.testing.assert_array_equal(b.read("heatmaps"), a.read("heatmaps"))
            assert b.attrs["heatmap_fit"] == a.attrs["heatmap_fit"]
            assert set(b.datasets) == {"frame_indices", "heatmaps", "keypoint_confidence", "keypoint_present",
                                       "keypoints"}  # fmt: skip


@pytest.mark.parametrize(
    ("pipeline", "stage"),
    [("multimodal", "frames"), ("hand_crops", "hand_crops"), ("disentangle", "person_mask")],
)
def test_a_stage_that_needs_frames_is_refused_up_front(pose_export: Path, tmp_path: Path, pipeline, stage):
    result = invoke("import", pose_export, "-p", pipeline, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert f"stage {stage!r} needs" in result.output and "a .pose file does not hold" in result.output
    assert not (tmp_path / "out").exists()


def test_bad_pose_files_fail_alone_named(football_file: Path, corpus: Path, tmp_path: Path):
    folder = tmp_path / "poses"
    folder.mkdir()
    data = football_file.read_bytes()
    shutil.copy(football_file, folder / "good.pose")
    (folder / "half.pose").write_bytes(data[: len(data) // 2])
    (folder / "empty.pose").write_bytes(b"")
    (folder / "html.pose").write_bytes(b"<html><body>404 Not Found</body></html>\n" * 20)
    (folder / "joined.pose").write_bytes(data + data[:100])
    shutil.copy(corpus / "poses" / "pose_format" / "FOOTBALL.mmposewholebody.pose", folder / "mmpose.pose")
    shutil.copy(corpus / "poses" / "pose_format" / "tests_data_mediapipe.pose", folder / "reduced.pose")
    _write_altered(football_file, folder)
    result = invoke("import", folder, "-o", tmp_path / "out", "-j", "2")
    assert result.exit_code == 1, result.output
    errors = {e["sample_id"]: e for e in map(json.loads, (tmp_path / "out" / "extract_errors.jsonl").open())}
    expected = {
        "empty": "pose file is empty (0 bytes)",
        "half": "truncated or damaged .pose body",
        "html": "not a readable .pose file",
        "joined": "100 bytes after the last frame",
        "mmpose": "not a MediaPipe Holistic pose (components BODY, FACE, LEFT_HAND, RIGHT_HAND;",
        "reduced": "POSE_LANDMARKS holds 8 points that are not MediaPipe's full 33",
        "two_d": "POSE_LANDMARKS has point format 'XYC', expected 'XYZC'",
        "no_size": "no video size in the header (0x360)",
        "no_fps": "no frame rate in the body (fps 0.0)",
        "nan": "non-finite coordinates of a found point in frame 5",
    }
    assert sorted(errors) == sorted(expected)
    for sample_id, text in expected.items():
        error = errors[sample_id]
        assert error["stage"] == "read" and text in error["error"], error
        assert error["error"].endswith(str(folder / f"{sample_id}.pose"))  # names the file
        assert "Traceback" not in error["error"]
    with ShardReader(tmp_path / "out") as reader:
        assert list(reader) == ["good"] and reader["good"].num_frames == 62
        assert reader["good"].attrs["dataset"] == "pose" and reader["good"].attrs["label"] == -1


def _write_altered(football_file: Path, folder: Path) -> None:
    """FOOTBALL.pose altered with pose-format itself: 2D points, no width, no fps, a NaN in a found point."""
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions
    from pose_format.utils.holistic import holistic_components

    def write(name: str, pose: Pose) -> None:
        with open(folder / f"{name}.pose", "wb") as f:
            pose.write(f)

    pose = Pose.read(football_file.read_bytes())
    data, confidence = np.ma.getdata(pose.body.data), pose.body.confidence
    flat = PoseHeader(0.2, PoseHeaderDimensions(640, 360, 0), holistic_components("XYC"))
    write("two_d", Pose(flat, NumPyPoseBody(pose.body.fps, data[..., :2].copy(), confidence)))
    narrow = PoseHeader(0.2, PoseHeaderDimensions(0, 360, 0), pose.header.components)  # pose-format caches headers
    write("no_size", Pose(narrow, NumPyPoseBody(pose.body.fps, data.copy(), confidence)))
    write("no_fps", Pose(pose.header, NumPyPoseBody(0.0, data.copy(), confidence)))
    broken = data.copy()
    broken[5, 0, 0, 0] = np.nan
    assert confidence[5, 0, 0] > 0
    write("nan", Pose(pose.header, NumPyPoseBody(pose.body.fps, broken, confidence)))


def test_labels_from_a_dataset_builder_missing_files_and_resume(football_file: Path, wlasl_root: Path, tmp_path):
    """-d wlasl --root: every WLASL record's file is DIR/<video id>.pose; only 90012 has one here."""
    folder = tmp_path / "poses"
    folder.mkdir()
    shutil.copy(football_file, folder / "90012.pose")
    result = invoke("import", folder, "-d", "wlasl", "--root", wlasl_root, "-o", tmp_path / "out", "-j", "1")
    assert result.exit_code == 0, result.output
    assert "imported now        : 1 (62 frames" in result.output and "missing file        : 37" in result.output
    errors = [json.loads(line) for line in (tmp_path / "out" / "extract_errors.jsonl").open()]
    assert len(errors) == 37 and {e["status"] for e in errors} == {"missing_file"}
    assert any(e["error"] == f"pose file not found: {folder / '90029.pose'}" for e in errors)
    with ShardReader(tmp_path / "out") as reader:
        a = reader["90012"].attrs
        assert (a["gloss"], a["split"], a["signer_id"], a["dataset"]) == ("football", "train", "908", "wlasl")
    result = invoke("import", folder, "-d", "wlasl", "--root", wlasl_root, "-o", tmp_path / "out", "-j", "1")
    assert result.exit_code == 0 and "skipped (done)      : 1" in result.output

    result = invoke("extract", "-d", "wlasl", "--root", wlasl_root, "-o", tmp_path / "out")
    assert result.exit_code == 3 and "holds shards of another pipeline configuration" in result.output


PHOENIX_ROWS = {  # the release's corpus files, in its own format: name|video|start|end|speaker|orth|translation
    "train": "01April_2010_Thursday_heute-6697|01April_2010_Thursday_heute-6697/1/*.png|-1|-1|Signer04|"
    "ORT REGEN DURCH REGION|es regnet hier und da",
    "dev": "11August_2010_Wednesday_tagesschau-2|11August_2010_Wednesday_tagesschau-2/1/*.png|-1|-1|Signer08|"
    "DRUCK TIEF KOMMEN|tiefer luftdruck bestimmt in den nächsten tagen unser wetter",
    "test": "25October_2010_Monday_tagesschau-22|25October_2010_Monday_tagesschau-22/1/*.png|-1|-1|Signer01|"
    "MITTWOCH REGEN KOENNEN|am mittwoch hier und da nieselregen",
}


def test_sentences_of_a_frame_folder_dataset_labelled_by_its_builder(football_file: Path, tmp_path: Path):
    """-d phoenix2014t: a sentence's file is DIR/<name>.pose, whether its record names the `<name>/1/*.png`
    pattern (its folder exists) or the `<split>/<name>` folder (the frames are not there)."""
    top = tmp_path / "PHOENIX-2014-T-release-v3"
    manual = top / "PHOENIX-2014-T" / "annotations" / "manual"
    manual.mkdir(parents=True)
    for split, row in PHOENIX_ROWS.items():
        header = "name|video|start|end|speaker|orth|translation"
        (manual / f"PHOENIX-2014-T.{split}.corpus.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    frames = top / "PHOENIX-2014-T" / "features" / "fullFrame-210x260px"
    (frames / "train" / "01April_2010_Thursday_heute-6697" / "1").mkdir(parents=True)  # the pattern's folder
    poses = tmp_path / "poses"
    poses.mkdir()
    for name in ("01April_2010_Thursday_heute-6697", "11August_2010_Wednesday_tagesschau-2"):
        shutil.copy(football_file, poses / f"{name}.pose")
    result = invoke("import", poses, "-d", "phoenix2014t", "--root", top, "-o", tmp_path / "out", "-j", "1")
    assert result.exit_code == 0, result.output
    assert "imported now        : 2 (124 frames" in result.output and "missing file        : 1" in result.output
    with ShardReader(tmp_path / "out") as reader:
        assert list(reader) == ["01April_2010_Thursday_heute-6697", "11August_2010_Wednesday_tagesschau-2"]
        a = reader["01April_2010_Thursday_heute-6697"].attrs
        assert a["source_path"] == str(poses / "01April_2010_Thursday_heute-6697.pose")
        assert tuple(a["glosses"]) == ("ORT", "REGEN", "DURCH", "REGION")
        assert a["translation"] == "es regnet hier und da"
        assert (a["split"], a["signer_id"], a["dataset"], a["label"]) == ("train", "Signer04", "phoenix2014t", -1)
        assert reader["11August_2010_Wednesday_tagesschau-2"].attrs["split"] == "dev"


def test_choosing_samples_and_bad_arguments(pose_export: Path, tmp_path: Path):
    manifest = pose_export / "manifest.jsonl"
    result = invoke("import", pose_export, "--manifest", manifest, "--split", "test", "-o", tmp_path / "t", "-j", "1")
    assert result.exit_code == 0, result.output
    with ShardReader(tmp_path / "t") as reader:
        assert list(reader) == ["90009", "90040"]
    result = invoke("import", pose_export, "--manifest", manifest, "-s", "nope", "-o", tmp_path / "bad")
    assert result.exit_code == 2 and "no such samples among the records: nope" in result.output
    result = invoke("import", tmp_path / "nowhere", "-o", tmp_path / "bad")
    assert result.exit_code == 2 and "no folder of .pose files" in result.output
    result = invoke("import", pose_export, "--subset", "100", "-o", tmp_path / "bad")
    assert result.exit_code == 2 and "need --root" in result.output
    result = invoke("import", "--format", "openpose", pose_export, "-o", tmp_path / "bad")
    assert result.exit_code == 2 and "'openpose' is not one of 'pose'" in result.output
    named = tmp_path / "named"
    named.mkdir()
    rtl = "rtl\u202efdp"
    for name in ("año 1", " lead", rtl):  # any script is an id; a stray space or a bidi control is not
        shutil.copy(pose_export / "90008.pose", named / f"{name}.pose")
    result = invoke("import", named, "-o", tmp_path / "named-out", "-j", "1")
    assert result.exit_code == 1, result.output  # the bad names are rejected entries; the rest is imported
    assert "imported now        : 1 (" in result.output and "rejected entries    : 2" in result.output
    with ShardReader(tmp_path / "named-out") as reader:
        assert list(reader) == ["año 1"]
    rows = [json.loads(line) for line in (tmp_path / "named-out" / "extract_errors.jsonl").open(encoding="utf-8")]
    reasons = {row["sample_id"]: row["error"] for row in rows if row["status"] == "rejected"}
    assert reasons == {
        " lead": "sample id ' lead' has leading or trailing whitespace",
        rtl: f"sample id {rtl!r} holds the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE)",
    }


def test_a_record_can_name_its_pose_file_by_its_video(pose_export: Path, tmp_path: Path):
    """A manifest of the videos (as `signprep manifest` writes it) labels the .pose files named after them."""
    records = [
        SampleRecord("a", "/videos/elsewhere/90008.mp4", "wlasl", gloss="eat", label=3, split="train"),
        SampleRecord("b", "/videos/elsewhere/90040.mkv", "wlasl", gloss="yes", label=7, split="test"),
    ]
    write_manifest(records, tmp_path / "videos.jsonl")
    result = invoke("import", pose_export, "--manifest", tmp_path / "videos.jsonl", "-o", tmp_path / "out", "-j", "1")
    assert result.exit_code == 0, result.output
    with ShardReader(tmp_path / "out") as reader:
        assert list(reader) == ["a", "b"]
        assert reader["b"].attrs["label"] == 7 and reader["b"].attrs["source_path"] == str(pose_export / "90040.pose")
