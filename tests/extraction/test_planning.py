"""`signprep plan`: frame counts from headers, ranges and means; core-hours and storage from the measured table."""

from __future__ import annotations

import csv
import gzip
import json
import time
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from signprep.cli import app
from signprep.extraction.pipeline import load_pipeline, parse_pipeline
from signprep.extraction.planning import (
    DECODE_AND_WRITE_MS,
    pipeline_costs,
    plan_extraction,
)
from signprep.manifests import Manifest, build_manifest, write_manifest
from signprep.stages import STAGES
from signprep.stages.hand_crops import CROPS_COST
from signprep.stages.keypoints import HOLISTIC_COST
from signprep.video.containers import source_frames

runner = CliRunner()


@pytest.fixture(scope="module")
def wlasl_full_dir(corpus: Path) -> Path:
    return corpus / "metadata" / "wlasl"


def test_full_wlasl_without_videos_is_planned_at_once(wlasl_full_dir: Path):
    entries = json.loads(gzip.decompress((wlasl_full_dir / "WLASL_v0.3.json.gz").read_bytes()))
    instances = [i for e in entries for i in e["instances"]]
    ranged = [i["frame_end"] - i["frame_start"] + 1 for i in instances if i["frame_end"] != -1]

    t0 = time.perf_counter()
    result = runner.invoke(app, ["plan", "--dataset", "wlasl", "--root", str(wlasl_full_dir), "--json", "-j", "16"])
    seconds = time.perf_counter() - t0
    assert result.exit_code == 0, result.output
    assert seconds < 6, f"planning 21,083 instances took {seconds:.1f} s"  # ~1 s on an idle 2-core machine
    plan = json.loads(result.output)
    assert "video folder" in plan["note"] and plan["note"].endswith("every sample counted as missing")
    assert plan["samples"] == len(instances) == 21083
    assert plan["present"] + plan["missing"] == plan["samples"] and plan["present"] == 0
    assert plan["frames_from_range"] == len(ranged) and plan["frames_from_header"] == 0
    assert plan["frames_from_range"] + plan["frames_from_mean"] == plan["samples"]
    # unknown lengths take the mean of the known ones
    assert plan["mean_frames"] == pytest.approx(sum(ranged) / len(ranged))
    expected_frames = sum(ranged) + round(plan["frames_from_mean"] * plan["mean_frames"])
    assert plan["frames_all"] == expected_frames and plan["frames_present"] == 0
    # core-hours and bytes are frames x the measured per-frame figures of the keypoints pipeline
    ms = DECODE_AND_WRITE_MS + HOLISTIC_COST.cpu_ms
    assert plan["core_hours_all"] == pytest.approx(expected_frames * ms / 3.6e6, rel=1e-3)
    assert [s["stage"] for s in plan["stages"]] == ["decode + write", "keypoints (Holistic)"]
    assert plan["bytes_all"] == pytest.approx(expected_frames * HOLISTIC_COST.bytes, rel=1e-3)

    text = runner.invoke(app, ["plan", "--dataset", "wlasl", "--root", str(wlasl_full_dir), "-p", "multimodal"])
    assert text.exit_code == 0, text.output
    for line in ("21083 (0 with video, 21083 missing video)", "keypoints (Holistic)", "flow (dis)", "heatmaps"):
        assert line in text.output


def test_the_sample_corpus_plan_counts_the_frames_it_really_has(wlasl_root: Path, corpus: Path):
    clips = list(csv.DictReader((wlasl_root / "clips.csv").open()))
    manifest = build_manifest("wlasl", wlasl_root)
    decoded = {r["video_id"]: int(r["frames_decoded"]) for r in clips}
    real = sum(decoded[r.sample_id] for r in manifest.records)

    plan = plan_extraction(manifest, load_pipeline("disentangle"))
    assert plan.present == len(manifest.records) == 37 and plan.missing == 1  # 99999 has no video
    assert plan.frames_from_header == 37 and plan.frames_from_mean == 1
    # headers (e.g. 90012 declares 64 frames, decodes 62) within 1% of the decoded count
    assert plan.frames_present == pytest.approx(real, rel=0.01)
    assert [s.modality for s in plan.storage] == ["keypoints", "person_mask", "background_removed"]
    assert plan.core_hours_present > 0 and plan.bytes_all > plan.bytes_present


