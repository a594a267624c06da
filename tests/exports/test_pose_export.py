"""`export --format pose`: real shards -> .pose files read back with the real pose-format library, against
the shards and against pose-format's own FOOTBALL.pose (video_to_pose on the same video, 90012)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from pose_format import Pose
from typer.testing import CliRunner

from signprep.cli import app
from signprep.exports import PoseExport, run_export
from signprep.extraction.pipeline import parse_pipeline
from signprep.extraction.runner import run_extract
from signprep.manifests import Manifest, read_manifest
from signprep.shards import ShardReader

K = 543


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def football(corpus: Path) -> Pose:
    return Pose.read((corpus / "poses" / "pose_format" / "FOOTBALL.pose").read_bytes())


@pytest.fixture(scope="module")
def reference_poses(reference_run, tmp_path_factory) -> Path:
    """The small reference extraction (90029, 90012, 90031 at their own fps) exported through the CLI."""
    out, _, _ = reference_run
    folder = tmp_path_factory.mktemp("reference-poses") / "poses"
    result = invoke("export", out, "--format", "pose", "--to", folder, "--workers", "1")
    assert result.exit_code == 0, result.output
    return folder


def test_every_sample_reads_back_equal_to_the_shard_arrays(pose_export: Path, dsft_shards: Path):
    with ShardReader(dsft_shards) as reader:
        assert sorted(p.stem for p in pose_export.glob("*.pose")) == list(reader)
        for sample_id in reader:
            sample = reader[sample_id]
            pose = Pose.read((pose_export / f"{sample_id}.pose").read_bytes())
            kp, conf = sample.read("keypoints"), sample.read("keypoint_confidence")
            present = sample.read("keypoint_present")
            data = np.ma.getdata(pose.body.data)
            assert data.shape == (sample.num_frames, 1, K, 3) and data.dtype == np.float32
            # no crop, no resize: the stored frame is the video, so x and y are the stored values exactly
            np.testing.assert_array_equal(data[:, 0, :, :2], np.where(present[..., None], kp[..., :2], 0))
            # z: MediaPipe's raw depth, as video_to_pose writes it (the shards scale it by the width)
            np.testing.assert_allclose(data[:, 0, :, 2] * sample.attrs["width"], kp[..., 2], rtol=1e-6, atol=1e-4)
            np.testing.assert_array_equal(pose.body.confidence[:, 0], np.where(present, conf, 0))
            # absent points are masked (pose-format's reader masks confidence 0)
            np.testing.assert_array_equal(pose.body.data.mask[:, 0, :, 0], ~present)
            assert not present.all() and present.any()  # hands come and go in these clips: both cases are seen
            assert pose.body.fps == pytest.approx(12.0) and sample.attrs["fps"] == 12.0
            assert (pose.header.dimensions.width, pose.header.dimensions.height) == (
                sample.attrs["source_width"],
                sample.attrs["source_height"],
            )


def test_header_is_pose_formats_holistic_as_in_football_pose(reference_poses: Path, football: Pose):
    ours = Pose.read((reference_poses / "90012.pose").read_bytes()).header
    theirs = football.header
    assert [c.name for c in ours.components] == [c.name for c in theirs.components][:4] == [
        "POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS",
    ]  # fmt: skip
    assert theirs.components[4].name == "POSE_WORLD_LANDMARKS"  # not written: signprep stores no world landmarks
    for a, b in zip(ours.components, theirs.components[:4], strict=False):
        assert a.points == b.points and a.limbs == b.limbs and a.format == b.format == "XYZC"
        assert np.array_equal(a.colors, b.colors)
    assert (ours.dimensions.width, ours.dimensions.height) == (640, 360)
    assert round(ours.version, 3) == round(theirs.version, 3) == 0.2


def test_football_export_matches_pose_formats_own_estimate(reference_poses: Path, football: Pose):
    """Same video, same Holistic (0.10.21, model_complexity 1): the export must land where video_to_pose
    put the points, in its units (pixels, raw z), frame for frame."""
    ours = Pose.read((reference_poses / "90012.pose").read_bytes())
    assert ours.body.data.shape[0] == football.body.data.shape[0] == 62
    assert ours.body.fps == pytest.approx(football.body.fps, abs=0.01)  # 29.97
    a, b = np.ma.getdata(ours.body.data)[:, 0], np.ma.getdata(football.body.data)[:, 0, :K]
    both = (ours.body.confidence[:, 0] > 0) & (football.body.confidence[:, 0, :K] > 0)
    body = both[:, :33]
    xy_error = np.linalg.norm(a[:, :33, :2] - b[:, :33, :2], axis=-1)[body]
    assert np.median(xy_error) < 1.0, np.median(xy_error)  # measured 0.26 px
    z_error = np.abs(a[:, :33, 2] - b[:, :33, 2])[body]
    # z in MediaPipe's units (|z| up to ~1.2 here); scaled by the width it would be off by ~640x
    assert np.median(z_error) < 0.03, np.median(z_error)  # measured 0.009
    confidence_error = np.abs(ours.body.confidence[:, 0, :33] - football.body.confidence[:, 0, :33])[body]
    assert np.median(confidence_error) < 0.01


def test_pose_formats_normalisation_and_visualiser_run_on_an_export(reference_poses: Path, tmp_path: Path):
    from pose_format.pose_visualizer import PoseVisualizer
    from pose_format.utils.generic import pose_normalization_info, reduce_holistic

    pose = Pose.read((reference_poses / "90012.pose").read_bytes())
    info = pose_normalization_info(pose.header)
    shoulders = pose.body.data[:, 0, [info.p1, info.p2], :2]
    pose.normalize(info)
    # pose-format's normalisation: shoulders centred at the origin, their mean distance 1
    normalised = pose.body.data[:, 0, [info.p1, info.p2], :2]
    assert float(np.ma.mean(np.linalg.norm(normalised[:, 0] - normalised[:, 1], axis=-1))) == pytest.approx(1, abs=1e-3)
    assert np.linalg.norm(np.ma.mean(normalised.mean(axis=1), axis=0)) < 1e-3
    assert float(np.ma.mean(np.linalg.norm(shoulders[:, 0] - shoulders[:, 1], axis=-1))) > 50  # it was pixels
    reduced = reduce_holistic(Pose.read((reference_poses / "90012.pose").read_bytes()))
    assert [c.name for c in reduced.header.components][0] == "POSE_LANDMARKS"

    pose = Pose.read((reference_poses / "90012.pose").read_bytes())
    frames = list(PoseVisualizer(pose).draw(max_frames=3))
    assert len(frames) == 3 and frames[0].shape == (360, 640, 3)
    blank = np.full_like(frames[0], 255)
    assert (frames[0] != blank).any(axis=-1).sum() > 500  # a skeleton was drawn on the white frame
    PoseVisualizer(pose).save_png(str(tmp_path / "frame.png"), frames[:1])
    assert (tmp_path / "frame.png").stat().st_size > 1000


def test_the_manifest_labels_the_files_as_the_shards(pose_export: Path, dsft_shards: Path):
    records = {r.sample_id: r for r in read_manifest(pose_export / "manifest.jsonl")}
    with ShardReader(dsft_shards) as reader:
        assert sorted(records) == list(reader)
        for sample_id, record in records.items():
            a = reader[sample_id].attrs
            assert record.video_path == str(pose_export / f"{sample_id}.pose")
            assert (record.gloss, record.label, str(record.signer_id), record.split) == (
                a["gloss"], a["label"], a["signer_id"], a["split"],
            )  # fmt: skip
            assert (record.frame_start, record.frame_end, record.fps, record.dataset) == (1, -1, 12.0, "wlasl")
    assert "/" not in (pose_export / "manifest.jsonl").read_text().split('"video_path": "')[1].split('"')[0]


def test_a_cropped_and_resized_shard_exports_in_the_source_videos_pixels(
    tmp_path: Path, records, keypoints_pipeline, football: Pose
):
    """90012 cropped to x 80..560 and resized to 240x180 (scale 0.5): the stored keypoints are in that frame,
    the export puts them back into the 640x360 video, where pose-format's own estimate is."""
    config = keypoints_pipeline.model_dump()
    config["decode"].update(crop_to_bbox=True, resize_short_side=180)
    record = dataclasses.replace(records["90012"], bbox=(80, 0, 560, 360), frame_end=30)
    summary = run_extract(Manifest([record]), parse_pipeline(config), tmp_path / "shards", workers=1, progress=False)
    assert summary.exit_code == 0, summary.render()
    with ShardReader(tmp_path / "shards") as reader:
        a = reader["90012"].attrs
        stored = reader["90012"].read("keypoints")
    assert (a["width"], a["height"], a["crop_box"], a["scale"]) == (240, 180, [80, 0, 560, 360], [0.5, 0.5])
    assert run_export(tmp_path / "shards", PoseExport(), tmp_path / "poses", progress=False).exit_code == 0
    pose = Pose.read((tmp_path / "poses" / "90012.pose").read_bytes())
    assert (pose.header.dimensions.width, pose.header.dimensions.height) == (640, 360)
    data = np.ma.getdata(pose.body.data)[:, 0]
    present = pose.body.confidence[:, 0] > 0
    # by hand: source = stored / 0.5 + (80, 0); z = stored z / 240
    np.testing.assert_allclose(data[..., 0][present], (stored[..., 0] * 2 + 80)[present], rtol=1e-6)
    np.testing.assert_allclose(data[..., 1][present], (stored[..., 1] * 2)[present], rtol=1e-6)
    np.testing.assert_allclose(data[..., 2][present], (stored[..., 2] / 240)[present], rtol=1e-5, atol=1e-7)
    ref = np.ma.getdata(football.body.data)[:30, 0, :33, :2]
    error = np.linalg.norm(data[:, :33, :2] - ref, axis=-1)[present[:, :33]]
    assert np.median(error) < 3.0, np.median(error)  # measured 1.34 px (Holistic on a quarter of the pixels)
    assert np.median(np.linalg.norm(stored[:, :33, :2] - ref, axis=-1)) > 50  # the stored frame's pixels differ
