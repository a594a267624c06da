"""The shipped pipelines load, validate, keep their hashes, and (all stages at once) extract real clips."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from signprep.extraction.pipeline import ConfigError, load_pipeline, parse_pipeline, shipped_pipelines
from signprep.shards import ShardReader
from signprep.shards.verify import verify_dir


def test_every_shipped_pipeline_loads():
    names = shipped_pipelines()
    assert {"keypoints", "multimodal", "disentangle", "hand_crops"} <= set(names)
    hashes = {load_pipeline(n).content_hash() for n in names}
    assert len(hashes) == len(names)  # different content, different hash


# (content hash, sha256 prefix of to_json() without its storage section) of each pipeline; every
# shard stores both, and a changed hash makes extract refuse existing output directories, so a
# schema change must leave these alone. Both are as extracted before the stages owned their
# configurations (db0848b) and before issue 22's storage defaults (checked against main's code
# then): storage settings are outside the content hash by design, and only the storage section
# of the stored dump changed, to STORAGE. multimodal and disentangle changed their content on
# purpose (issue 21: `fit: person`, the signer's box, instead of the letterbox); with `fit: pad`
# they are the former pipelines (LETTERBOXED).
PINNED = {
    "keypoints": ("a75862f5e0067482", "2dfb9c1cc106405d"),
    "multimodal": ("b200b3ed2ce6c871", "9f4368d87d6a2e55"),
    "disentangle": ("424ae22e1d088b82", "de65afb878a95a51"),
    "hand_crops": ("68b40d41e89bf3c8", "581865a1833bbd68"),
}
LETTERBOXED = {
    "multimodal": ("45750e7d6a508cc4", "8b547cae40372d7a"),
    "disentangle": ("3bc26a9fac12a223", "d51d8aab7a6b4cbc"),
}
ALL_STAGES_PINNED = ("22e3129c3a1d8fd4", "911587eb8b178999")  # tests/conftest.py ALL_STAGES
EVERY_DEFAULT_PINNED = ("ffcfc660f3e9a830", "811159b1db3ea2dc")  # every stage on at its defaults
# the storage defaults chosen by measurement (docs/shards.md, "Compression")
STORAGE = {"chunk_frames": 64, "chunk_kib": 1024, "compression": "gzip", "compression_level": 1,
           "max_shard_mb": 256, "one_frame_chunks_above_kib": 8}  # fmt: skip


def _pinned(pipeline) -> tuple[str, str]:
    dump = json.loads(pipeline.to_json())
    assert dump.pop("storage") == STORAGE
    return pipeline.content_hash(), hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()[:16]


def test_pipeline_hashes_and_stored_dumps_stay_what_existing_shards_hold(all_stages_config):
    assert {name: _pinned(load_pipeline(name)) for name in PINNED} == PINNED
    assert _pinned(parse_pipeline({"name": "all-stages", "stages": all_stages_config})) == ALL_STAGES_PINNED
    every = {name: {} for name in all_stages_config}
    assert _pinned(parse_pipeline({"name": "every-default", "stages": every})) == EVERY_DEFAULT_PINNED


def test_the_person_fit_pipelines_with_the_letterbox_back_are_the_former_pipelines():
    import yaml

    from signprep.configs import PIPELINES

    for name, pinned in LETTERBOXED.items():
        data = yaml.safe_load(PIPELINES.find(name).read_text())
        data.pop("person_box")
        for section in data["stages"].values():
            if section and section.get("fit") == "person":
                section["fit"] = "pad"
        assert _pinned(parse_pipeline(data)) == pinned, name


def test_stages_that_need_keypoints_say_so():
    for stage in ("heatmaps", "hand_crops"):
        with pytest.raises(ConfigError, match=f"stage '{stage}' needs the keypoints stage"):
            parse_pipeline({"name": "x", "stages": {"keypoints": None, stage: {}}})
    parse_pipeline({"name": "x", "stages": {"keypoints": None, "person_mask": {"source": "selfie"}}})


def test_all_stages_store_aligned_time_axes_and_verify(all_stages_run):
    out, summary = all_stages_run
    assert verify_dir(out).ok
    with ShardReader(out) as reader:
        s = reader["90012"]
        t = s.num_frames
        assert t == 62
        shapes = {n: s[n].shape for n in s.datasets}
        assert shapes["frames"] == (t, 96, 96, 3)
        assert shapes["heatmaps"] == (t, 79, 48, 48) and s["heatmaps"].dtype == np.uint8
        assert shapes["flow"] == (t, 96, 96, 2) and shapes["flow_rgb"] == (t, 96, 96, 3)
        assert shapes["person_mask"] == (t, 64, 64) and shapes["background_removed"] == (t, 64, 64, 3)
        assert shapes["hand_crops"] == (t, 2, 64, 64, 3) and shapes["hand_keypoints_crop"] == (t, 2, 21, 2)
        assert "_segmentation" not in s.datasets  # transient entries are not stored
        # heatmap peaks sit on the keypoints mapped by the same fit as the frames
        hm = s.read("heatmaps", frames=slice(10, 11))[0].astype(np.float32)
        nose = s.read("keypoints", frames=slice(10, 11))[0, 0, :2]
        fit = s.fit("heatmap_fit")
        peak = np.unravel_index(hm[0].argmax(), hm[0].shape)
        expected = fit.map_points(nose)
        assert abs(peak[1] + 0.5 - expected[0]) <= 1 and abs(peak[0] + 0.5 - expected[1]) <= 1


def test_the_all_stages_pipeline_resumes_and_isolates_a_broken_video(all_stages_run, tmp_path, records):
    import shutil

    import yaml

    from signprep.extraction.runner import run_extract
    from signprep.manifests import Manifest, SampleRecord

    out, _ = all_stages_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    bad = SampleRecord(sample_id="broken", video_path=str(broken), dataset="test")
    pipeline = load_pipeline(out.parent / "all.yaml")
    assert yaml.safe_load((out.parent / "all.yaml").read_text())["name"] == "all-stages"
    summary = run_extract(Manifest([records["90029"], records["90012"], bad]), pipeline, copy, progress=False)
    assert (summary.skipped, summary.done_now, len(summary.failed)) == (2, 0, 1)
    assert summary.failed[0].stage == "decode" and str(broken) in summary.failed[0].error
    assert verify_dir(copy).ok