def test_the_plan_lists_each_enabled_stages_own_cost_in_run_order(all_stages_config):
    pipeline = parse_pipeline({"name": "all", "stages": all_stages_config})
    cpu, stored = pipeline_costs(pipeline)
    costs = [spec.cost(getattr(pipeline.stages, spec.name)) for spec in STAGES]
    assert cpu == [("decode + write", 3.7)] + [(c.label, c.cpu_ms) for c in costs]
    assert [label for label, _ in cpu[1:]] == [
        "keypoints (Holistic)", "frames", "heatmaps", "flow (dis)", "person_mask", "hand_crops"
    ]  # fmt: skip
    assert stored == [line for c in costs for line in c.stored]
    assert [name for name, _ in stored] == [
        "keypoints", "frames", "heatmaps", "flow", "person_mask", "background_removed", "hand_crops"
    ]  # fmt: skip
    # 96x96 frames and flow, 48x48 heatmaps: by pixel count from the measured 112x112 and 64x64
    assert dict(stored)["frames"] == pytest.approx(10774.0 * (96 / 112) ** 2)
    assert dict(stored)["heatmaps"] == pytest.approx(10886.0 * (48 / 64) ** 2)


def test_mp4_headers_agree_with_opencv(wlasl_root: Path):
    for video in sorted((wlasl_root / "videos").glob("*.mp4")):
        cap = cv2.VideoCapture(str(video))
        expected, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        counted = source_frames(video)
        assert (counted.frames, counted.counted_by) == (expected, "mp4 index"), video.name
        assert counted.fps == pytest.approx(fps, rel=0.02), video.name
    assert source_frames(wlasl_root / "clips.csv") is None  # not a video: no count, no crash


def test_resampling_and_sizes_change_the_estimate(tmp_path: Path, small_manifest, write_pipeline):
    base = plan_extraction(small_manifest, load_pipeline("keypoints"))
    half = plan_extraction(small_manifest, load_pipeline(write_pipeline(tmp_path / "half.yaml", decode={"fps": 12.5})))
    assert half.frames_present < 0.75 * base.frames_present  # the three clips run at 25-30 fps
    big = write_pipeline(tmp_path / "big.yaml", stages={"hand_crops": {"size": 128}})
    crops = {s.modality: s.bytes_per_frame for s in plan_extraction(small_manifest, load_pipeline(big)).storage}
    assert crops["hand_crops"] == pytest.approx(4 * CROPS_COST.bytes, rel=0.01)  # 4x the pixels


