"""Storage codecs (signprep/shards/codecs.py): the opt-in LZ4 codec is written, labelled, verified and
read like the others; the default stays readable by plain h5py with no plugin; a missing plugin is
named with what to install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from signprep.cli import app
from signprep.data.datasets import read_frames
from signprep.shards import ShardReader
from signprep.shards.codecs import chunk_decoder, codec_name, dataset_filters, decode_lz4_chunk
from signprep.shards.repack import repack
from signprep.shards.verify import verify_dir
from signprep.shards.writer import Storage


@pytest.fixture(scope="module")
def lz4_shards(reference_run, tmp_path_factory) -> Path:
    out, _, _ = reference_run
    dst = tmp_path_factory.mktemp("lz4") / "out"
    repack(out, dst, Storage(compression="lz4"))
    return dst


def test_lz4_shards_say_so_and_hold_the_same_data(reference_run, lz4_shards):
    out, _, _ = reference_run
    original, repacked = ShardReader(out), ShardReader(lz4_shards)
    assert repacked.index.pipeline["storage"]["compression"] == "lz4"
    for sid in original:
        view = repacked[sid]
        assert view.attrs["content_sha256"] == original[sid].attrs["content_sha256"]
        for name in ("keypoints", "keypoint_present", "frame_indices"):
            assert codec_name(view[name]) == "lz4"
            np.testing.assert_array_equal(view.read(name), original[sid].read(name))
    for shard in lz4_shards.glob("shard-*.h5"):
        with h5py.File(shard, "r") as f:
            assert f.attrs["storage_codec"] == "lz4" and "hdf5plugin" in f.attrs["storage_readers"]
    report = verify_dir(lz4_shards)
    assert report.ok, report.problems
    assert set(report.codecs) == {"lz4"} and report.samples_checked == len(original)
    result = CliRunner().invoke(app, ["verify", str(lz4_shards)])
    assert result.exit_code == 0, result.output
    assert "storage: lz4 in" in result.output and "import hdf5plugin" in result.output


PLAIN_H5PY = """
import json, sys, h5py
root = sys.argv[1]
index = json.load(open(f"{root}/shard_index.json"))
sid, entry = sorted(index["samples"].items())[0]
with h5py.File(f"{root}/{entry['shard']}", "r") as f:
    print(f["samples"][sid]["keypoints"][()].shape)
assert "hdf5plugin" not in sys.modules and "signprep" not in sys.modules
"""


def test_default_shards_need_no_plugin_lz4_ones_do(reference_run, lz4_shards):
    out, _, _ = reference_run
    plain = subprocess.run([sys.executable, "-c", PLAIN_H5PY, str(out)], capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    first = ShardReader(out)[sorted(ShardReader(out))[0]]
    assert plain.stdout.strip() == str((first.num_frames, 543, 3))
    lz4 = subprocess.run([sys.executable, "-c", PLAIN_H5PY, str(lz4_shards)], capture_output=True, text=True)
    assert lz4.returncode != 0 and "read data" in lz4.stderr and "plugin" in lz4.stderr  # HDF5 looked for one


NO_PLUGIN = """
import sys
sys.modules["hdf5plugin"] = None  # as if signprep[lz4] were not installed
from signprep.extraction.pipeline import parse_pipeline
from signprep.shards import SchemaError, ShardReader
try:
    ShardReader(sys.argv[1])[sys.argv[2]].read("keypoints")
except SchemaError as e:
    print("reader:", e)
try:
    parse_pipeline({"name": "x", "storage": {"compression": "lz4"}})
except Exception as e:
    print("pipeline:", e)
