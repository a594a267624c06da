"""CSV and plain-folder manifests: the sample corpus's clips.csv and small video trees."""

from __future__ import annotations

import csv
import os
import unicodedata
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


# (CSV text, the rejected line, its reason); the row "ok.mp4" is kept every time
BAD_ROWS = {
    "fps not a number": ("file,fps\nok.mp4,25\na.mp4,fast\n", 3, "fps 'fast' is not a valid float"),
    "label not a number": ("file,label\nok.mp4,1\na.mp4,x\n", 3, "label 'x' is not a valid int"),
    "id used twice": (
        "file\nok.mp4\nx/ok.mp4\n",
        3,
        "duplicate sample id 'ok': already used by line 2 (the first is kept)",
    ),
    "frame range reversed": (
        "file,frame_start,frame_end\nok.mp4,,\na.mp4,9,3\n",
        3,
        "sample a: frame_end 3 is before frame_start 9",
    ),
    "time range reversed": (
        "file,time_start,time_end\nok.mp4,1.5,2\na.mp4,4,3.5\n",
        3,
        "sample a: time_end 3.5 s is not after time_start 4.0 s",
    ),
    "frame and time range": (
        "file,frame_start,time_end\nok.mp4,,\na.mp4,3,3.5\n",
        3,
        "sample a: a frame range (3..-1) and a time range (None..3.5 s) together; give one of them",
    ),
    "more cells than the header": ("file\nok.mp4\na.mp4,b\n", 3, "more cells than header columns"),
    "empty video cell": ("file,gloss\nok.mp4,x\n,y\n", 3, "empty 'file'"),
    "traversal id": (
        "sample_id,file\nok,ok.mp4\n../evil,a.mp4\n",
        3,
        "sample id '../evil' holds the path separator '/'",
    ),
    "tab in a quoted id": (
        'sample_id,file\nok,ok.mp4\n"a\tb",a.mp4\n',
        3,
        "sample id 'a\\tb' holds a control character (U+0009)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_csv_row_is_rejected_with_its_line_and_the_rest_kept(tmp_path: Path, case: str):
    text, line, reason = BAD_ROWS[case]
    table = tmp_path / "t.csv"
    table.write_text(text)
    manifest = prepare_csv(table)
    assert [r.sample_id for r in manifest.missing] == ["ok"]
    assert [(r.metadata, r.location, r.reason) for r in manifest.rejected] == [(str(table), f"line {line}", reason)]


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"gloss\nhello\n", "no video column"),
        ("file\ncaf\u00e9.mp4\n".encode("latin-1"), "cannot read CSV"),
    ],
)
def test_a_csv_that_cannot_be_parsed_is_an_error(tmp_path: Path, data: bytes, expected: str):
    table = tmp_path / "t.csv"
    table.write_bytes(data)
    with pytest.raises(ManifestError, match=expected) as error:
        prepare_csv(table)
    assert str(table) in str(error.value)


def test_csv_labels_count_only_the_accepted_rows(tmp_path: Path):
    table = tmp_path / "t.csv"
    table.write_text("file,gloss,fps\nb.mp4,zebra,25\nc.mp4,apple,fast\nd.mp4,mouse,25\n")
    manifest = prepare_csv(table)
    assert [(r.sample_id, r.gloss, r.label) for r in manifest.missing] == [("b", "zebra", 1), ("d", "mouse", 0)]
    assert [r.sample_id for r in manifest.rejected] == [None]  # no id column: the row had none to name


def test_csv_sequence_labels_translations_and_time_ranges(tmp_path: Path):
    table = tmp_path / "t.csv"
    table.write_text(
        "sample_id,file,glosses,translation,time_start,time_end,split\n"
        "satz 1,long.mp4,MORGEN  REGEN   KOMMEN,morgen kommt regen,2.5,7.25,dev\n"
        "frames,frames/*.png,ABEND,,,,train\n"
    )
    (tmp_path / "frames").mkdir()
    manifest = prepare_csv(table)
    assert manifest.rejected == [] and [r.sample_id for r in manifest.records] == ["frames"]
    [sentence] = manifest.missing
    assert (sentence.sample_id, sentence.glosses, sentence.translation) == (
        "satz 1",
        ("MORGEN", "REGEN", "KOMMEN"),
        "morgen kommt regen",
    )
    assert (sentence.time_start, sentence.time_end, sentence.frame_start, sentence.frame_end) == (2.5, 7.25, 1, -1)
    assert (sentence.gloss, sentence.label, sentence.split) == (None, -1, "dev")
    assert manifest.records[0].video_path == str(tmp_path / "frames" / "*.png")  # a frame folder, present


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