def test_the_storage_estimate_matches_a_real_extraction(reference_run, small_manifest):
    out, _, _ = reference_run
    real = sum(p.stat().st_size for p in out.glob("shard-*.h5"))
    plan = plan_extraction(small_manifest, load_pipeline("keypoints"))
    assert plan.bytes_present == pytest.approx(real, rel=0.3), (plan.bytes_present, real)


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_plan_out_subtracts_the_samples_already_extracted(reference_run, small_manifest, records, tmp_path: Path):
    out, summary, pipeline_file = reference_run  # the 3 small clips, keypoints pipeline
    extra = records["90008"]  # not extracted there
    manifest_file = tmp_path / "manifest.jsonl"
    write_manifest(small_manifest.records + [extra], manifest_file)
    before = _listing(out)

    def plan(*args: str) -> dict:
        result = runner.invoke(app, ["plan", "--manifest", str(manifest_file), "--json", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    full = plan()
    again = plan("--out", str(out))
    assert again["already_extracted"] == len(small_manifest.records) == 3
    assert again["frames_already_extracted"] == summary.frames  # the stored frames, from the shard index
    assert again["samples"] == 4 and again["present"] == 1 and again["missing"] == 0
    # only the clip not yet extracted is planned: the to-do frames drop by the 3 clips' frames
    done_frames = plan_extraction(small_manifest, load_pipeline("keypoints")).frames_present
    assert again["frames_present"] == full["frames_present"] - done_frames
    assert again["frames_present"] == plan_extraction(Manifest([extra]), load_pipeline("keypoints")).frames_present
    assert again["core_hours_present"] < full["core_hours_present"] / 2
    text = runner.invoke(app, ["plan", "--manifest", str(manifest_file), "--out", str(out)]).output
    assert "already extracted  : 3 samples" in text and "to do: 1 with video" in text

    # another pipeline's shards: said plainly, everything planned, no crash
    other = plan("--out", str(out), "-p", "multimodal")
    assert "another pipeline configuration" in other["out_problem"] and "--force" in other["out_problem"]
    assert other["already_extracted"] == 0 and other["present"] == 4
    text = runner.invoke(app, ["plan", "--manifest", str(manifest_file), "--out", str(out), "-p", "multimodal"])
    assert text.exit_code == 0 and "extract refuses it without --force" in text.output

    # a new directory: the plan of today; and planning never wrote to the shard directory
    assert plan("--out", str(tmp_path / "not-yet")) == full
    assert not (tmp_path / "not-yet").exists()
    assert _listing(out) == before


def test_plan_errors_name_the_problem(tmp_path: Path):
    result = runner.invoke(app, ["plan"])
    assert result.exit_code == 2 and "give --root" in result.output
    result = runner.invoke(app, ["plan", "--manifest", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2 and "nope.jsonl" in result.output
    result = runner.invoke(app, ["plan", "--root", str(tmp_path), "-p", "no-such-pipeline"])
    assert result.exit_code == 2 and "no-such-pipeline" in result.output


def test_frame_folders_and_time_ranges_are_counted_and_planned_before_their_download(
    tmp_path: Path, write_frames, wlasl_root: Path
):
    """PHOENIX-2014-T: a sentence's frames are its frame files; without the frames folder (not yet
    downloaded) every sentence is missing and planned from the mean. How2Sign: a time range counts
    duration x the video's fps."""
    import shutil

    base = tmp_path / "PHOENIX-2014-T"
    manual = base / "annotations" / "manual"
    manual.mkdir(parents=True)
    header = "name|video|start|end|speaker|orth|translation"
    rows = [header] + [f"s{i}|s{i}/1/*.png|-1|-1|Signer01|A B|a b" for i in range(3)]
    (manual / "PHOENIX-2014-T.train.corpus.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    before = CliRunner().invoke(app, ["plan", "-d", "phoenix2014t", "--root", str(base), "--json"])
    assert before.exit_code == 0, before.output
    planned = json.loads(before.output)
    assert (planned["present"], planned["missing"], planned["frames_from_mean"]) == (0, 3, 3)
    assert "fullFrame-210x260px" in planned["note"] and "every sample counted as missing" in planned["note"]

    frames = base / "features" / "fullFrame-210x260px" / "train"
    for i, count in enumerate((7, 5, 4)):
        write_frames(frames / f"s{i}", "90012", 0, count, (210, 260))
    after = json.loads(CliRunner().invoke(app, ["plan", "-d", "phoenix2014t", "--root", str(base), "--json"]).output)
    assert (after["present"], after["frames_present"], after["frames_from_header"]) == (3, 16, 3)

    videos = tmp_path / "How2Sign" / "video_level" / "train" / "rgb_front" / "raw_videos"
    videos.mkdir(parents=True)
    shutil.copy(wlasl_root / "videos" / "90033.mp4", videos / "v-1-rgb_front.mp4")  # 627 frames, 30 fps
    text = tmp_path / "How2Sign" / "sentence_level" / "train" / "text" / "en" / "raw_text" / "re_aligned"
    text.mkdir(parents=True)
    (text / "how2sign_realigned_train.csv").write_text(
        "VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART_REALIGNED\tEND_REALIGNED\tSENTENCE\n"
        "v\tv-1-rgb_front\tv_0\tv_0-1-rgb_front\t0.0\t2.5\tOne.\n"  # frames 0..74: 75
        "v\tv-1-rgb_front\tv_1\tv_1-1-rgb_front\t20.0\t30.0\tPast the end.\n",  # frames 600..626: 27
        encoding="utf-8",
    )
    how2sign = json.loads(
        CliRunner().invoke(app, ["plan", "-d", "how2sign", "--root", str(tmp_path / "How2Sign"), "--json"]).output
    )
    assert (how2sign["present"], how2sign["frames_present"]) == (2, 75 + 27)
