"""`export --format pyskl`: the annotation pickle, loaded with plain pickle, field by field against the shards."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from signprep.cli import app
from signprep.kernels.keypoint_layout import FACE_26, UPPER_BODY_11
from signprep.shards import ShardReader


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def pyskl_pickle(dsft_shards: Path, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("pyskl")
    result = invoke("export", dsft_shards, "-f", "pyskl", "-o", folder, "-j", "1")
    assert result.exit_code == 0, result.output
    assert f"written             : {folder / 'pyskl_signvtcl79.pkl'}" in result.output
    with open(folder / "pyskl_signvtcl79.pkl", "rb") as f:
        return pickle.load(f)


def test_every_field_equals_the_shards(pyskl_pickle: dict, dsft_shards: Path):
    # the SignVTCL 79, by hand: 11 upper-body pose points, 26 face-mesh points (offset 33), both hands
    signvtcl79 = UPPER_BODY_11 + [33 + i for i in FACE_26.values()] + list(range(501, 543))
    assert len(signvtcl79) == 79
    annotations = pyskl_pickle["annotations"]
    with ShardReader(dsft_shards) as reader:
        assert [a["frame_dir"] for a in annotations] == list(reader)  # sample ids, in order
        for a in annotations:
            sample = reader[a["frame_dir"]]
            entry = reader.index.samples[a["frame_dir"]]
            assert set(a) == {"frame_dir", "label", "img_shape", "original_shape", "total_frames", "keypoint",
                              "keypoint_score"}  # fmt: skip
            assert a["label"] == entry["label"] == sample.attrs["label"] and isinstance(a["label"], int)
            assert a["img_shape"] == (sample.attrs["height"], sample.attrs["width"])
            assert a["original_shape"] == (sample.attrs["source_height"], sample.attrs["source_width"])
            assert a["total_frames"] == sample.num_frames == entry["num_frames"]
            kp, conf = sample.read("keypoints"), sample.read("keypoint_confidence")
            present = sample.read("keypoint_present")
            assert a["keypoint"].shape == (1, sample.num_frames, 79, 2) and a["keypoint"].dtype == np.float32
            assert a["keypoint_score"].shape == (1, sample.num_frames, 79)
            assert a["keypoint_score"].dtype == np.float32
            np.testing.assert_array_equal(a["keypoint"][0], kp[:, signvtcl79, :2])
            np.testing.assert_array_equal(a["keypoint_score"][0], np.where(present, conf, 0)[:, signvtcl79])
            assert (a["keypoint_score"][0][~present[:, signvtcl79]] == 0).all()
        glosses = {e["label"]: e["gloss"] for e in reader.index.samples.values()}
    assert pyskl_pickle["split"] == {"train": ["90008", "90039"], "test": ["90009", "90040"]}
    assert pyskl_pickle["glosses"] == glosses and sorted(glosses.values()) == ["eat", "yes"]


def test_keypoint_info_names_the_points_and_their_skeleton(pyskl_pickle: dict):
    info = pyskl_pickle["keypoint_info"]
    assert info["subset"] == "signvtcl79" and len(info["names"]) == len(info["indices"]) == 79
    assert info["names"][:3] == ["pose.nose", "pose.left_eye", "pose.right_eye"]
    assert info["names"][37:39] == ["left_hand.wrist", "left_hand.thumb_cmc"]
    # the shoulder line (pose 11-12) is the 6th and 7th point; hand edges within the subset
    assert (5, 6) in info["skeleton"] and (37, 38) in info["skeleton"] and len(info["skeleton"]) >= 42


def test_another_subset_and_an_unknown_one(dsft_shards: Path, tmp_path: Path):
    result = invoke("export", dsft_shards, "-f", "pyskl", "-o", tmp_path / "hands", "--keypoint-subset", "hands",
                    "-s", "90008", "-j", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(tmp_path / "hands" / "pyskl_hands.pkl", "rb") as f:
        content = pickle.load(f)
    (annotation,) = content["annotations"]
    with ShardReader(dsft_shards) as reader:
        np.testing.assert_array_equal(annotation["keypoint"][0], reader["90008"].read("keypoints")[:, 501:543, :2])
    assert content["split"] == {"train": ["90008"]}

    result = invoke("export", dsft_shards, "-f", "pyskl", "-o", tmp_path / "bad", "--keypoint-subset", "hand")
    assert result.exit_code == 2
    assert "unknown keypoint subset 'hand'; known: all, face, face26, hands," in result.output
    assert not (tmp_path / "bad").exists()