"""


def test_a_missing_plugin_is_named_with_what_to_install(lz4_shards):
    sid = sorted(json.loads((lz4_shards / "shard_index.json").read_text())["samples"])[0]
    run = subprocess.run([sys.executable, "-c", NO_PLUGIN, str(lz4_shards), sid], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    reader_says, pipeline_says = run.stdout.split("pipeline:")
    assert reader_says.startswith("reader: ") and "shard-00000.h5" in reader_says
    assert "storage.compression" in pipeline_says
    for said in (reader_says, pipeline_says):
        assert "storage codec lz4 needs the hdf5plugin package: pip install 'signprep[lz4]'" in said, said


def test_lz4_chunks_of_several_blocks_and_raw_blocks_decode(tmp_path: Path):
    rng = np.random.default_rng(0)
    frames = np.zeros((3, 40, 50, 3), np.uint8)
    frames[:, :20] = rng.integers(0, 256, (3, 20, 50, 3))  # incompressible: blocks stored raw
    frames[:, 20:] = 7  # compressible
    with h5py.File(tmp_path / "x.h5", "w") as f:
        # 1000-byte blocks: every 6000-byte chunk is 6 blocks, the first three raw
        ds = f.create_dataset("frames", data=frames, chunks=(1, 40, 50, 3), **hdf5plugin.LZ4(nbytes=1000))
        assert codec_name(ds) == "lz4" and chunk_decoder(ds) is decode_lz4_chunk
        raw = ds.id.read_direct_chunk((1, 0, 0, 0))[1]
        assert int.from_bytes(raw[8:12], "big") == 1000
        assert decode_lz4_chunk(raw) == frames[1].tobytes()
        np.testing.assert_array_equal(read_frames(ds, np.array([2, 0, 0, 1])), frames[[2, 0, 0, 1]])


def test_a_foreign_codec_is_named_and_read_through_h5py(tmp_path: Path):
    frames = np.arange(4 * 6 * 5, dtype=np.float32).reshape(4, 6, 5)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        ds = f.create_dataset("x", data=frames, chunks=(1, 6, 5), shuffle=True, **hdf5plugin.Zstd())
        assert codec_name(ds) == "filter 32015" and chunk_decoder(ds) is None
        np.testing.assert_array_equal(read_frames(ds, np.array([3, 1])), frames[[3, 1]])
        # HDF5's own checksum filter: no direct decode either (the chunk ends in its checksum)
        ds = f.create_dataset("y", data=frames, chunks=(1, 6, 5), fletcher32=True, **dataset_filters("gzip", 1))
        assert codec_name(ds) == "gzip" and chunk_decoder(ds) is None
        np.testing.assert_array_equal(read_frames(ds, np.array([3, 1])), frames[[3, 1]])


def test_an_extraction_stored_with_lz4_reads_like_the_default(records, write_pipeline, read_samples, tmp_path: Path):
    from signprep.data import ShardDataset
    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.runner import run_extract
    from signprep.manifests import Manifest

    stages = {"frames": {"size": [48, 48]}}  # keypoints (on by default) and a small image modality
    manifest = Manifest([records["90029"]])
    outs = {}
    for codec in ("gzip", "lz4"):
        file = write_pipeline(
            tmp_path / f"{codec}.yaml", decode={"fps": 8}, stages=stages, storage={"compression": codec}
        )
        summary = run_extract(manifest, load_pipeline(file), tmp_path / codec, workers=1, progress=False)
        assert summary.exit_code == 0 and summary.done_now == 1, summary.render()
        outs[codec] = tmp_path / codec
    assert verify_dir(outs["lz4"]).codecs.keys() == {"lz4"}
    gzip_data, lz4_data = read_samples(outs["gzip"]), read_samples(outs["lz4"])
    assert gzip_data.keys() == lz4_data.keys() == {"90029"}
    for name, array in gzip_data["90029"].items():
        np.testing.assert_array_equal(lz4_data["90029"][name], array, err_msg=name)
    items = [ShardDataset(outs[c], modalities=("keypoints", "frames"), clip_len=8, augment=True, seed=3)[0]
             for c in ("gzip", "lz4")]  # fmt: skip
    for key, value in items[0].items():
        assert torch.equal(items[1][key], value) if torch.is_tensor(value) else items[1][key] == value, key


@pytest.mark.parametrize("codec,frames_per_chunk", [("gzip", 1), ("lz4", 1), ("gzip", 2)])
def test_a_damaged_chunk_is_named(tmp_path: Path, codec, frames_per_chunk):
    frames = np.random.default_rng(1).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "damaged.h5"
    with h5py.File(path, "w") as f:
        chunks = (frames_per_chunk, 16, 16, 3)
        ds = f.create_dataset("frames", data=frames, chunks=chunks, **dataset_filters(codec, 1))
        ds.id.write_direct_chunk((2, 0, 0, 0), b"\x00\x01 not a compressed chunk")  # the chunk of frame 2
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(read_frames(f["frames"], np.array([0, 1])), frames[:2])  # the others read
        with pytest.raises(OSError, match=r"damaged\.h5: /frames, frames 1-3: stored data does not decode"):
            read_frames(f["frames"], np.array([3, 1, 2]))
