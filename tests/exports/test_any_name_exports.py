"""A sentence with a Chinese id, its glosses and its translation through every export and back: real
pose-format's FOOTBALL.pose imported under the records of a continuous dataset (one with a time
range), exported as .pose, npz and pyskl, and the .pose export imported again."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from pose_format import Pose
from typer.testing import CliRunner

from signprep.cli import app
from signprep.extraction.pipeline import load_pipeline
from signprep.imports.pose import run_import
from signprep.manifests import Manifest, SampleRecord, safe_file_name
from signprep.shards import ShardReader

SENTENCE = "手语 足球 (take 2)"  # an id as a Chinese corpus may name a clip: not a plain file name
GLOSSES = ("足球", "PLAY", "GUT")
TRANSLATION = "Wir spielen gern Fußball."
PLAIN = "football-1s"  # a plain ASCII id keeps its name; its record is a time range of the same file


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def sentence_shards(corpus: Path, tmp_path_factory) -> Path:
    football = corpus / "poses" / "pose_format" / "FOOTBALL.pose"  # 62 frames at 29.97 fps, 640x360
    records = Manifest([
        SampleRecord(SENTENCE, str(football), "csl-daily", glosses=GLOSSES, translation=TRANSLATION, split="train",
                     signer_id="3"),
        SampleRecord(PLAIN, str(football), "how2sign", translation="I like football.", split="val",
                     time_start=1.0, time_end=2.0),
    ])  # fmt: skip
    out = tmp_path_factory.mktemp("sentences") / "shards"
    summary = run_import(football.parent, out, load_pipeline("keypoints"), records, progress=False)
    assert summary.exit_code == 0 and summary.done_now == 2, summary.render()
    return out


def test_the_import_keeps_the_id_glosses_translation_and_time_range(sentence_shards: Path):
    with ShardReader(sentence_shards) as reader:
        assert sorted(reader) == sorted([SENTENCE, PLAIN])
        sentence, timed = reader[SENTENCE], reader[PLAIN]
        assert tuple(sentence.attrs["glosses"]) == GLOSSES and sentence.attrs["translation"] == TRANSLATION
        assert reader.index.samples[SENTENCE]["glosses"] == list(GLOSSES)
        assert sentence.num_frames == 62
        # 1.0 <= i / 29.97 < 2.0: frames 30..59 (ceil(29.97) = 30, ceil(59.94) - 1 = 59)
        assert timed.read("frame_indices").tolist() == list(range(30, 60))
        np.testing.assert_array_equal(timed.read("keypoints"), sentence.read("keypoints")[30:60])


def test_pose_export_names_files_by_the_one_rule_and_imports_back(sentence_shards: Path, tmp_path: Path):
    poses = tmp_path / "poses"
    result = invoke("export", sentence_shards, "-f", "pose", "-o", poses, "-j", "1")
    assert result.exit_code == 0, result.output
    hashed = f"{safe_file_name(SENTENCE)}.pose"
    assert hashed.startswith("take_2-") and len(hashed) == len("take_2-") + 20 + len(".pose")  # slug + hash
    assert sorted(p.name for p in poses.glob("*.pose")) == sorted([hashed, f"{PLAIN}.pose"])
    with ShardReader(sentence_shards) as reader:
        kp = reader[SENTENCE].read("keypoints")
    pose = Pose.read((poses / hashed).read_bytes())
    np.testing.assert_array_equal(np.ma.getdata(pose.body.data)[:, 0, :, :2], kp[..., :2])
    manifest = {r["sample_id"]: r for r in map(json.loads, (poses / "manifest.jsonl").open(encoding="utf-8"))}
    assert manifest[SENTENCE]["video_path"] == hashed
    assert (manifest[SENTENCE]["glosses"], manifest[SENTENCE]["translation"]) == (list(GLOSSES), TRANSLATION)
    assert manifest[PLAIN]["translation"] == "I like football." and manifest[PLAIN].get("time_start") is None

    again = invoke("export", sentence_shards, "-f", "pose", "-o", poses, "-j", "1")
    assert "skipped (done)      : 2" in again.output, again.output  # the hashed file is found again

    back = tmp_path / "back"
    result = invoke("import", poses, "--manifest", poses / "manifest.jsonl", "-o", back, "-j", "1")
    assert result.exit_code == 0, result.output
    with ShardReader(sentence_shards) as original, ShardReader(back) as imported:
        assert sorted(imported) == sorted(original)
        for sample_id in original:
            a, b = original[sample_id], imported[sample_id]
            for key in ("glosses", "translation", "split", "dataset", "signer_id", "num_frames"):
                assert b.attrs[key] == a.attrs[key], (sample_id, key)
            for name in ("keypoints", "keypoint_confidence", "keypoint_present"):
                np.testing.assert_array_equal(b.read(name), a.read(name), err_msg=f"{sample_id} {name}")


def test_npz_and_pyskl_carry_the_real_id_and_the_glosses(sentence_shards: Path, tmp_path: Path):
    result = invoke("export", sentence_shards, "-f", "npz", "-o", tmp_path / "npz", "-j", "2")
    assert result.exit_code == 0, result.output
    hashed = f"{safe_file_name(SENTENCE)}.npz"
    with (tmp_path / "npz" / "samples.csv").open(newline="", encoding="utf-8") as f:
        rows = {row["sample_id"]: row for row in csv.DictReader(f)}
    assert rows[SENTENCE]["file"] == hashed and rows[PLAIN]["file"] == f"{PLAIN}.npz"
    assert json.loads(rows[SENTENCE]["glosses"]) == list(GLOSSES) and "足球" in rows[SENTENCE]["glosses"]
    assert rows[SENTENCE]["translation"] == TRANSLATION and json.loads(rows[PLAIN]["glosses"]) == []
    assert rows[PLAIN]["time_start"] == "1.0" and rows[PLAIN]["first_frame"] == "31"
    with ShardReader(sentence_shards) as reader:
        np.testing.assert_array_equal(
            np.load(tmp_path / "npz" / hashed)["keypoint_confidence"], reader[SENTENCE].read("keypoint_confidence")
        )

    result = invoke("export", sentence_shards, "-f", "pyskl", "-o", tmp_path / "pyskl", "-j", "1")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "pyskl" / "pyskl_signvtcl79.pkl", "rb") as f:
        content = pickle.load(f)
    annotations = {a["frame_dir"]: a for a in content["annotations"]}
    assert content["split"] == {"train": [SENTENCE], "val": [PLAIN]}
    assert annotations[SENTENCE]["glosses"] == list(GLOSSES) and annotations[SENTENCE]["translation"] == TRANSLATION
    assert "glosses" not in annotations[PLAIN] and annotations[PLAIN]["translation"] == "I like football."
    assert annotations[PLAIN]["total_frames"] == 30 and annotations[PLAIN]["keypoint"].shape == (1, 30, 79, 2)
