"""SampleRecord's sequence labels and time ranges, the JSON-lines round trip, and a manifest
file whose bad lines are rejected one by one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signprep.manifests import (
    ManifestError,
    RejectedEntry,
    SampleRecord,
    load_manifest,
    read_manifest,
    write_manifest,
)


@pytest.fixture(scope="module")
def video(corpus: Path) -> str:
    return str(corpus / "wlasl-sample" / "videos" / "90033.mp4")


def test_sequence_labels_translation_and_time_range_round_trip(tmp_path: Path, video: str):
    sentence = SampleRecord(
        "satz año 1",
        video,
        "how2sign",
        glosses=["MORGEN", "REGEN", "__OFF__"],
        translation="morgen regen\u2028zweite zeile\nund mehr",  # U+2028 is written raw by json.dumps
        time_start=2,
        time_end=7.25,
        signer_id="Signer08",
    )
    assert sentence.glosses == ("MORGEN", "REGEN", "__OFF__") and sentence.time_start == 2.0
    assert isinstance(sentence.time_start, float)
    isolated = SampleRecord("90012", video, "wlasl", gloss="football", label=7, frame_start=3, frame_end=40)
    path = tmp_path / "m.jsonl"
    write_manifest([sentence, isolated], path)
    first = json.loads(path.read_text(encoding="utf-8").split("\n")[0])
    assert first["glosses"] == ["MORGEN", "REGEN", "__OFF__"]  # a JSON list, readable without signprep
    assert (first["time_start"], first["time_end"], first["translation"]) == (2.0, 7.25, sentence.translation)
    assert read_manifest(path) == [sentence, isolated]
    loaded = load_manifest(path)
    assert loaded.records == [sentence, isolated] and loaded.missing == [] and loaded.rejected == []
    assert (isolated.glosses, isolated.translation, isolated.time_start, isolated.time_end) == (None, None, None, None)


def test_an_old_manifest_line_without_the_new_fields_reads(tmp_path: Path, video: str):
    old = {"sample_id": "90012", "video_path": video, "dataset": "wlasl", "gloss": "football", "label": 7,
           "signer_id": 908, "split": "train", "frame_start": 1, "frame_end": -1, "fps": 29.97, "bbox": None,
           "source": None, "video_id": "90012", "extra": {}}  # fmt: skip
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(old) + "\n")
    [record] = read_manifest(path)
    assert (record.glosses, record.translation, record.time_start, record.time_end) == (None, None, None, None)
    assert (record.gloss, record.label, record.signer_id) == ("football", 7, 908)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"glosses": "MORGEN REGEN"}, "field 'glosses' must be a list of gloss strings or null, got 'MORGEN REGEN'"),
        ({"glosses": ["MORGEN", 3]}, "field 'glosses' must be a list of gloss strings, got ['MORGEN', 3]"),
        ({"glosses": []}, "empty gloss sequence"),
        ({"glosses": ["MORGEN REGEN"]}, "gloss 0 ('MORGEN REGEN') is not one token"),
        ({"glosses": ["MORGEN", ""]}, "gloss 1 ('') is not one token"),
        ({"translation": 3}, "field 'translation' must be a string or null, got 3"),
        ({"time_start": "1.5"}, "field 'time_start' must be a number of seconds or null, got '1.5'"),
        ({"time_end": True}, "field 'time_end' must be a number of seconds or null, got True"),
        ({"time_start": float("nan")}, "time_start must be a finite number of seconds, got nan"),
        ({"time_start": -0.5}, "time_start -0.5 s is negative"),
        ({"time_start": 3, "time_end": 3}, "time_end 3.0 s is not after time_start 3.0 s"),
        ({"time_end": 0}, "time_end 0.0 s is not after time_start 0.0 s"),
        ({"time_start": 1, "frame_end": 40}, "a frame range (1..40) and a time range (1.0..None s) together"),
    ],
)
def test_bad_new_fields_are_refused_with_a_clear_reason(fields: dict, message: str, video: str):
    with pytest.raises(ManifestError) as error:
        SampleRecord.from_dict({"sample_id": "s", "video_path": video, "dataset": "x", **fields})
    assert message in str(error.value)


def test_records_built_in_code_are_type_checked_too(video: str):
    # builders construct records from metadata values directly, not through from_dict
    with pytest.raises(ManifestError, match=r"^field 'gloss' must be a string or null, got 3$"):
        SampleRecord("a", video, "x", gloss=3)
    with pytest.raises(ManifestError, match=r"^field 'signer_id' must be an integer, a string or null, got \[908\]$"):
        SampleRecord("a", video, "x", signer_id=[908])
    with pytest.raises(ManifestError, match=r"^field 'fps' must be positive, got inf$"):
        SampleRecord("a", video, "x", fps=float("inf"))


def test_time_start_alone_and_time_end_alone_are_ranges(video: str):
    assert SampleRecord("a", video, "x", time_start=4.0).time_end is None
    assert SampleRecord("b", video, "x", time_end=4.0).time_start is None


def test_a_manifest_s_bad_lines_are_rejected_one_by_one(tmp_path: Path, video: str):
    good = {"sample_id": "good", "video_path": video, "dataset": "x"}
    lines = [
        json.dumps(good),
        '{"sample_id": "cut", "video_pa',
        "[1, 2]",
        json.dumps({"sample_id": "nopath", "dataset": "x"}),
        json.dumps(dict(good, sample_id="../evil")),
        json.dumps(dict(good, label="7")),
        "",
        json.dumps(good),
        json.dumps(dict(good, sample_id="gone", video_path="nowhere.mp4")),
        json.dumps(dict(good, sample_id="año", glosses=["A", "B"]), ensure_ascii=False),
    ]
    path = tmp_path / "m.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"sample_id": "\xff"}\n')
    manifest = load_manifest(path)
    assert [r.sample_id for r in manifest.records] == ["good", "año"]
    assert [(r.sample_id, r.video_path) for r in manifest.missing] == [("gone", str(tmp_path / "nowhere.mp4"))]
    m = str(path)
    assert manifest.rejected == [
        RejectedEntry(m, "line 2", "not valid JSON (Unterminated string starting at)"),
        RejectedEntry(m, "line 3", "expected a JSON object per line"),
        RejectedEntry(m, "line 4", "missing manifest fields ['video_path']", "nopath"),
        RejectedEntry(m, "line 5", "sample id '../evil' holds the path separator '/'", "../evil"),
        RejectedEntry(m, "line 6", "field 'label' must be an integer class index, got '7'", "good"),
        RejectedEntry(m, "line 8", "duplicate sample id 'good': already used by line 1 (the first is kept)", "good"),
        RejectedEntry(m, "line 11", "not UTF-8 text (byte 15 of the line: invalid start byte)"),
    ]
    with pytest.raises(ManifestError, match=rf"^{path}:2: not valid JSON .*\(and 6 more bad lines\)$"):
        read_manifest(path)


def test_a_file_that_is_no_manifest_at_all_is_an_error(tmp_path: Path, corpus: Path):
    for path in (corpus / "wlasl-sample" / "clips.csv", corpus / "wlasl-sample" / "WLASL_v0.3.json"):
        with pytest.raises(ManifestError, match="not a JSON-lines manifest, no line is a JSON object") as error:
            load_manifest(path)
        assert str(path) in str(error.value)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert len(load_manifest(empty)) == 0
    with pytest.raises(ManifestError, match="cannot read manifest"):
        load_manifest(tmp_path / "absent.jsonl")


def test_rejected_entry_describes_itself():
    entry = RejectedEntry("/d/WLASL_v0.3.json", "gloss 'book' (entry 0), instance 2", "bad", "../evil\x00")
    assert entry.describe() == "/d/WLASL_v0.3.json: gloss 'book' (entry 0), instance 2 (id '../evil\\x00'): bad"
    assert entry.to_dict() == {
        "metadata": "/d/WLASL_v0.3.json",
        "location": "gloss 'book' (entry 0), instance 2",
        "reason": "bad",
        "sample_id": "../evil\x00",
    }
