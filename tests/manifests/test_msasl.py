"""MS-ASL manifests from the real MS-ASL test split (its videos are not in the corpus)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signprep.manifests import ManifestError, build_manifest
from signprep.manifests.msasl import prepare_msasl, youtube_id


@pytest.fixture(scope="module")
def msasl_dir(corpus: Path) -> Path:
    return corpus / "metadata" / "msasl"


@pytest.fixture(scope="module")
def test_clips(msasl_dir: Path) -> list[dict]:
    return json.loads((msasl_dir / "MSASL_test.json").read_text())


@pytest.fixture(scope="module")
def no_videos(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("no_videos")


def test_test_split_all_missing(msasl_dir: Path, no_videos: Path):
    manifest = prepare_msasl(msasl_dir, videos_dir=no_videos)
    assert manifest.records == []
    assert len(manifest.missing) == 4172
    assert {r.split for r in manifest.missing} == {"test"}
    assert [r.sample_id for r in manifest.missing[:2]] == ["msasl-test-00000", "msasl-test-00001"]


def test_first_clip_converted_by_hand(msasl_dir: Path, no_videos: Path):
    first = prepare_msasl(msasl_dir, videos_dir=no_videos).missing[0]
    # {"start": 0, "end": 59, "fps": 29.97, "width": 640.0, "height": 360.0,
    #  "box": [0.04678723216056824, 0.2904092073440552, 1.0, 0.8233144283294678],  # [y0, x0, y1, x1]
    #  "url": "www.youtube.com/watch?v=wX78EPtSuzU", "label": 805, "signer_id": 20, "clean_text": "beer"}
    assert (first.frame_start, first.frame_end) == (1, 60)
    # x1 = 0.2904 * 640 = 185.9, y1 = 0.0468 * 360 = 16.8, x2 = 0.8233 * 640 = 526.9, y2 = 1.0 * 360
    assert first.bbox == (186, 17, 527, 360)
    assert first.video_id == "wX78EPtSuzU"
    assert first.video_path == str(no_videos / "wX78EPtSuzU.mp4")
    assert (first.gloss, first.label, first.signer_id, first.fps) == ("beer", 805, 20, 29.97)
    assert first.dataset == "msasl"


def test_clips_of_a_present_video_become_records(tmp_path: Path, msasl_dir: Path, test_clips: list[dict]):
    video_id = youtube_id(test_clips[4]["url"])
    (tmp_path / f"{video_id}.mkv").touch()
    manifest = prepare_msasl(msasl_dir, videos_dir=tmp_path)
    expected = [n for n, clip in enumerate(test_clips) if youtube_id(clip["url"]) == video_id]
    assert [r.sample_id for r in manifest.records] == [f"msasl-test-{n:05d}" for n in expected]
    assert {r.video_path for r in manifest.records} == {str(tmp_path / f"{video_id}.mkv")}
    assert len(manifest.records) + len(manifest.missing) == 4172


def test_every_clip_keeps_its_frames_and_box_inside_the_frame(msasl_dir: Path, no_videos: Path, test_clips):
    manifest = prepare_msasl(msasl_dir, videos_dir=no_videos)
    for record, clip in zip(manifest.missing, test_clips):
        assert (record.frame_start, record.frame_end) == (clip["start"] + 1, clip["end"] + 1)
        x1, y1, x2, y2 = record.bbox
        assert 0 <= x1 <= x2 <= clip["width"] and 0 <= y1 <= y2 <= clip["height"]


def test_classes_give_the_canonical_gloss(msasl_dir: Path, no_videos: Path, test_clips: list[dict]):
    classes = json.loads((msasl_dir / "MSASL_classes.json").read_text())
    manifest = prepare_msasl(msasl_dir, videos_dir=no_videos, classes=msasl_dir / "MSASL_classes.json")
    assert all(r.gloss == classes[r.label] for r in manifest.missing)
    store = next(r for r, clip in zip(manifest.missing, test_clips) if clip["clean_text"] == "store")
    assert (store.gloss, store.label, store.extra["clean_text"]) == ("sell", 113, "store")


def test_split_files_by_name_or_mapping(tmp_path: Path, msasl_dir: Path, no_videos: Path):
    by_name = prepare_msasl(tmp_path, split_files=[msasl_dir / "MSASL_test.json"], videos_dir=no_videos)
    by_mapping = prepare_msasl(tmp_path, split_files={"val": msasl_dir / "MSASL_test.json"}, videos_dir=no_videos)
    assert len(by_name.missing) == len(by_mapping.missing) == 4172
    assert by_mapping.missing[0].sample_id == "msasl-val-00000"
    with pytest.raises(ManifestError, match="cannot tell the split"):
        prepare_msasl(tmp_path, split_files=[msasl_dir / "MSASL_classes.json"], videos_dir=no_videos)


def test_no_split_files_is_an_error(tmp_path: Path):
    with pytest.raises(ManifestError, match="no MS-ASL split files"):
        prepare_msasl(tmp_path)


def test_bad_clips_are_rejected_with_file_and_index_and_the_others_kept(
    tmp_path: Path, test_clips: list[dict], no_videos: Path
):
    clips = [
        dict(test_clips[0]),
        dict(test_clips[1], url="https://example.com/video.mp4"),
        {k: v for k, v in test_clips[2].items() if k != "start"},
        dict(test_clips[3], label="7"),
        dict(test_clips[4], start=30, end=10),
        "not a clip",
        dict(test_clips[5]),
    ]
    path = tmp_path / "MSASL_train.json"
    path.write_text(json.dumps(clips))
    manifest = prepare_msasl(tmp_path, videos_dir=no_videos)
    assert [r.sample_id for r in manifest.missing] == ["msasl-train-00000", "msasl-train-00006"]
    assert manifest.missing[1].gloss == test_clips[5]["clean_text"]
    assert [(r.metadata, r.location, r.sample_id) for r in manifest.rejected] == [
        (str(path), f"clip {n}", f"msasl-train-{n:05d}") for n in (1, 2, 3, 4, 5)
    ]
    assert [r.reason for r in manifest.rejected] == [
        "cannot find a YouTube video id in url 'https://example.com/video.mp4'",
        "missing 'start'",
        "'label' must be a whole number >= 0, got '7'",
        "sample msasl-train-00004: frame_end 11 is before frame_start 31",
        "not an object",
    ]


def test_split_file_that_is_not_a_list_is_an_error(tmp_path: Path, no_videos: Path):
    path = tmp_path / "MSASL_val.json"
    path.write_text(json.dumps({"url": "x"}))
    with pytest.raises(ManifestError, match="expected a JSON list of clips") as error:
        prepare_msasl(tmp_path, videos_dir=no_videos)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "url",
    [
        "www.youtube.com/watch?v=-kgTBeOw95A",
        "https://youtu.be/-kgTBeOw95A",
        "https://www.youtube.com/watch?t=3&v=-kgTBeOw95A",
    ],
)
def test_youtube_id(url: str):
    assert youtube_id(url) == "-kgTBeOw95A"


def test_build_manifest_dispatches_to_msasl(msasl_dir: Path, no_videos: Path):
    assert len(build_manifest("msasl", msasl_dir, videos_dir=no_videos).missing) == 4172
