"""CSV and plain-folder manifests: the sample corpus's clips.csv and small video trees."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from signprep.manifests import BUILDERS, ManifestError, build_manifest, prepare_wlasl
from signprep.manifests.table import prepare_csv, prepare_folder


@pytest.fixture(scope="module")
def sample(corpus: Path) -> Path:
    return corpus / "wlasl-sample"


@pytest.fixture(scope="module")
def csv_rows(sample: Path) -> list[dict]:
    with open(sample / "clips.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_clips_csv_gives_40_present_records(sample: Path, csv_rows: list[dict]):
    manifest = prepare_csv(sample / "clips.csv")
    assert manifest.missing == []
    assert [r.sample_id for r in manifest.records] == [row["video_id"] for row in csv_rows]
    assert [r.sample_id for r in manifest.records] == [str(n) for n in range(90001, 90041)]
    for record in manifest.records:
        assert record.video_path == str(sample / "videos" / f"{record.sample_id}.mp4")
        assert record.video_id == record.sample_id and record.dataset == "csv"


def test_clips_csv_fields(sample: Path):
    by_id = {r.sample_id: r for r in prepare_csv(sample / "clips.csv").records}
    football = by_id["90012"]
    assert (football.gloss, football.signer_id, football.split, football.fps) == (
        "football",
        908,
        "train",
        29.97,
    )
    assert football.extra["signer"] == "PF1_signingsavvy_woman"
    assert football.extra["frames_decoded"] == "62"
    assert by_id["90001"].split is None  # empty cell
    assert by_id["90001"].fps == 24.0


def test_clips_csv_labels_are_sorted_gloss_indices(sample: Path):
    records = prepare_csv(sample / "clips.csv").records
    glosses = sorted({r.gloss for r in records})
    assert all(r.label == glosses.index(r.gloss) for r in records)
    assert len(glosses) == 27  # the 24 glosses with videos plus the three clips outside the JSON


def test_clips_csv_agrees_with_the_wlasl_json(sample: Path):
    from_csv = {r.sample_id: r for r in prepare_csv(sample / "clips.csv").records}
    for record in prepare_wlasl(sample).records:
        row = from_csv[record.sample_id]
        assert (row.gloss, row.signer_id, row.split, row.video_path) == (
            record.gloss,
            record.signer_id,
            record.split,
            record.video_path,
        )


def test_build_manifest_finds_the_csv_in_a_folder(sample: Path):
    assert build_manifest("csv", sample).records == prepare_csv(sample / "clips.csv").records


def test_folder_with_two_csvs_is_ambiguous(tmp_path: Path):
    (tmp_path / "a.csv").write_text("file\n")
    (tmp_path / "b.csv").write_text("file\n")
    with pytest.raises(ManifestError, match="a.csv, b.csv"):
        build_manifest("csv", tmp_path)


def test_relative_paths_resolve_against_root(tmp_path: Path, sample: Path):
    table = tmp_path / "mine.csv"
    table.write_text("Video_Path,GLOSS,Label,Split\nvideos/90012.mp4,football,7,val\nvideos/nope.mp4,,,\n")
    manifest = prepare_csv(table, root=sample)
    assert [(r.sample_id, r.gloss, r.label, r.split) for r in manifest.records] == [("90012", "football", 7, "val")]
    assert [(r.sample_id, r.gloss, r.label) for r in manifest.missing] == [("nope", None, -1)]
    assert manifest.missing[0].video_path == str(sample / "videos" / "nope.mp4")


def test_csv_labels_without_label_column(tmp_path: Path):
    table = tmp_path / "t.csv"
    table.write_text("path,gloss\nb.mp4,zebra\nc.mp4,apple\nd.mp4,\ne.mp4,zebra\n")
    manifest = prepare_csv(table)
    assert [(r.sample_id, r.label) for r in manifest.missing] == [("b", 1), ("c", 0), ("d", -1), ("e", 1)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("gloss\nhello\n", "no video column"),
        ("file,fps\na.mp4,fast\n", ":2: fps 'fast'"),
        ("file,label\na.mp4,x\n", ":2: label 'x'"),
        ("file\na.mp4\nx/a.mp4\n", ":3: sample id 'a' already used"),
        ("file\nmy clip.mp4\n", ":2: sample id 'my clip'"),
        ("file,frame_start,frame_end\na.mp4,9,3\n", ":2: .*frame_end 3 is before frame_start 9"),
        ("file\n,\n", "more cells than header"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path: Path, text: str, expected: str):
    table = tmp_path / "t.csv"
    table.write_text(text)
    with pytest.raises(ManifestError, match=expected) as error:
        prepare_csv(table)
    assert str(table) in str(error.value)


def test_folder_of_gloss_subfolders(tmp_path: Path):
    for name in [
        "hello/a.mp4",
        "hello/b.MKV",
        "thanks/c.mp4",
        "top.webm",
        "thanks/notes.txt",
        "hello/._a.mp4",
    ]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    manifest = prepare_folder(tmp_path)
    assert manifest.missing == []
    assert [(r.sample_id, r.gloss, r.label) for r in manifest.records] == [
        ("hello__a", "hello", 0),
        ("hello__b", "hello", 0),
        ("thanks__c", "thanks", 1),
        ("top", None, -1),
    ]
    assert manifest.records[0].video_path == str(tmp_path / "hello" / "a.mp4")
    only_thanks = build_manifest("folder", tmp_path, pattern="thanks/*").records
    assert [(r.sample_id, r.label) for r in only_thanks] == [("thanks__c", 0)]  # labels count what was found


def test_folder_rejects_unsafe_names_and_collisions(tmp_path: Path):
    (tmp_path / "a b.mp4").touch()
    with pytest.raises(ManifestError, match="'a b'"):
        prepare_folder(tmp_path)
    (tmp_path / "a b.mp4").unlink()
    (tmp_path / "x.mp4").touch()
    (tmp_path / "x.mov").touch()
    with pytest.raises(ManifestError, match="'x' already used"):
        prepare_folder(tmp_path)
    with pytest.raises(ManifestError, match="does not exist"):
        prepare_folder(tmp_path / "nowhere")


def test_build_manifest_rejects_unknown_names():
    assert set(BUILDERS) == {"wlasl", "msasl", "csv", "folder"}
    with pytest.raises(ManifestError, match="known: csv, folder, msasl, wlasl"):
        build_manifest("how2sign", Path("."))
    with pytest.raises(ManifestError, match="no option subset"):
        build_manifest("csv", Path("."), subset=100)
