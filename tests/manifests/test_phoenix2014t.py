"""PHOENIX-2014-T: a release-v3 layout built in tmp_path from real corpus frames (clip 90012
written as 210x260 PNG folders), corpus files in the release's own format."""

from __future__ import annotations

from pathlib import Path

import pytest

from signprep.manifests import ManifestError, build_manifest, prepare_phoenix2014t
from signprep.video.decode import DecodeOptions, SampleFrames

HEADER = "name|video|start|end|speaker|orth|translation"
SIZE = (210, 260)
TRAIN = [
    HEADER,
    # 2: frames in <split>/<name>/ (the v3 layout)
    "01April_2010_Thursday_heute-6694|01April_2010_Thursday_heute-6694/1/*.png|-1|-1|Signer04|"
    "__ON__ JETZT WETTER MORGEN DONNERSTAG ZWOELF FEBRUAR|"
    "und nun die wettervorhersage für morgen donnerstag den zwölften februar",
    # 3: frames where the video column says (<name>/1/*.png)
    "01April_2010_Thursday_heute-6697|01April_2010_Thursday_heute-6697/1/*.png|-1|-1|Signer04|"
    "ORT REGEN DURCH REGION|es regnet hier und da",
    # 4: no frames at all: missing
    "05May_2011_Thursday_tagesschau-25|05May_2011_Thursday_tagesschau-25/1/*.png|-1|-1|Signer08|"
    "JETZT WETTER WIE-AUSSEHEN|und nun die wettervorhersage",
    "bad-no-glosses|bad-no-glosses/1/*.png|-1|-1|Signer01||ohne glossen",  # 5
    "bad-cells|bad-cells/1/*.png|-1|-1|Signer01|A B",  # 6: one cell short
    "01April_2010_Thursday_heute-6694|x/1/*.png|-1|-1|Signer09|NOCHMAL|noch einmal",  # 7: repeated name
    "../escape|../escape/1/*.png|-1|-1|Signer01|A|a",  # 8
    "bad-video|../../elsewhere/*.png|-1|-1|Signer01|A|a",  # 9
    "",
]
DEV = [HEADER, "11August_2010_Wednesday_tagesschau-2|11August_2010_Wednesday_tagesschau-2/1/*.png|-1|-1|Signer08|"
       "DRUCK TIEF KOMMEN|tiefer luftdruck bestimmt in den nächsten tagen unser wetter"]  # fmt: skip
TEST = [HEADER, "25October_2010_Monday_tagesschau-22|25October_2010_Monday_tagesschau-22/1/*.png|-1|-1|Signer01|"
        "MITTWOCH REGEN KOENNEN|am mittwoch hier und da nieselregen"]  # fmt: skip


