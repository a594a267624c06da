"""Shard directories from a real extraction: reader, attributes, index checksums, verify and repair."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from signprep.extraction.pipeline import load_pipeline
from signprep.extraction.runner import run_extract
from signprep.manifests import Manifest
from signprep.shards import SCHEMA_VERSION, SchemaError, ShardReader
from signprep.shards.index import ShardIndex
from signprep.shards.schema import INDEX_NAME, SAMPLES_GROUP, check_file
from signprep.shards.verify import verify_dir
from signprep.shards.writer import PARTS_DIR


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".signprep.extraction.lock", "logs"))
    return dst


def _groups_per_shard(out: Path) -> dict[str, list[str]]:
    result = {}
    for shard in sorted(out.glob("shard-*.h5")):
        with h5py.File(shard, "r") as f:
            result[shard.name] = sorted(f[SAMPLES_GROUP])
    return result


@pytest.fixture(scope="module")
def ref(reference_run):
    out, summary, pipeline_file = reference_run
    return out, load_pipeline(pipeline_file)


# ----------------------------------------------------------------- reader
def test_reader_lists_exactly_the_extracted_samples(ref, small_ids):
    out, _ = ref
    with ShardReader(out) as reader:
        assert sorted(reader) == sorted(small_ids)
        assert len(reader) == len(small_ids)
        assert "90012" in reader and "99999" not in reader
        with pytest.raises(KeyError, match="99999"):
            reader["99999"]
    # one shard per sample (tiny max_shard_mb), each sample stored once
    groups = _groups_per_shard(out)
    assert len(groups) == len(small_ids)
    assert sorted(sum(groups.values(), [])) == sorted(small_ids)
    assert not (out / PARTS_DIR).exists() or not list((out / PARTS_DIR).iterdir())
    assert not list(out.rglob("*.tmp"))


def test_reading_a_frame_slice_equals_slicing_the_full_read(ref):
    out, _ = ref
    with ShardReader(out) as reader:
        sample = reader["90012"]
        part = sample.read("keypoints", frames=slice(2, 5))
        assert part.shape == (3, 543, 3)
        np.testing.assert_array_equal(part, sample.read("keypoints")[2:5])
        np.testing.assert_array_equal(sample["keypoint_present"][2:5], sample.read("keypoint_present")[2:5])
        picked = sample.read("frame_indices", frames=np.array([0, 10, 61]))
        assert picked.tolist() == [0, 10, 61]
        assert sample.num_frames == 62
        assert sample.datasets == ["frame_indices", "keypoint_confidence", "keypoint_present", "keypoints"]
        with pytest.raises(KeyError, match="no dataset 'rgb'"):
            sample["rgb"]


def test_sample_attributes_carry_the_manifest_and_the_source(ref, records, wlasl_root: Path, small_ids):
    out, pipeline = ref
    csv_sha = {}
    import csv

    with open(wlasl_root / "clips.csv", newline="") as f:
        for row in csv.DictReader(f):
            csv_sha[row["video_id"]] = row["sha256"]
    with ShardReader(out) as reader:
        for sid in small_ids:
            record, attrs = records[sid], reader[sid].attrs
            assert attrs["sample_id"] == sid and attrs["video_id"] == sid and attrs["dataset"] == "wlasl"
            assert attrs["gloss"] == record.gloss and attrs["label"] == record.label
            assert attrs["signer_id"] == str(record.signer_id) and attrs["split"] == record.split
            assert attrs["frame_start"] == 1 and attrs["frame_end"] == -1
            assert attrs["first_frame"] == 1 and attrs["last_frame"] == attrs["num_frames"]
            assert attrs["fps"] == pytest.approx(attrs["source_fps"]) and attrs["fps"] > 20
            assert attrs["source_path"] == record.video_path
            assert attrs["source_sha256"] == _sha256(Path(record.video_path)) == csv_sha[sid]
            assert attrs["pipeline_hash"] == pipeline.content_hash()
            assert attrs["bbox"] == list(record.bbox)  # numeric lists are HDF5 arrays
            # the index mirrors the attributes a training loader filters on
            entry = reader.index.samples[sid]
            assert entry["num_frames"] == attrs["num_frames"] == reader[sid].read("frame_indices").shape[0]
            assert (entry["gloss"], entry["label"], entry["split"], entry["signer_id"]) == (
                attrs["gloss"],
                attrs["label"],
                attrs["split"],
                attrs["signer_id"],
            )
            assert entry["content_sha256"] == attrs["content_sha256"]
        assert reader["90012"].attrs["num_frames"] == 62
        assert reader["90029"].attrs["num_frames"] == 41
        assert reader.ids(gloss="football") == ["90012"]
        assert reader.ids(split="train") == sorted(small_ids)


def test_shard_file_attributes_and_index_checksums(ref):
    out, pipeline = ref
    index = json.loads((out / INDEX_NAME).read_text())
    assert index["format"] == "signprep-shard-index" and index["schema_version"] == SCHEMA_VERSION
    assert index["pipeline_hash"] == pipeline.content_hash()
    assert index["pipeline"] == json.loads(pipeline.to_json())
    assert sorted(index["shards"]) == sorted(p.name for p in out.glob("shard-*.h5"))
    for name, entry in index["shards"].items():
        path = out / name
        assert entry["sha256"] == _sha256(path), name
        assert entry["bytes"] == path.stat().st_size
        with h5py.File(path, "r") as f:
            assert f.attrs["format"] == "signprep-shard"
            assert f.attrs["schema_version"] == SCHEMA_VERSION
            assert f.attrs["pipeline_hash"] == pipeline.content_hash()
            assert json.loads(f.attrs["pipeline"]) == json.loads(pipeline.to_json())
            assert sorted(f[SAMPLES_GROUP]) == entry["samples"]
            for sid in entry["samples"]:
                assert index["samples"][sid]["shard"] == name
                ds = f[SAMPLES_GROUP][sid]["keypoints"]
                assert ds.compression == "gzip" and ds.chunks[1:] == (543, 3)


def test_storage_knobs_do_not_change_the_pipeline_hash(ref, keypoints_pipeline):
    _, pipeline = ref
    assert pipeline.storage.max_shard_mb == 0.05 != keypoints_pipeline.storage.max_shard_mb
    assert pipeline.content_hash() == keypoints_pipeline.content_hash()


def test_verify_ok_on_a_fresh_extraction(ref, small_ids):
    out, _ = ref
    report = verify_dir(out)
    assert report.ok, report.problems
    assert report.shards_checked == len(small_ids) and report.samples_checked == len(small_ids)


def _read_shape_in_child(reader: ShardReader, sample_id: str, queue) -> None:
    try:
        data = reader[sample_id].read("keypoints", frames=slice(0, 7))
        queue.put((data.shape, float(data.sum())))
    except BaseException as e:  # report to the parent instead of dying silently
        queue.put(repr(e))


def test_reader_works_in_a_forked_child(ref):
    out, _ = ref
    reader = ShardReader(out)
    expected = reader["90012"].read("keypoints", frames=slice(0, 7))  # parent handles are open now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_shape_in_child, args=(reader, "90012", queue))
    child.start()
    answer = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert answer == ((7, 543, 3), float(expected.sum()))
    # the parent's handles still work after the child used its own
    np.testing.assert_array_equal(reader["90012"].read("keypoints", frames=slice(0, 7)), expected)
    reader.close()


# ----------------------------------------------------------------- corruption, repair, refill
def test_flipped_bytes_are_found_repaired_and_refilled(ref, tmp_path: Path, small_manifest, read_samples):
    src, pipeline = ref
    out = _copy(src, tmp_path / "out")
    index = ShardIndex.load(out)
    victim = index.shards["shard-00001.h5"]
    victim_samples = list(victim["samples"])
    path = out / "shard-00001.h5"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))

    report = verify_dir(out)
    assert not report.ok and report.bad_shards == {"shard-00001.h5"}
    assert len(report.problems) == 1 and "shard-00001.h5" in report.problems[0]

    report = verify_dir(out, repair=True)
    assert sorted(report.repaired_samples) == sorted(victim_samples)
    assert (out / "quarantine" / "shard-00001.h5").is_file() and not path.exists()
    index = ShardIndex.load(out)
    assert "shard-00001.h5" not in index.shards
    assert not set(victim_samples) & set(index.samples)
    assert verify_dir(out).ok  # what is left is consistent
    with ShardReader(out) as reader:
        assert sorted(reader) == sorted(set(s.sample_id for s in small_manifest.records) - set(victim_samples))

    summary = run_extract(small_manifest, pipeline, out, workers=1, progress=False)
    assert summary.exit_code == 0
    assert summary.done_now == len(victim_samples)
    assert summary.skipped == len(small_manifest.records) - len(victim_samples)
    report = verify_dir(out)
    assert report.ok, report.problems
    assert report.samples_checked == len(small_manifest.records)
    refilled, reference = read_samples(out), read_samples(src)
    assert sorted(refilled) == sorted(reference)
    for sid in victim_samples:
        np.testing.assert_allclose(refilled[sid]["keypoints"], reference[sid]["keypoints"], atol=1e-3)
        np.testing.assert_array_equal(refilled[sid]["frame_indices"], reference[sid]["frame_indices"])


def test_changed_sample_data_is_caught_by_its_content_checksum(ref, tmp_path: Path):
    src, _ = ref
    out = _copy(src, tmp_path / "out")
    index = ShardIndex.load(out)
    shard = index.samples["90031"]["shard"]
    with h5py.File(out / shard, "r+") as f:
        ds = f[SAMPLES_GROUP]["90031"]["keypoints"]
        ds[10, 0, 0] = ds[10, 0, 0] + 5.0  # a plausible value: only the checksum can tell
    # hide the change from the file checksum: only the per-sample content hash is left to catch it
    index.shards[shard]["sha256"] = _sha256(out / shard)
    index.save(out)
    assert verify_dir(out, checksums=False).ok  # schema-only checks cannot see it
    report = verify_dir(out)
    assert not report.ok and report.bad_shards == {shard}
    assert "90031" in report.problems[0] and "content_sha256" in report.problems[0]


def test_missing_shard_is_reported(ref, tmp_path: Path):
    src, _ = ref
    out = _copy(src, tmp_path / "out")
    (out / "shard-00002.h5").unlink()
    report = verify_dir(out)
    assert report.bad_shards == {"shard-00002.h5"} and "missing" in report.problems[0]
    report = verify_dir(out, repair=True)
    assert len(report.repaired_samples) == 1
    assert verify_dir(out).ok


def test_recover_packs_parts_left_by_a_kill_after_the_shard_rename(ref, tmp_path: Path, small_manifest, read_samples):
    """Simulate a kill between 'shard renamed' and 'index written': the shard is on disk but
    unindexed and its samples are still parts. The next run must drop the orphan shard and pack
    the parts, without extracting anything."""
    src, pipeline = ref
    out = _copy(src, tmp_path / "out")
    index = ShardIndex.load(out)
    orphan = "shard-00002.h5"
    moved = index.remove_shard(orphan)
    index.save(out)
    (out / PARTS_DIR).mkdir(exist_ok=True)
    with h5py.File(out / orphan, "r") as shard:
        for sid in moved:
            with h5py.File(out / PARTS_DIR / f"{sid}.h5", "w") as part:
                for k, v in shard.attrs.items():
                    part.attrs[k] = v
                shard.copy(shard[SAMPLES_GROUP][sid], part.create_group(SAMPLES_GROUP), name=sid)
    (out / "shard-00099.h5.tmp").write_bytes(b"half a shard")
    (out / PARTS_DIR / "90012.h5").write_bytes(b"a part of an already indexed sample")
    summary = run_extract(small_manifest, pipeline, out, workers=1, progress=False)
    assert summary.done_now == 0 and summary.skipped == len(small_manifest.records)
    assert not list(out.rglob("*.tmp")) and not list((out / PARTS_DIR).glob("*.h5"))
    assert verify_dir(out).ok
    groups = _groups_per_shard(out)
    assert sorted(sum(groups.values(), [])) == sorted(small_manifest_ids(small_manifest))
    refilled, reference = read_samples(out), read_samples(src)
    for sid in moved:
        for name, array in reference[sid].items():
            np.testing.assert_array_equal(refilled[sid][name], array)


def small_manifest_ids(manifest: Manifest) -> list[str]:
    return [r.sample_id for r in manifest.records]


# ----------------------------------------------------------------- schema
def test_a_plain_hdf5_file_is_not_a_shard(tmp_path: Path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with h5py.File(path, "r") as f, pytest.raises(SchemaError, match="plain.h5.*not a signprep shard"):
        check_file(f, str(path))


def test_a_newer_schema_version_is_refused(ref, tmp_path: Path):
    src, _ = ref
    out = _copy(src, tmp_path / "out")
    shard = out / "shard-00000.h5"
    with h5py.File(shard, "r+") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with h5py.File(shard, "r") as f, pytest.raises(SchemaError, match="newer"):
        check_file(f, shard.name)
    index = json.loads((out / INDEX_NAME).read_text())
    index["schema_version"] = SCHEMA_VERSION + 1
    (out / INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(SchemaError, match="newer"):
        ShardReader(out)


def test_reader_of_a_directory_without_index_names_it(tmp_path: Path):
    with pytest.raises(SchemaError, match=str(tmp_path)):
        ShardReader(tmp_path)
    (tmp_path / INDEX_NAME).write_text("{not json")
    with pytest.raises(SchemaError, match="unreadable shard index"):
        ShardReader(tmp_path)
    with pytest.raises(SchemaError):
        verify_dir(tmp_path)
