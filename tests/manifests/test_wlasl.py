"""WLASL manifests from the real sample download and the real full v0.3 metadata."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import time
from pathlib import Path

import pytest

from signprep.manifests import ManifestError, build_manifest, read_manifest, write_manifest
from signprep.manifests.wlasl import prepare_wlasl, read_class_list


@pytest.fixture(scope="module")
def sample(corpus: Path) -> Path:
    return corpus / "wlasl-sample"


@pytest.fixture(scope="module")
def sample_entries(sample: Path) -> list[dict]:
    return json.loads((sample / "WLASL_v0.3.json").read_text())


@pytest.fixture(scope="module")
def full_dir(corpus: Path) -> Path:
    return corpus / "metadata" / "wlasl"


@pytest.fixture(scope="module")
def full_entries(full_dir: Path) -> list[dict]:
    with gzip.open(full_dir / "WLASL_v0.3.json.gz") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def no_videos(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("no_videos")


@pytest.fixture(scope="module")
def full_build(full_dir: Path, no_videos: Path):
    start = time.perf_counter()
    manifest = prepare_wlasl(full_dir, videos_dir=no_videos)
    return manifest, time.perf_counter() - start


# --- the sample download ---------------------------------------------------------


def test_sample_has_37_records_and_the_dead_entry_missing(sample: Path):
    manifest = prepare_wlasl(sample)
    assert len(manifest.records) == 37
    assert [(r.video_id, r.gloss) for r in manifest.missing] == [("99999", "book")]
    assert manifest.missing[0].video_path == str(sample.resolve() / "videos" / "99999.mp4")
    for record in manifest.records:
        assert Path(record.video_path).is_absolute() and Path(record.video_path).is_file()
        assert record.sample_id == record.video_id == Path(record.video_path).stem
        assert record.dataset == "wlasl"


def test_sample_labels_follow_json_order_and_fields_carry_over(sample: Path, sample_entries: list[dict]):
    by_id = {r.video_id: r for r in prepare_wlasl(sample).records + prepare_wlasl(sample).missing}
    assert len(by_id) == 38
    for position, entry in enumerate(sample_entries):
        for instance in entry["instances"]:
            record = by_id[instance["video_id"]]
            assert record.label == position
            assert record.gloss == entry["gloss"]
            assert record.split == instance["split"]
            assert record.signer_id == instance["signer_id"]
            assert (record.frame_start, record.frame_end) == (instance["frame_start"], instance["frame_end"])
            assert record.extra["instance_id"] == instance["instance_id"]
    assert sorted({r.label for r in by_id.values()}) == list(range(25))


def test_sample_football(sample: Path):
    football = {r.video_id: r for r in prepare_wlasl(sample).records}["90012"]
    assert football.gloss == "football"
    assert football.fps == 30.0
    assert football.bbox == (0, 0, 640, 360)
    assert (football.frame_start, football.frame_end) == (1, -1)
    assert football.split == "train" and football.signer_id == 908


def test_videos_not_in_the_json_are_left_out(sample: Path):
    manifest = prepare_wlasl(sample)
    ids = {r.video_id for r in manifest.records + manifest.missing}
    assert (sample / "videos" / "90001.mp4").is_file()
    assert ids.isdisjoint({"90001", "90010", "90011"})


def test_other_container_is_found_when_mp4_is_absent(tmp_path: Path, sample: Path):
    (tmp_path / "99999.webm").touch()
    (tmp_path / "90012.mkv").touch()
    (tmp_path / "90012.mp4").touch()
    manifest = prepare_wlasl(sample, videos_dir=tmp_path)
    paths = {r.video_id: r.video_path for r in manifest.records}
    assert paths == {"99999": str(tmp_path / "99999.webm"), "90012": str(tmp_path / "90012.mp4")}
    assert len(manifest.missing) == 36


def test_class_list_labels_on_the_sample(sample: Path, full_dir: Path):
    class_list = full_dir / "wlasl_class_list.txt"
    index_of = read_class_list(class_list)
    manifest = prepare_wlasl(sample, class_list=class_list)
    for record in manifest.records + manifest.missing:
        assert record.label == index_of[record.gloss]
    assert {r.video_id: r.label for r in manifest.missing} == {"99999": 0}  # "book" is class 0


def test_build_manifest_dispatches_to_wlasl(sample: Path):
    assert build_manifest("wlasl", sample).records == prepare_wlasl(sample).records


# --- the full v0.3 metadata, videos absent -----------------------------------------


def test_full_metadata_builds_fast(full_build):
    _, seconds = full_build
    assert seconds < 3.0, f"21,083 instances took {seconds:.2f} s"


def test_full_metadata_all_instances_missing(full_build, no_videos: Path):
    manifest, _ = full_build
    assert manifest.records == []
    assert len(manifest.missing) == 21_083
    assert len({r.sample_id for r in manifest.missing}) == 21_083
    assert manifest.missing[0].video_path == str(no_videos / f"{manifest.missing[0].video_id}.mp4")


def test_full_metadata_labels_match_the_class_list(full_build, full_dir: Path):
    manifest, _ = full_build
    index_of = read_class_list(full_dir / "wlasl_class_list.txt")
    assert len({r.label for r in manifest.missing}) == 2000
    disagreeing = {(r.gloss, r.label) for r in manifest.missing if index_of.get(r.gloss) != r.label}
    # The one known quirk of the real files: class 163 is "losear" in the list, "lose" in the JSON.
    assert disagreeing == {("lose", 163)}
    assert index_of["losear"] == 163


def test_full_metadata_with_class_list_rejects_only_the_unlisted_gloss(
    full_dir: Path, full_entries: list[dict], no_videos: Path
):
    class_list = full_dir / "wlasl_class_list.txt"
    manifest = prepare_wlasl(full_dir, videos_dir=no_videos, class_list=class_list)
    lose = next(e for e in full_entries if e["gloss"] == "lose")["instances"]
    assert len(lose) > 0
    assert len(manifest.rejected) == len(lose)
    assert {r.sample_id for r in manifest.rejected} == {i["video_id"] for i in lose}
    assert all(r.reason == f"gloss 'lose' is not in the class list {class_list}" for r in manifest.rejected)
    assert manifest.rejected[0].metadata == str(full_dir / "WLASL_v0.3.json.gz")
    assert manifest.rejected[0].location.startswith("gloss 'lose' (entry ")
    assert len(manifest.missing) == 21_083 - len(lose)  # every other instance is kept


@pytest.mark.parametrize("subset", [100, "300"])
def test_nslt_subset(subset, full_dir: Path, full_entries: list[dict], no_videos: Path):
    nslt = json.loads((full_dir / f"nslt_{subset}.json").read_text())
    in_json = {i["video_id"] for e in full_entries for i in e["instances"]}
    manifest = prepare_wlasl(full_dir, videos_dir=no_videos, subset=subset)
    assert len(manifest.missing) == len(nslt.keys() & in_json)
    assert len(manifest.missing) == {100: 2038, "300": 5117}[subset]  # nslt_300 lists one id not in the JSON
    for record in manifest.missing:
        assert record.label < int(subset)
        assert record.label == nslt[record.video_id]["action"][0]
        assert record.split == nslt[record.video_id]["subset"]
        assert record.extra["subset"] == f"nslt_{subset}"


def test_subset_by_path_on_the_sample(tmp_path: Path, sample: Path):
    nslt = tmp_path / "mine.json"
    nslt.write_text(
        json.dumps(
            {
                "90012": {"subset": "val", "action": [7, 1, 62]},
                "00000": {"subset": "test", "action": [1, 1, 9]},
            }
        )
    )
    manifest = prepare_wlasl(sample, subset=nslt)
    assert [(r.video_id, r.split, r.label, r.extra["subset"]) for r in manifest.records] == [
        ("90012", "val", 7, "mine")
    ]
    assert manifest.missing == []


def test_unknown_subset_size_names_where_it_looked(sample: Path):
    with pytest.raises(ManifestError, match="nslt_100.json"):
        prepare_wlasl(sample, subset=100)


# --- compression and round trips ---------------------------------------------------


def test_gzip_and_plain_metadata_give_identical_records(tmp_path: Path, full_dir: Path, full_build, no_videos: Path):
    plain = tmp_path / "WLASL_v0.3.json"
    plain.write_bytes(gzip.decompress((full_dir / "WLASL_v0.3.json.gz").read_bytes()))
    assert prepare_wlasl(tmp_path, videos_dir=no_videos).missing == full_build[0].missing


def test_gzip_is_detected_by_content_not_name(tmp_path: Path, sample: Path):
    disguised = tmp_path / "metadata.json"
    disguised.write_bytes(gzip.compress((sample / "WLASL_v0.3.json").read_bytes()))
    assert prepare_wlasl(sample, metadata=disguised).records == prepare_wlasl(sample).records


def test_manifest_round_trip(tmp_path: Path, sample: Path):
    manifest = prepare_wlasl(sample)
    path = tmp_path / "out" / "manifest.jsonl"
    write_manifest(manifest.records + manifest.missing, path)
    assert read_manifest(path) == manifest.records + manifest.missing


def test_relative_video_paths_resolve_against_the_manifest(tmp_path: Path, sample: Path):
    records = prepare_wlasl(sample).records
    path = tmp_path / "manifest.jsonl"
    relative = [dataclasses.replace(r, video_path=os.path.relpath(r.video_path, tmp_path)) for r in records]
    write_manifest(relative, path)
    read = read_manifest(path)
    assert [Path(r.video_path).resolve() for r in read] == [Path(r.video_path).resolve() for r in records]
    assert all(Path(r.video_path).is_file() for r in read)


# --- malformed metadata: a bad entry costs only itself ------------------------------


def _write(tmp_path: Path, entries) -> Path:
    path = tmp_path / "WLASL_v0.3.json"
    path.write_text(json.dumps(entries))
    return path


def _ids(manifest) -> set[str]:
    return {r.sample_id for r in manifest.records + manifest.missing}


def test_truncated_json_names_the_file(tmp_path: Path, sample: Path):
    text = (sample / "WLASL_v0.3.json").read_text()
    path = tmp_path / "WLASL_v0.3.json"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ManifestError, match="not valid JSON") as error:
        prepare_wlasl(sample, metadata=path)
    assert str(path) in str(error.value)


def test_truncated_gzip_names_the_file(tmp_path: Path, full_dir: Path, no_videos: Path):
    path = tmp_path / "WLASL_v0.3.json.gz"
    data = (full_dir / "WLASL_v0.3.json.gz").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ManifestError, match="gzip") as error:
        prepare_wlasl(tmp_path, videos_dir=no_videos)
    assert str(path) in str(error.value)


def test_top_level_not_a_list_is_an_error(tmp_path: Path, sample: Path):
    path = _write(tmp_path, {"gloss": "book"})
    with pytest.raises(ManifestError, match="expected a JSON list") as error:
        prepare_wlasl(sample, metadata=path)
    assert str(error.value).count(str(path)) == 1


# (what is done to entry 5 = football, instance 0 = 90012; the rejection's location and reason)
BAD_INSTANCES = {
    "no video_id": (
        lambda i: i.pop("video_id"),
        "gloss 'football' (entry 5), instance 0",
        "missing or non-string 'video_id' (None)",
    ),
    "frame_end before frame_start": (
        lambda i: i.update(frame_start=50, frame_end=10),
        "gloss 'football' (entry 5), instance 0",
        "sample 90012: frame_end 10 is before frame_start 50",
    ),
    "traversal id": (
        lambda i: i.update(video_id="../evil"),
        "gloss 'football' (entry 5), instance 0",
        "sample id '../evil' holds the path separator '/'",
    ),
    "bbox of two numbers": (
        lambda i: i.update(bbox=[0, 0]),
        "gloss 'football' (entry 5), instance 0",
        "'bbox' must be [x1, y1, x2, y2] in pixels, got [0, 0]",
    ),
    "frame_start a string": (
        lambda i: i.update(frame_start="1"),
        "gloss 'football' (entry 5), instance 0",
        "'frame_start' must be an integer frame number, got '1'",
    ),
    "signer a list": (
        lambda i: i.update(signer_id=[908]),
        "gloss 'football' (entry 5), instance 0",
        "'signer_id' has the wrong type ([908])",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INSTANCES))
def test_a_bad_instance_is_rejected_and_the_others_kept(case, tmp_path: Path, sample: Path, sample_entries: list[dict]):
    change, location, reason = BAD_INSTANCES[case]
    entries = json.loads(json.dumps(sample_entries))
    assert entries[5]["gloss"] == "football" and entries[5]["instances"][0]["video_id"] == "90012"
    change(entries[5]["instances"][0])
    path = _write(tmp_path, entries)
    manifest = prepare_wlasl(sample, metadata=path)
    assert [(r.metadata, r.location, r.reason) for r in manifest.rejected] == [(str(path), location, reason)]
    assert _ids(manifest) == _ids(prepare_wlasl(sample)) - {"90012"}  # the 37 others, the dead entry included
    assert len(manifest.records) == 36


def test_duplicate_video_id_keeps_the_first_and_names_it(tmp_path: Path, sample: Path, sample_entries: list[dict]):
    entries = json.loads(json.dumps(sample_entries))
    entries[1]["instances"].append(dict(entries[5]["instances"][0]))  # 90012 under entry 1 as well
    path = _write(tmp_path, entries)
    manifest = prepare_wlasl(sample, metadata=path)
    glosses = {r.sample_id: r.gloss for r in manifest.records}
    assert glosses["90012"] == entries[1]["gloss"]  # the first in file order is kept
    [rejected] = manifest.rejected
    first = f"gloss {entries[1]['gloss']!r} (entry 1), instance {len(entries[1]['instances']) - 1}"
    assert rejected.location == "gloss 'football' (entry 5), instance 0" and rejected.sample_id == "90012"
    assert rejected.reason == f"duplicate sample id '90012': already used by {first} (the first is kept)"
    assert len(manifest.records) + len(manifest.missing) == 38


def test_bad_gloss_entries_are_rejected_whole(tmp_path: Path, sample: Path):
    entries = [
        {"gloss": "book", "instances": [{"video_id": "1"}]},
        "not an entry",
        {"instances": [{"video_id": "2"}]},
        {"gloss": "cup"},
        {"gloss": "book", "instances": [{"video_id": "3"}, {"video_id": "4"}]},
        {"gloss": "año", "instances": [{"video_id": "5"}]},
    ]
    manifest = prepare_wlasl(sample, metadata=_write(tmp_path, entries))
    assert [(r.sample_id, r.gloss, r.label) for r in manifest.missing] == [("1", "book", 0), ("5", "año", 5)]
    assert [(r.location, r.reason) for r in manifest.rejected] == [
        ("entry 1", "entry 1 is not an object"),
        ("entry 2", "entry 2 has no 'gloss' string"),
        ("entry 3", "gloss 'cup' (entry 3) has no 'instances' list"),
        (
            "gloss 'book' (entry 4)",
            "gloss 'book' has two entries (0 and 4); the first is kept, these 2 instances are not",
        ),
    ]


def test_bad_nslt_entries_are_rejected_with_the_subset_file(tmp_path: Path, sample: Path):
    nslt = tmp_path / "mine.json"
    nslt.write_text(json.dumps({"90012": {"subset": "val", "action": [7, 1, 62]}, "90029": {"subset": "val"}}))
    manifest = prepare_wlasl(sample, subset=nslt)
    assert [r.sample_id for r in manifest.records] == ["90012"]
    assert [r.describe() for r in manifest.rejected] == [
        f"{nslt}: video_id '90029' (id '90029'): lacks 'subset' or 'action': [class, ...]"
    ]


def test_missing_metadata_and_videos_folder(tmp_path: Path, sample: Path):
    with pytest.raises(ManifestError, match="WLASL_v0.3.json"):
        prepare_wlasl(tmp_path)
    with pytest.raises(ManifestError, match="nowhere"):
        prepare_wlasl(sample, videos_dir=tmp_path / "nowhere")


def test_gloss_absent_from_class_list_rejects_its_instances(tmp_path: Path, sample: Path):
    class_list = tmp_path / "classes.txt"
    class_list.write_text("0\tbook\n1\tdrink\n")
    manifest = prepare_wlasl(sample, class_list=class_list)
    kept = manifest.records + manifest.missing
    assert {r.gloss for r in kept} == {"book", "drink"}
    assert {(r.gloss, r.label) for r in kept} == {("book", 0), ("drink", 1)}
    assert len(kept) + len(manifest.rejected) == 38
    assert all(r.reason.endswith(f"is not in the class list {class_list}") for r in manifest.rejected)
    assert any("'apple'" in r.reason for r in manifest.rejected)
