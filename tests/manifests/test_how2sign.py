"""How2Sign: the download script's layout built in tmp_path with real corpus videos as the
"raw videos" (clip 90033, 627 frames at 30 fps, holds three sentences), realigned CSVs in
the release's tab-separated format."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from signprep.manifests import ManifestError, build_manifest, prepare_how2sign
from signprep.video.decode import DecodeOptions, SampleFrames

HEADER = "VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART_REALIGNED\tEND_REALIGNED\tSENTENCE"
V = "-d5dN54tH2E"
TRAIN = [
    HEADER,
    f"{V}\t{V}-1-rgb_front\t{V}_0\t{V}_0-1-rgb_front\t0.0\t2.5\tWe're going to work on a arm drill.",  # 2
    f"{V}\t{V}-1-rgb_front\t{V}_1\t{V}_1-1-rgb_front\t2.5\t7.3\tI call it painting the wall.",  # 3
    f'{V}\t{V}-1-rgb_front\t{V}_2\t{V}_2-1-rgb_front\t10.0\t20.9\tHe said "hi" to me, señor.',  # 4
    "g0aAbC12345\tg0aAbC12345-5-rgb_front\tg0aAbC12345_0\tg0aAbC12345_0-5-rgb_front\t1.0\t2.0\tNo video.",  # 5
    f"{V}\t{V}-1-rgb_front\t{V}_3\t{V}_3-1-rgb_front\t9.0\t8.5\tBackwards.",  # 6
    f"{V}\t{V}-1-rgb_front\t{V}_4\t{V}_4-1-rgb_front\t1,5\t2.0\tComma.",  # 7
    f"{V}\t{V}-1-rgb_front\t{V}_1\t{V}_1-1-rgb_front\t3.0\t4.0\tAgain.",  # 8: repeated SENTENCE_NAME
    f"{V}\t{V}-1-rgb_front\t{V}_5",  # 9
]
VAL = [HEADER, "fZ0ZzOHvyh4\tfZ0ZzOHvyh4-8-rgb_front\tfZ0ZzOHvyh4_0\tfZ0ZzOHvyh4_0-8-rgb_front\t0.5\t1.5\tFootball."]


@pytest.fixture(scope="module")
def download(tmp_path_factory, wlasl_root: Path) -> Path:
    root = tmp_path_factory.mktemp("how2sign") / "How2Sign"
    for split, lines in {"train": TRAIN, "val": VAL}.items():
        text = root / "sentence_level" / split / "text" / "en" / "raw_text" / "re_aligned"
        text.mkdir(parents=True)
        (text / f"how2sign_realigned_{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for split, name, clip in [("train", f"{V}-1-rgb_front", "90033"), ("val", "fZ0ZzOHvyh4-8-rgb_front", "90012")]:
        videos = root / "video_level" / split / "rgb_front" / "raw_videos"
        videos.mkdir(parents=True)
        shutil.copy(wlasl_root / "videos" / f"{clip}.mp4", videos / f"{name}.mp4")
    return root


def test_every_record_field(download: Path):
    manifest = prepare_how2sign(download)
    train_video = download / "video_level" / "train" / "rgb_front" / "raw_videos" / f"{V}-1-rgb_front.mp4"
    by_id = {r.sample_id: r for r in manifest.records}
    assert list(by_id) == [
        f"{V}_0-1-rgb_front",
        f"{V}_1-1-rgb_front",
        f"{V}_2-1-rgb_front",
        "fZ0ZzOHvyh4_0-8-rgb_front",
    ]
    second = by_id[f"{V}_1-1-rgb_front"]
    assert second.video_path == str(train_video)
    assert (second.time_start, second.time_end, second.frame_start, second.frame_end) == (2.5, 7.3, 1, -1)
    assert second.translation == "I call it painting the wall."
    assert (second.glosses, second.gloss, second.label, second.signer_id, second.split, second.fps) == (
        None, None, -1, None, "train", None,
    )  # fmt: skip
    assert (second.dataset, second.video_id) == ("how2sign", f"{V}-1-rgb_front")
    assert second.extra == {"youtube_id": V, "sentence_id": f"{V}_1"}
    assert by_id[f"{V}_2-1-rgb_front"].translation == 'He said "hi" to me, señor.'  # quotes inside a cell kept
    val = by_id["fZ0ZzOHvyh4_0-8-rgb_front"]
    assert (val.split, val.time_start, val.time_end) == ("val", 0.5, 1.5)  # How2Sign's own split name
    [missing] = manifest.missing
    assert missing.sample_id == "g0aAbC12345_0-5-rgb_front"
    assert missing.video_path == str(train_video.parent / "g0aAbC12345-5-rgb_front.mp4")


def test_bad_rows_are_rejected_with_line_and_reason(download: Path):
    train = (
        download
        / "sentence_level"
        / "train"
        / "text"
        / "en"
        / "raw_text"
        / "re_aligned"
        / "how2sign_realigned_train.csv"
    )
    assert [(r.metadata, r.location, r.sample_id, r.reason) for r in prepare_how2sign(download).rejected] == [
        (str(train), "line 6", f"{V}_3-1-rgb_front",
         f"sample {V}_3-1-rgb_front: time_end 8.5 s is not after time_start 9.0 s"),
        (str(train), "line 7", f"{V}_4-1-rgb_front", "START_REALIGNED '1,5' is not a number of seconds"),
        (str(train), "line 8", f"{V}_1-1-rgb_front",
         f"duplicate sample id '{V}_1-1-rgb_front': already used by line 3 (the first is kept)"),
        (str(train), "line 9", None, "3 cells, the header has 7"),
    ]  # fmt: skip


def test_a_sentence_decodes_as_its_time_range(download: Path):
    record = next(r for r in prepare_how2sign(download).records if r.sample_id == f"{V}_1-1-rgb_front")
    sample = SampleFrames(record.video_path, DecodeOptions(), time_start=record.time_start, time_end=record.time_end)
    _, frames = next(sample.attempts())
    indices = [f.index for f in frames]
    # 90033 runs at 30 fps: 2.5 s <= i / 30 < 7.3 s is i = 75 .. 218
    assert indices == list(range(75, 219))


def test_sentence_clips_instead_of_raw_videos(download: Path, tmp_path: Path, wlasl_root: Path):
    clips = tmp_path / "clips" / "train"
    clips.mkdir(parents=True)
    shutil.copy(wlasl_root / "videos" / "90029.mp4", clips / f"{V}_0-1-rgb_front.mp4")
    manifest = build_manifest("how2sign", download, splits="train", clips_dir=tmp_path / "clips" / "{split}")
    [clip] = manifest.records
    assert (clip.sample_id, clip.video_path) == (f"{V}_0-1-rgb_front", str(clips / f"{V}_0-1-rgb_front.mp4"))
    assert (clip.time_start, clip.time_end, clip.frame_start, clip.frame_end) == (None, None, 1, -1)
    assert clip.extra == {"youtube_id": V, "sentence_id": f"{V}_0", "start": "0.0", "end": "2.5"}
    # the other clips are not there; their realigned times are not used, so not checked either
    assert [r.sample_id for r in manifest.missing] == [f"{V}_{n}-1-rgb_front" for n in (1, 2)] + [
        "g0aAbC12345_0-5-rgb_front"
    ] + [f"{V}_{n}-1-rgb_front" for n in (3, 4)]


def test_options_and_unparseable_files(download: Path, tmp_path: Path):
    flat = tmp_path / "flat"
    (flat / "raw_videos").mkdir(parents=True)
    csv = flat / "how2sign_realigned_val.csv"
    csv.write_text("\n".join(VAL) + "\n")
    manifest = prepare_how2sign(flat)  # a CSV in root and root/raw_videos: found without options
    assert [r.split for r in manifest.missing] == ["val"]
    videos = download / "video_level" / "{split}" / "rgb_front" / "raw_videos"
    assert [r.sample_id for r in prepare_how2sign(flat, videos_dir=videos).records] == ["fZ0ZzOHvyh4_0-8-rgb_front"]
    with pytest.raises(ManifestError, match="no How2Sign CSV for split 'test'"):
        prepare_how2sign(download, splits="train,test")
    with pytest.raises(ManifestError, match="no How2Sign realigned CSV found"):
        prepare_how2sign(tmp_path)
    csv.write_text("VIDEO_NAME\tSENTENCE\nx\ty\n")
    with pytest.raises(ManifestError, match="no column 'VIDEO_ID', 'SENTENCE_ID', 'SENTENCE_NAME'") as error:
        prepare_how2sign(flat)
    assert str(csv) in str(error.value)
    csv.write_text("\n".join(VAL) + "\n")
    (flat / "raw_videos").rmdir()
    with pytest.raises(ManifestError, match="no How2Sign video folder for split 'val'"):
        prepare_how2sign(flat)
