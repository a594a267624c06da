"""Shared fixtures: the real test corpus beside the checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

# The corpus is never copied into the repository; it sits beside the checkout
# (../shared/data), locally and in CI alike.
CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The `shared/data` folder described in its README.md; a missing corpus fails the run."""
    if not (CORPUS / "wlasl-sample" / "WLASL_v0.3.json").is_file():
        pytest.fail(
            f"test corpus not found at {CORPUS.resolve()}: the real data must sit in shared/data "
            "beside the repository checkout (see shared/data/README.md); tests do not run without it",
            pytrace=False,
        )
    return CORPUS.resolve()


# --------------------------------------------------------------------------- extraction fixtures
# MediaPipe Holistic runs ~15-20 frames/s per process on the 2-core CI machine, so
# the extraction tests share a few SHORT real clips and one reference extraction.
SMALL_IDS = ("90029", "90012", "90031")  # 41 + 62 + 57 frames; 90012 = FOOTBALL, the decord-padding clip


@pytest.fixture(scope="session")
def wlasl_root(corpus: Path) -> Path:
    return corpus / "wlasl-sample"


@pytest.fixture(scope="session")
def wlasl_manifest(wlasl_root: Path):
    from signprep.manifests import build_manifest

    return build_manifest("wlasl", wlasl_root)


@pytest.fixture(scope="session")
def records(wlasl_manifest) -> dict:
    """sample_id -> SampleRecord of the sample download, the dead entry 99999 included."""
    return {r.sample_id: r for r in wlasl_manifest.records + wlasl_manifest.missing}


@pytest.fixture(scope="session")
def small_ids() -> tuple[str, ...]:
    return SMALL_IDS


@pytest.fixture(scope="session")
def small_manifest(records):
    from signprep.manifests import Manifest

    return Manifest([records[i] for i in SMALL_IDS])


@pytest.fixture(scope="session")
def keypoints_pipeline():
    from signprep.extraction.pipeline import load_pipeline

    return load_pipeline("keypoints")


@pytest.fixture(scope="session")
def write_pipeline(keypoints_pipeline):
    """write_pipeline(path, storage={...}, stages={...}, ...) -> a pipeline YAML file: the
    shipped `keypoints` pipeline with the given sections updated key by key."""
    import yaml

    def write(path: Path, **sections) -> Path:
        data = keypoints_pipeline.model_dump()
        for section, values in sections.items():
            if isinstance(values, dict):
                data[section] = {**data[section], **values}
            else:
                data[section] = values
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return Path(path)

    return write


@pytest.fixture(scope="session")
def read_samples():
    """read_samples(out_dir) -> {sample_id: {dataset: array}} of every indexed sample."""
    from signprep.shards import ShardReader

    def read(out_dir: Path) -> dict[str, dict]:
        with ShardReader(out_dir) as reader:
            return {sid: {n: reader[sid].read(n) for n in reader[sid].datasets} for sid in reader}

    return read


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, small_manifest, write_pipeline):
    """One uninterrupted extraction of the small manifest with the shipped keypoints
    pipeline, split into one shard per sample (tiny max_shard_mb; storage knobs do not
    change the pipeline hash). Returns (out_dir, summary, pipeline file). Read only:
    tests that alter a directory work on a copy."""
    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.runner import run_extract

    root = tmp_path_factory.mktemp("reference")
    pipeline_file = write_pipeline(root / "keypoints-small-shards.yaml", storage={"max_shard_mb": 0.05})
    out = root / "out"
    summary = run_extract(small_manifest, load_pipeline(pipeline_file), out, workers=2, progress=False)
    assert summary.exit_code == 0 and summary.done_now == len(SMALL_IDS), summary.render()
    return out, summary, pipeline_file


ALL_STAGES = {
    "keypoints": {"model_complexity": 1},
    "frames": {"size": [96, 96], "fit": "pad"},
    "heatmaps": {"size": [48, 48], "sigma": 1.5, "fit": "pad"},
    "flow": {"size": [96, 96], "fit": "pad", "rgb_images": True},
    "person_mask": {"source": "holistic", "size": [64, 64], "fit": "pad"},
    "hand_crops": {"size": 64},
}


