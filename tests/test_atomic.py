"""Durable writes: each entry point of signprep.atomic, and every writer of the package that uses it,
leaves neither a temp file nor a half file when the write fails, and the previous file intact.

Writes fail for real: RLIMIT_FSIZE makes the kernel refuse any write past the limit with EFBIG
(CPython ignores SIGXFSZ), as a full disk refuses it with ENOSPC.
"""

from __future__ import annotations

import errno
import json
import resource
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest

from signprep.atomic import (
    WriteError,
    atomic_hdf5,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    remove_stale_temps,
)

BIG = 256 * 1024  # bytes each failing write attempts; the limit lets 4 KiB through
LIMIT = 4096


@contextmanager
def file_size_limit(limit: int = LIMIT):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def assert_failed_cleanly(folder: Path, target: Path, before: bytes | None, error: BaseException) -> None:
    assert leftovers(folder) == [], "a failed write left its temp file"
    if before is None:
        assert not target.exists(), "a failed write left a half file"
    else:
        assert target.read_bytes() == before, "a failed write changed the previous file"
    assert isinstance(error, WriteError) and error.errno == errno.EFBIG, error
    assert str(target) in str(error) and "File too large" in str(error), str(error)


# ----------------------------------------------------------------- the module's entry points
def test_text_and_bytes_writes_are_complete_and_leave_nothing_else(tmp_path: Path):
    path = atomic_write_text(tmp_path / "a" / "note.txt", "año 手语\n")  # the folder is made
    assert path.read_text(encoding="utf-8") == "año 手语\n"
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01" and leftovers(tmp_path) == []


@pytest.mark.parametrize("write", [atomic_write_text, atomic_write_bytes], ids=["text", "bytes"])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "over-an-old-file"])
def test_a_failed_text_or_bytes_write_leaves_nothing(tmp_path: Path, write, existing: bool):
    target = tmp_path / "out.json"
    before = None
    if existing:
        target.write_bytes(b'{"old": 1}')
        before = target.read_bytes()
    payload = "x" * BIG if write is atomic_write_text else b"x" * BIG
    with file_size_limit(), pytest.raises(WriteError) as failed:
        write(target, payload)
    assert_failed_cleanly(tmp_path, target, before, failed.value)


