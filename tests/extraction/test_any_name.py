"""Any real name works: a `folder` dataset of real corpus clips whose gloss folders and file names
hold Spanish and German letters, Chinese, spaces, punctuation and a macOS (NFD) spelling, through
extract (real MediaPipe), the index, ShardReader, the torch datasets, verify, inspect and render;
staging parts get safe file names while every reader keeps the real id."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from signprep.cli import app
from signprep.data import ShardDataset
from signprep.manifests import output_file_stem, safe_file_name
from signprep.shards import ShardReader
from signprep.shards.recover import recover
from signprep.shards.writer import Storage, write_part

# (gloss folder, file name, corpus clip): names as a Spanish, a German and a Chinese corpus ship them
CLIPS = [
    ("año", "clip 1 (take 2).mp4", "90029"),
    (unicodedata.normalize("NFD", "Grüße"), "Müller's «gruß».mp4", "90031"),  # a macOS-written folder
    ("手语 你好", "视频_01.mp4", "90012"),
]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, wlasl_root: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("names")
    root = tmp / "señas"
    for gloss, name, clip in CLIPS:
        (root / gloss).mkdir(parents=True, exist_ok=True)
        shutil.copy(wlasl_root / "videos" / f"{clip}.mp4", root / gloss / name)
    pipeline = tmp / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump({"name": "keypoints-10fps", "decode": {"fps": 10}}))
    out = tmp / "out"
    result = invoke("extract", "--dataset", "folder", "--root", root, "--out", out, "--pipeline", pipeline,
                    "--workers", "2", "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    return root, out


EXPECTED_IDS = sorted(unicodedata.normalize("NFC", f"{g}__{Path(n).stem}") for g, n, _ in CLIPS)


def test_the_real_ids_and_glosses_reach_every_reader(extracted):
    root, out = extracted
    with ShardReader(out) as reader:
        assert sorted(reader) == EXPECTED_IDS
        assert sorted(e["gloss"] for e in reader.index.samples.values()) == sorted(["Grüße", "año", "手语 你好"])
        view = reader["año__clip 1 (take 2)"]
        assert view.attrs["gloss"] == "año" and view.read("keypoints").shape[1] == 543
        assert reader.ids(gloss="Grüße") == ["Grüße__Müller's «gruß»"]  # NFC, whatever the disk spelled
    data = ShardDataset(out, clip_len=8, label_map=True)
    items = {data[i]["sample_id"]: data[i] for i in range(len(data))}
    assert sorted(items) == EXPECTED_IDS and items["手语 你好__视频_01"]["gloss"] == "手语 你好"
    assert not [p for p in out.rglob("*") if p.is_file() and p.parent.name == "parts"]  # packed, none left


def test_verify_inspect_and_render_name_the_real_ids(extracted, tmp_path: Path):
    _, out = extracted
    verified = invoke("verify", out)
    assert verified.exit_code == 0 and "checked 1 shards, 3 samples" in verified.output, verified.output
    inspected = invoke("inspect", out, "--json")
    info = json.loads(inspected.output)
    assert info["samples"] == 3 and info["example_sample"] in EXPECTED_IDS and info["glosses"] == 3
    renders = tmp_path / "renders"
    rendered = invoke("render", out, "-s", "手语 你好__视频_01", "-s", "Grüße__Müller's «gruß»", "-o", renders)
    assert rendered.exit_code == 0, rendered.output
    for sid in ("手语 你好__视频_01", "Grüße__Müller's «gruß»"):
        sheet = cv2.imread(str(renders / f"{output_file_stem(sid)}.png"))
        assert output_file_stem(sid) == safe_file_name(sid)  # not a plain ASCII name: the safe stem
        assert sheet is not None and sheet.shape[1] > 1000, sid
        assert sid in rendered.output


def test_nothing_is_written_outside_out(extracted):
    root, out = extracted
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == sorted(n for _, n, _ in CLIPS)


def test_parts_are_named_safely_and_recovered_by_their_real_id(tmp_path: Path):
    from signprep.shards.index import ShardIndex

    index = ShardIndex("0" * 16, {"name": "p"})
    odd = ["año clip", "a/../b".replace("/", "∕"), "手语", "Año clip"]  # case-only and look-alike ids
    for sid in odd:
        write_part(tmp_path / "parts", sid, {"frame_indices": np.arange(3, dtype=np.int32)},
                   {"sample_id": sid}, pipeline_json="{}", pipeline_hash="0" * 16, storage=Storage())  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "parts").iterdir())
    assert len(names) == 4 and all(name.isascii() and len(name.encode()) <= 84 for name in names)
    found = recover(tmp_path, index).finished_parts
    assert sorted(found) == sorted(odd)
    assert all(found[sid].name == f"{safe_file_name(sid)}.h5" for sid in odd)
