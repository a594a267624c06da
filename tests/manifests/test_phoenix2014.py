"""PHOENIX-2014: a phoenix2014-release layout built in tmp_path from real corpus frames
(clip 90029 written as 210x260 PNGs named as the release names them), both variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from signprep.manifests import ManifestError, build_manifest, prepare_phoenix2014
from signprep.video.decode import DecodeOptions, SampleFrames

HEADER = "id|folder|signer|annotation"
SIZE = (210, 260)
FRAME_NAME = "01April_2010_Thursday_heute.avi_pid0_fn{:06d}-0.png"
TRAIN = [
    HEADER,
    "01April_2010_Thursday_heute_default-0|01April_2010_Thursday_heute_default-0/1/*.png|Signer04|"
    "__ON__ LIEB ZUSCHAUER ABEND WINTER GESTERN loc-NORD SCHOTTLAND loc-REGION UEBERSCHWEMMUNG AMERIKA IX",
    "01April_2010_Thursday_heute_default-1|01April_2010_Thursday_heute_default-1/1/*.png|Signer04|"
    "__ON__ MORGEN WETTER WIE-AUSSEHEN __OFF__",  # no frames: missing
    "13April_2011_Wednesday_tagesschau_default-14|/abs/1/*.png|Signer01|A B",  # 4: an absolute folder
    "no-glosses|no-glosses/1/*.png|Signer01|   ",  # 5
    "|x/1/*.png|Signer01|A",  # 6: no id
]
DEV = [HEADER, "01April_2011_Friday_tagesschau_default-0|01April_2011_Friday_tagesschau_default-0/1/*.png|Signer01|"
       "__ON__ WETTER MORGEN __OFF__"]  # fmt: skip


@pytest.fixture(scope="module")
def release(tmp_path_factory, write_frames) -> Path:
    top = tmp_path_factory.mktemp("phoenix14") / "phoenix2014-release"
    multi = top / "phoenix-2014-multisigner"
    manual = multi / "annotations" / "manual"
    manual.mkdir(parents=True)
    (manual / "train.corpus.csv").write_text("\n".join(TRAIN) + "\n", encoding="utf-8")
    (manual / "dev.corpus.csv").write_text("\n".join(DEV) + "\n", encoding="utf-8")
    frames = multi / "features" / "fullFrame-210x260px"
    folder = frames / "train" / "01April_2010_Thursday_heute_default-0" / "1"
    write_frames(folder, "90029", 0, 12, SIZE, name=FRAME_NAME, start=0)
    write_frames(frames / "dev" / "01April_2011_Friday_tagesschau_default-0" / "1", "90029", 12, 5, SIZE,
                 name="x.avi_pid0_fn{:06d}-0.png", start=0)  # fmt: skip
    si5 = top / "phoenix-2014-signerindependent-SI5"
    (si5 / "annotations" / "manual").mkdir(parents=True)
    (si5 / "annotations" / "manual" / "test.SI5.corpus.csv").write_text(
        HEADER + "\nsi5-0|si5-0/1/*.png|Signer05|REGEN\n", encoding="utf-8"
    )
    write_frames(si5 / "features" / "fullFrame-210x260px" / "test" / "si5-0" / "1", "90029", 20, 3, SIZE)
    return top


def test_every_record_field(release: Path):
    manifest = prepare_phoenix2014(release)
    frames = release / "phoenix-2014-multisigner" / "features" / "fullFrame-210x260px"
    first, dev = manifest.records
    assert first.sample_id == "01April_2010_Thursday_heute_default-0"
    assert first.video_path == str(frames / "train" / "01April_2010_Thursday_heute_default-0" / "1" / "*.png")
    assert first.glosses == tuple(
        "__ON__ LIEB ZUSCHAUER ABEND WINTER GESTERN loc-NORD SCHOTTLAND loc-REGION UEBERSCHWEMMUNG AMERIKA IX".split()
    )
    assert (first.gloss, first.label, first.translation, first.signer_id, first.split, first.fps) == (
        None, -1, None, "Signer04", "train", 25.0,
    )  # fmt: skip
    assert (first.dataset, first.video_id, first.frame_start, first.frame_end) == (
        "phoenix2014", first.sample_id, 1, -1,
    )  # fmt: skip
    assert first.extra == {"folder": "01April_2010_Thursday_heute_default-0/1/*.png", "variant": "multisigner"}
    assert (dev.sample_id, dev.split, dev.glosses) == (
        "01April_2011_Friday_tagesschau_default-0",
        "dev",
        ("__ON__", "WETTER", "MORGEN", "__OFF__"),
    )
    [missing] = manifest.missing
    assert missing.sample_id == "01April_2010_Thursday_heute_default-1"
    assert missing.glosses == ("__ON__", "MORGEN", "WETTER", "WIE-AUSSEHEN", "__OFF__")


def test_bad_rows_are_rejected_and_the_rest_kept(release: Path):
    train = release / "phoenix-2014-multisigner" / "annotations" / "manual" / "train.corpus.csv"
    assert [(r.metadata, r.location, r.sample_id, r.reason) for r in prepare_phoenix2014(release).rejected] == [
        (str(train), "line 4", "13April_2011_Wednesday_tagesschau_default-14",
         "'folder' '/abs/1/*.png' is not a relative path inside the frame folder"),
        (str(train), "line 5", "no-glosses", "empty 'annotation' (no glosses)"),
        (str(train), "line 6", None, "empty 'id'"),
    ]  # fmt: skip


def test_the_glob_decodes_the_frames_in_order(release: Path):
    record = prepare_phoenix2014(release).records[0]
    sample = SampleFrames(record.video_path, DecodeOptions(), source_fps=record.fps)
    [(_, decoded)] = list(sample.attempts())
    assert [f.index for f in decoded] == list(range(12))
    assert sample.info.source_fps == 25.0 and (sample.info.width, sample.info.height) == SIZE


def test_the_signer_independent_variant(release: Path):
    manifest = build_manifest("phoenix2014", release, variant="SI5")
    [record] = manifest.records
    si5 = release / "phoenix-2014-signerindependent-SI5"
    assert (record.sample_id, record.split, record.signer_id, record.glosses) == (
        "si5-0",
        "test",
        "Signer05",
        ("REGEN",),
    )
    assert record.video_path == str(si5 / "features" / "fullFrame-210x260px" / "test" / "si5-0" / "1" / "*.png")
    assert record.extra["variant"] == "SI5"
    assert build_manifest("phoenix2014", si5, variant="SI5").records == [record]  # the variant folder as root
    with pytest.raises(ManifestError, match="unknown PHOENIX-2014 variant 'SI4'; known: multisigner, SI5"):
        prepare_phoenix2014(release, variant="SI4")


def test_splits_option_and_absent_files(release: Path, tmp_path: Path):
    assert [r.split for r in prepare_phoenix2014(release, splits="dev").records] == ["dev"]
    with pytest.raises(ManifestError, match=r"no PHOENIX-2014 corpus file .*test\.corpus\.csv"):
        prepare_phoenix2014(release, splits="train,test")
    with pytest.raises(ManifestError, match=r"no PHOENIX-2014 corpus files in .*\{train,dev,test\}\.corpus\.csv"):
        prepare_phoenix2014(tmp_path)