def test_folder_takes_any_real_name(tmp_path: Path):
    names = ["año/clip 1.mp4", "手语/你好.mp4", "Ärger?/x.mp4", "top level.webm", "ok/.hidden.mp4"]
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    manifest = prepare_folder(tmp_path)
    assert manifest.rejected == []
    assert [(r.sample_id, r.gloss, r.label) for r in manifest.records] == [
        ("año__clip 1", "año", 0),
        ("top level", None, -1),
        ("Ärger?__x", "Ärger?", 1),
        ("手语__你好", "手语", 2),
    ]
    assert manifest.records[3].video_path == str(tmp_path / "手语" / "你好.mp4")


def test_folder_nfd_and_nfc_spellings_are_one_gloss_and_one_id(tmp_path: Path):
    nfc, nfd = "a\u00f1o", "an\u0303o"  # año composed (typed) and decomposed (as macOS lists it)
    assert nfc != nfd and unicodedata.normalize("NFC", nfd) == nfc
    for folder, file in [(nfd, "a.mp4"), (nfc, "b.mp4"), (nfc, "a.mp4")]:
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / file).touch()
    manifest = prepare_folder(tmp_path)
    assert [(r.sample_id, r.gloss, r.label) for r in manifest.records] == [(f"{nfc}__a", nfc, 0), (f"{nfc}__b", nfc, 0)]
    # both folders hold an a.mp4: one id after NFC; the first in sorted order is kept, the path as on disk
    assert manifest.records[0].video_path in {str(tmp_path / nfd / "a.mp4"), str(tmp_path / nfc / "a.mp4")}
    [rejected] = manifest.rejected
    assert rejected.reason.startswith(f"duplicate sample id '{nfc}__a': already used by ")


def test_folder_rejects_unusable_names_and_collisions_and_keeps_the_rest(tmp_path: Path):
    for name in ["good.mp4", "x.mp4", "x.mov", "bad\nname.mp4", " lead.mp4"]:
        (tmp_path / name).touch()
    manifest = prepare_folder(tmp_path)
    assert [r.sample_id for r in manifest.records] == ["good", "x"]
    assert manifest.records[1].video_path == str(tmp_path / "x.mov")  # sorted order: x.mov before x.mp4
    assert [(r.metadata, r.location, r.reason) for r in manifest.rejected] == [
        (str(tmp_path), " lead.mp4", "sample id ' lead' has leading or trailing whitespace"),
        (str(tmp_path), "bad\nname.mp4", "sample id 'bad\\nname' holds a control character (U+000A)"),
        (str(tmp_path), "x.mp4", "duplicate sample id 'x': already used by x.mov (the first is kept)"),
    ]
    with pytest.raises(ManifestError, match="does not exist"):
        prepare_folder(tmp_path / "nowhere")


def test_folder_rejects_a_file_name_that_is_not_utf8_and_prints_it(tmp_path: Path):
    (tmp_path / "good.mp4").touch()
    os.close(os.open(os.fsencode(tmp_path) + b"/bad\xff.mp4", os.O_CREAT | os.O_WRONLY))  # Latin-1 "ÿ"
    manifest = prepare_folder(tmp_path)
    assert [r.sample_id for r in manifest.records] == ["good"]
    [rejected] = manifest.rejected
    assert (rejected.location, rejected.sample_id) == ("bad\\udcff.mp4", "bad\\udcff")
    assert rejected.reason == "sample id 'bad\\udcff' holds a lone surrogate (U+DCFF)"
    rejected.describe().encode("utf-8")  # printable: no lone surrogate left


@pytest.mark.parametrize("pattern", ["../*", "/etc/*", ""])
def test_folder_pattern_must_stay_inside_root(tmp_path: Path, pattern: str):
    with pytest.raises(ManifestError, match="must be a glob relative to"):
        prepare_folder(tmp_path, pattern=pattern)


def test_build_manifest_rejects_unknown_names():
    assert set(BUILDERS) == {"wlasl", "msasl", "csv", "folder", "phoenix2014t", "phoenix2014", "csl-daily", "how2sign"}
    with pytest.raises(
        ManifestError, match="known: csl-daily, csv, folder, how2sign, msasl, phoenix2014, phoenix2014t"
    ):
        build_manifest("signum", Path("."))
    with pytest.raises(ManifestError, match="no option subset"):
        build_manifest("csv", Path("."), subset=100)