@pytest.fixture(scope="session")
def all_stages_config() -> dict:
    """The `stages:` section of a pipeline with every stage on (ALL_STAGES)."""
    return ALL_STAGES


@pytest.fixture(scope="session")
def all_stages_run(tmp_path_factory, records):
    """One extraction of two short clips (90029, 90012) with every derived stage on.
    Returns (out_dir, summary). Read only."""
    import yaml

    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.runner import run_extract
    from signprep.manifests import Manifest

    root = tmp_path_factory.mktemp("all-stages")
    pipeline_file = root / "all.yaml"
    pipeline_file.write_text(yaml.safe_dump({"name": "all-stages", "stages": ALL_STAGES}))
    out = root / "out"
    manifest = Manifest([records["90029"], records["90012"]])
    summary = run_extract(manifest, load_pipeline(pipeline_file), out, workers=2, progress=False)
    assert summary.exit_code == 0 and summary.done_now == 2, summary.render()
    return out, summary


PERSON_FIT_STAGES = {
    name: ({**section, "fit": "person"} if "fit" in section else section) for name, section in ALL_STAGES.items()
}


@pytest.fixture(scope="session")
def person_fit_run(tmp_path_factory, records):
    """ALL_STAGES with `fit: person` for every image stage (two passes per sample), on 90029 and 90012,
    plus a broken video and the missing 99999, so the run has a failure and a missing video on record.
    Returns (out_dir, summary). Read only."""
    import yaml

    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.runner import run_extract
    from signprep.manifests import Manifest, SampleRecord

    root = tmp_path_factory.mktemp("person-fit")
    pipeline_file = root / "person.yaml"
    pipeline_file.write_text(yaml.safe_dump({"name": "all-stages-person", "stages": PERSON_FIT_STAGES}))
    broken = root / "broken.mp4"
    broken.write_text("not a video")
    bad = SampleRecord(sample_id="broken", video_path=str(broken), dataset="test")
    manifest = Manifest([records["90029"], records["90012"], bad], missing=[records["99999"]])
    out = root / "out"
    summary = run_extract(manifest, load_pipeline(pipeline_file), out, workers=2, progress=False)
    assert summary.done_now == 2 and len(summary.failed) == 1 and len(summary.missing) == 1, summary.render()
    return out, summary


# --------------------------------------------------------------------------- training fixtures
# eat and yes, each by signer 901 (train) and 912 (test), decoded at 12 fps (24-35 stored frames
# each): a by-signer split holds out 912, and every gloss has a pair by two signers.
PAIR_IDS = ("90008", "90009", "90039", "90040")


def _extract_pairs(root: Path, records, pipeline_file: Path) -> Path:
    from signprep.extraction.pipeline import load_pipeline
    from signprep.extraction.runner import run_extract
    from signprep.manifests import Manifest

    manifest = Manifest([records[i] for i in PAIR_IDS])
    summary = run_extract(manifest, load_pipeline(pipeline_file), root / "out", workers=2, progress=False)
    assert summary.exit_code == 0 and summary.done_now == len(PAIR_IDS), summary.render()
    return root / "out"


@pytest.fixture(scope="session")
def dsft_shards(tmp_path_factory, records, write_pipeline) -> Path:
    """Keypoint shards of the four pair clips (the shipped keypoints pipeline at 12 fps)."""
    root = tmp_path_factory.mktemp("dsft-pairs")
    return _extract_pairs(root, records, write_pipeline(root / "keypoints-12fps.yaml", decode={"fps": 12}))