def test_a_failed_library_write_through_atomic_path_leaves_nothing(tmp_path: Path):
    target = tmp_path / "log.jsonl"
    target.write_text('{"old": 1}\n')
    before = target.read_bytes()
    with file_size_limit(), pytest.raises(WriteError) as failed:
        with atomic_path(target) as tmp, tmp.open("w") as f:
            for i in range(BIG // 16):
                f.write(json.dumps({"row": i}) + "\n")
    assert_failed_cleanly(tmp_path, target, before, failed.value)


def test_a_failed_hdf5_write_is_an_error_not_a_crash_and_leaves_nothing(tmp_path: Path):
    """HDF5 segfaults closing a file whose write to disk failed; built in memory, it cannot."""
    target = tmp_path / "data.h5"
    with h5py.File(target, "w") as f:
        f["x"] = np.arange(3)
    before = target.read_bytes()
    with file_size_limit(), pytest.raises(WriteError) as failed:
        with atomic_hdf5(target) as f:
            f.create_dataset("x", data=np.random.default_rng(0).random(BIG // 8), chunks=(1024,), compression="gzip")
    assert_failed_cleanly(tmp_path, target, before, failed.value)
    with h5py.File(target, "r") as f:
        assert f["x"][()].tolist() == [0, 1, 2]


def test_an_interrupt_inside_atomic_path_removes_the_temp_file_and_propagates(tmp_path: Path):
    target = tmp_path / "x.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert not target.exists() and leftovers(tmp_path) == []


def test_concurrent_writers_of_one_file_never_share_a_temp_name(tmp_path: Path):
    target = tmp_path / "cache.npy"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second and first.parent == second.parent == tmp_path
        first.write_bytes(b"1")
        second.write_bytes(b"2")
    assert target.read_bytes() == b"1" and leftovers(tmp_path) == []  # the outer block renamed last


def test_stale_temps_of_one_destination_are_removed(tmp_path: Path):
    target = tmp_path / "last.pt"
    stale = tmp_path / "last.pt.123-abcd.tmp"
    other = tmp_path / "best.pt.123-abcd.tmp"
    stale.write_bytes(b"killed mid-write")
    other.write_bytes(b"another file's")
    remove_stale_temps(target)
    assert not stale.exists() and other.exists()


# ----------------------------------------------------------------- every writer of the package
def _write_part(path: Path) -> None:
    from signprep.shards.writer import Storage, write_part

    arrays = {"keypoints": np.random.default_rng(0).random((64, 543, 3)).astype(np.float32)}
    write_part(path.parent, path.stem, arrays, {"sample_id": path.stem}, pipeline_json="{}", pipeline_hash="0" * 16,
               storage=Storage("none", 0, 64, 2**30))  # fmt: skip


def _manifest(path: Path) -> None:
    from signprep.manifests.records import SampleRecord, write_manifest

    records = [SampleRecord(sample_id=f"clip-{i}", video_path="x" * 200, dataset="csv") for i in range(2000)]
    write_manifest(records, path)


def _index(path: Path) -> None:
    from signprep.shards.index import ShardIndex

    index = ShardIndex(pipeline={"name": "p" * BIG}, pipeline_hash="0" * 16)
    index.save(path.parent)


def _checkpoint(path: Path) -> None:
    import torch

    from signprep.training import save_checkpoint

    save_checkpoint(path, {"model": {"w": torch.zeros(BIG // 4)}})


def _features(path: Path) -> None:
    from signprep.features_file import write_features_file

    write_features_file(path, {"features": np.zeros((BIG // 32, 8), np.float32)}, {"model": "test"})


def _png(path: Path) -> None:
    from signprep.reports.contact_sheet import write_png

    write_png(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8), path)


def _confusion(path: Path) -> None:
    from signprep.reports.plots import render_confusion

    c = 12  # some 40 KB of PNG, well over the write limit
    counts = np.random.default_rng(0).integers(0, 9, (c, c))
    render_confusion(counts, [f"class {i}" for i in range(c)], path, "confusion")


def _text_cache(path: Path) -> None:
    from signprep.models.text import GlossTextEmbedder

    GlossTextEmbedder("hash", path.parent)([f"gloss {i}" for i in range(400)])


WRITERS = {
    "part.h5": _write_part,
    "manifest.jsonl": _manifest,
    "shard_index.json": _index,
    "last.pt": _checkpoint,
    "features.h5": _features,
    "features.npz": _features,
    "sheet.png": _png,
    "confusion.png": _confusion,
    "text-cache.npy": _text_cache,
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_writer_leaves_no_temp_and_no_half_file_when_the_write_fails(tmp_path: Path, name: str):
    folder = tmp_path / "out"
    folder.mkdir()
    with file_size_limit(), pytest.raises(WriteError) as failed:
        WRITERS[name](folder / name)
    assert leftovers(folder) == [], f"{name}: temp file left behind"
    written = [p for p in folder.rglob("*") if p.is_file()]
    assert written == [], f"{name}: half-written files {written}"
    assert failed.value.errno == errno.EFBIG and "cannot write" in str(failed.value), str(failed.value)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_writer_writes_a_complete_file_without_temp_leftovers(tmp_path: Path, name: str):
    folder = tmp_path / "out"
    folder.mkdir()
    WRITERS[name](folder / name)
    assert leftovers(folder) == []
    assert any(p.stat().st_size > LIMIT for p in folder.rglob("*") if p.is_file())


def test_metrics_csv_truncation_on_resume_is_atomic(tmp_path: Path):
    """The trainer rewrites metrics.csv when it resumes; a failed rewrite keeps the old rows."""
    from signprep.training.loop import CSV_FIELDS, Trainer

    path = tmp_path / "metrics.csv"
    rows = [",".join(CSV_FIELDS)] + [f"{s},0,train/loss,{s / 10}" for s in range(1, 2000)]
    path.write_text("\n".join(rows) + "\n")
    before = path.read_bytes()
    trainer = Trainer.__new__(Trainer)  # the method needs only out_dir: no model to build
    trainer.out_dir = tmp_path
    with file_size_limit(len(before) // 4), pytest.raises(WriteError) as failed:
        trainer._truncate_csv(1500)
    assert_failed_cleanly(tmp_path, path, before, failed.value)
    trainer._truncate_csv(3)
    assert [json.loads(r.split(",")[0]) for r in path.read_text().splitlines()[1:]] == [1, 2, 3]
