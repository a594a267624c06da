"""The plain-h5py reading snippet of docs/shards.md runs on real shards and reads what ShardReader reads."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from signprep.shards import ShardReader

DOC = Path(__file__).resolve().parents[2] / "docs" / "shards.md"


def _snippet() -> str:
    section = DOC.read_text(encoding="utf-8").split("## Reading with h5py alone", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_the_h5py_snippet_reads_the_shards(reference_run):
    out, _, _ = reference_run
    code = _snippet()
    assert 'root = "out/wlasl-sample"' in code and "signprep" not in code.replace("out/wlasl-sample", "")
    names: dict = {}
    exec(compile(code.replace('"out/wlasl-sample"', repr(str(out))), str(DOC), "exec"), names)
    with ShardReader(out) as reader:
        sample = reader["90012"]
        np.testing.assert_array_equal(names["keypoints"], sample.read("keypoints", frames=slice(10, 20)))
        np.testing.assert_array_equal(names["present"], sample.read("keypoint_present", frames=slice(10, 20)))
        np.testing.assert_array_equal(names["left_hand"], sample.keypoints("left_hand")[10:20])
        assert names["keypoints"].shape == (10, 543, 3) and names["left_hand"].shape == (10, 21, 3)
        assert (names["gloss"], names["fps"]) == ("football", sample.attrs["fps"])
        assert names["train_ids"] == reader.ids(split="train") == ["90012", "90029", "90031"]