@pytest.fixture(scope="session")
def text_cache(dsft_shards, tmp_path_factory) -> Path:
    """The real all-MiniLM-L6-v2 embeddings of dsft_shards' vocabulary, computed once (a DSFT run's
    text cache: copy it into the run's folder)."""
    import numpy as np

    from signprep.data import Vocabulary
    from signprep.models.text import MINILM, GlossTextEmbedder

    folder = tmp_path_factory.mktemp("text-cache")
    vocab = Vocabulary.from_shards(dsft_shards)
    emb = GlossTextEmbedder(MINILM, folder)(vocab.glosses)
    assert emb.shape == (2, 384) and np.allclose(emb.norm(dim=1), 1, atol=1e-5)
    return folder


@pytest.fixture(scope="session")
def pose_export(tmp_path_factory, dsft_shards) -> Path:
    """dsft_shards (the four pair clips at 12 fps) exported as pose-format .pose files, with the
    manifest.jsonl that labels them for an import. Read only."""
    from signprep.exports import PoseExport, run_export

    folder = tmp_path_factory.mktemp("pose-export") / "poses"
    summary = run_export(dsft_shards, PoseExport(), folder, progress=False)
    assert summary.exit_code == 0 and summary.done_now == len(PAIR_IDS), summary.render()
    return folder


@pytest.fixture(scope="session")
def hand_shards(tmp_path_factory, records, write_pipeline) -> Path:
    """Keypoint and hand-crop shards of the four pair clips, 12 fps."""
    root = tmp_path_factory.mktemp("hand-crops-pairs")
    pipeline_file = write_pipeline(root / "hand-crops-12fps.yaml", decode={"fps": 12}, stages={"hand_crops": {}})
    return _extract_pairs(root, records, pipeline_file)


@pytest.fixture(scope="session")
def disentangle_shards(tmp_path_factory, records, write_pipeline) -> Path:
    """The `disentangle` pipeline's stages (person mask, background-removed 64x64 frames, letterboxed)
    plus hand crops, 12 fps."""
    import yaml

    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "pipelines" / "disentangle.yaml").read_text())
    root = tmp_path_factory.mktemp("disentangle-pairs")
    # the letterbox (fit: pad), as before the shipped pipeline moved to fit: person (issue 21): the
    # probe values the disentangle tests assert were measured on these images; with the person box
    # the tiny 6-epoch run's signer-from-appearance probe of 4 videos measured 0.5 (chance), not 1.0
    stages = {"person_mask": {**shipped["stages"]["person_mask"], "fit": "pad"}, "hand_crops": {"size": 64}}
    pipeline_file = write_pipeline(root / "disentangle-12fps.yaml", decode={"fps": 12}, stages=stages)
    return _extract_pairs(root, records, pipeline_file)


# --------------------------------------------------------------------------- dataset layouts
# Real corpus frames for building the published dataset layouts in tmp_path (never committed).
@cache
def _decoded(video: Path, count: int) -> tuple[np.ndarray, ...]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    try:
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(bgr)
    finally:
        cap.release()
    assert len(frames) == count, f"{video} has fewer than {count} frames"
    return tuple(frames)


def _fit(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize: the signer stays undistorted."""
    h, w = bgr.shape[:2]
    if w * height > h * width:
        crop = round(h * width / height)
        bgr = bgr[:, (w - crop) // 2 : (w - crop) // 2 + crop]
    else:
        crop = round(w * height / width)
        bgr = bgr[(h - crop) // 2 : (h - crop) // 2 + crop]
    return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def write_frames(wlasl_root: Path):
    """write_frames(folder, clip, first, count, size, name="images{:04d}.png", start=1) writes
    frames first..first+count-1 (0-based) of corpus clip `clip` as image files of `size`
    (width, height), numbered from `start`; returns the paths. The extension picks PNG or JPEG."""

    def write(folder: Path, clip: str, first: int, count: int, size: tuple[int, int], name="images{:04d}.png", start=1):
        frames = _decoded(wlasl_root / "videos" / f"{clip}.mp4", first + count)[first:]
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for n, bgr in enumerate(frames):
            path = folder / name.format(start + n)
            assert cv2.imwrite(str(path), _fit(bgr, *size)), path
            paths.append(path)
        return paths

    return write