@pytest.fixture(scope="module")
def release(tmp_path_factory, write_frames) -> Path:
    """PHOENIX-2014-T-release-v3/ as unpacked, with 8, 6, 5 and 4 real frames per sentence."""
    top = tmp_path_factory.mktemp("phoenix14t") / "PHOENIX-2014-T-release-v3"
    base = top / "PHOENIX-2014-T"
    manual = base / "annotations" / "manual"
    manual.mkdir(parents=True)
    for split, lines in {"train": TRAIN, "dev": DEV, "test": TEST}.items():
        (manual / f"PHOENIX-2014-T.{split}.corpus.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    frames = base / "features" / "fullFrame-210x260px"
    write_frames(frames / "train" / "01April_2010_Thursday_heute-6694", "90012", 0, 8, SIZE)
    write_frames(frames / "train" / "01April_2010_Thursday_heute-6697" / "1", "90012", 8, 6, SIZE)
    write_frames(frames / "dev" / "11August_2010_Wednesday_tagesschau-2", "90012", 20, 5, SIZE)
    write_frames(frames / "test" / "25October_2010_Monday_tagesschau-22", "90012", 30, 4, SIZE)
    return top


def test_every_record_field(release: Path):
    manifest = prepare_phoenix2014t(release)
    base = release / "PHOENIX-2014-T"
    frames = base / "features" / "fullFrame-210x260px"
    by_id = {r.sample_id: r for r in manifest.records}
    assert list(by_id) == [
        "01April_2010_Thursday_heute-6694",
        "01April_2010_Thursday_heute-6697",
        "11August_2010_Wednesday_tagesschau-2",
        "25October_2010_Monday_tagesschau-22",
    ]
    first = by_id["01April_2010_Thursday_heute-6694"]
    assert first.video_path == str(frames / "train" / "01April_2010_Thursday_heute-6694")
    assert first.glosses == ("__ON__", "JETZT", "WETTER", "MORGEN", "DONNERSTAG", "ZWOELF", "FEBRUAR")
    assert first.translation == "und nun die wettervorhersage für morgen donnerstag den zwölften februar"
    assert (first.gloss, first.label, first.signer_id, first.split, first.fps) == (None, -1, "Signer04", "train", 25.0)
    assert (first.frame_start, first.frame_end, first.time_start, first.time_end) == (1, -1, None, None)
    assert (first.dataset, first.video_id, first.bbox, first.source) == ("phoenix2014t", first.sample_id, None, None)
    assert first.extra == {"video": "01April_2010_Thursday_heute-6694/1/*.png"}
    in_video_column = by_id["01April_2010_Thursday_heute-6697"]
    assert in_video_column.video_path == str(frames / "train" / "01April_2010_Thursday_heute-6697" / "1" / "*.png")
    assert in_video_column.glosses == ("ORT", "REGEN", "DURCH", "REGION")
    dev = by_id["11August_2010_Wednesday_tagesschau-2"]
    assert (dev.split, dev.signer_id, dev.glosses) == ("dev", "Signer08", ("DRUCK", "TIEF", "KOMMEN"))
    assert dev.translation == "tiefer luftdruck bestimmt in den nächsten tagen unser wetter"
    assert by_id["25October_2010_Monday_tagesschau-22"].split == "test"
    [missing] = manifest.missing
    assert (missing.sample_id, missing.video_path) == (
        "05May_2011_Thursday_tagesschau-25",
        str(frames / "train" / "05May_2011_Thursday_tagesschau-25"),
    )


def test_bad_rows_are_rejected_with_line_and_reason(release: Path):
    train = release / "PHOENIX-2014-T" / "annotations" / "manual" / "PHOENIX-2014-T.train.corpus.csv"
    rejected = prepare_phoenix2014t(release).rejected
    assert [(r.metadata, r.location, r.sample_id, r.reason) for r in rejected] == [
        (str(train), "line 5", "bad-no-glosses", "empty 'orth' (no glosses)"),
        (str(train), "line 6", "bad-cells", "6 cells, the header has 7"),
        (
            str(train),
            "line 7",
            "01April_2010_Thursday_heute-6694",
            "duplicate sample id '01April_2010_Thursday_heute-6694': already used by line 2 (the first is kept)",
        ),
        (str(train), "line 8", "../escape", "sample id '../escape' holds the path separator '/'"),
        (
            str(train),
            "line 9",
            "bad-video",
            "'video' '../../elsewhere/*.png' is not a relative path inside the frame folder",
        ),
    ]


@pytest.mark.parametrize(
    "sample_id, frames", [("01April_2010_Thursday_heute-6694", 8), ("01April_2010_Thursday_heute-6697", 6)]
)
def test_records_decode_as_their_frames(release: Path, sample_id: str, frames: int):
    record = next(r for r in prepare_phoenix2014t(release).records if r.sample_id == sample_id)
    sample = SampleFrames(record.video_path, DecodeOptions(), source_fps=record.fps)
    [(_, decoded)] = list(sample.attempts())
    images = [f.rgb for f in decoded]
    assert len(images) == frames and images[0].shape == (260, 210, 3)
    assert sample.info.source_fps == 25.0 and sample.info.decoder_note == ""


def test_options_splits_and_folders(release: Path, tmp_path: Path):
    base = release / "PHOENIX-2014-T"
    only_dev = build_manifest("phoenix2014t", base, splits="dev")  # the inner folder as root works too
    assert [r.sample_id for r in only_dev.records] == ["11August_2010_Wednesday_tagesschau-2"]
    assert only_dev.rejected == [] and only_dev.missing == []
    two = prepare_phoenix2014t(tmp_path, splits=["dev", "test"], annotations_dir=base / "annotations" / "manual",
                               frames_dir=base / "features" / "fullFrame-210x260px")  # fmt: skip
    assert [r.split for r in two.records] == ["dev", "test"]
    with pytest.raises(ManifestError, match="no PHOENIX-2014-T corpus file .*PHOENIX-2014-T.val.corpus.csv"):
        prepare_phoenix2014t(release, splits="val")


def test_unparseable_or_absent_files_are_errors(release: Path, tmp_path: Path):
    with pytest.raises(ManifestError, match="no PHOENIX-2014-T corpus files in"):
        prepare_phoenix2014t(tmp_path)
    manual = tmp_path / "annotations" / "manual"
    manual.mkdir(parents=True)
    corpus = manual / "PHOENIX-2014-T.dev.corpus.csv"
    corpus.write_text("id|folder|signer|annotation\nx|x/1/*.png|Signer01|A B\n")  # PHOENIX-2014's header
    frames = release / "PHOENIX-2014-T" / "features" / "fullFrame-210x260px"
    with pytest.raises(
        ManifestError, match="no column 'name', 'video', 'start', 'end', 'speaker', 'orth', 'translation' in the header"
    ) as error:
        prepare_phoenix2014t(tmp_path, frames_dir=frames)
    assert str(corpus) in str(error.value)
    corpus.write_bytes(HEADER.encode() + b"\nx|x|-1|-1|S|A|gr\xfc\xdfe\n")  # Latin-1, not UTF-8
    with pytest.raises(ManifestError, match="not UTF-8 text"):
        prepare_phoenix2014t(tmp_path, frames_dir=frames)
    with pytest.raises(ManifestError, match="no PHOENIX-2014-T frame folder"):
        prepare_phoenix2014t(release, frames_dir=tmp_path / "nowhere")
