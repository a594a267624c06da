"""`signprep extract --dataset {phoenix2014t, phoenix2014, csl-daily, how2sign}` end to end, with real
MediaPipe on the published layouts built in tmp_path from real corpus frames and videos: gloss
sequences and translations in the shards (read with plain h5py) and the index, time ranges cut
from a long video, a bad metadata row rejected and recorded while every other sentence is
extracted (exit 1), then the sentences as CTC batches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest
import torch
import yaml
from typer.testing import CliRunner

from signprep.cli import app
from signprep.data import CTCCollate, GlossVocabulary, ShardDataset
from signprep.data.reference_clips import reference_item
from signprep.shards import ShardReader

PHOENIX = (210, 260)


def extract(root: Path, dataset: str, out: Path, pipeline: Path, *options: str):
    args = ["extract", "--dataset", dataset, "--root", root, "--out", out, "--pipeline", pipeline]
    args += ["--workers", "2", "--no-progress", *options]
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "keypoints.yaml"
    path.write_text(yaml.safe_dump({"name": "keypoints"}))  # the default stages: Holistic keypoints
    return path


def h5_samples(out: Path) -> dict[str, dict]:
    """sample id -> its attributes, read with plain h5py from the shard files."""
    found = {}
    for shard in sorted(out.glob("shard-*.h5")):
        with h5py.File(shard, "r") as f:
            for sid, group in f["samples"].items():
                found[sid] = {**dict(group.attrs), "frames": group["keypoints"].shape[0]}
    return found


def errors(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "extract_errors.jsonl").read_text().splitlines()]


def test_phoenix2014t(tmp_path: Path, write_frames, pipeline: Path):
    base = tmp_path / "PHOENIX-2014-T-release-v3" / "PHOENIX-2014-T"
    manual = base / "annotations" / "manual"
    manual.mkdir(parents=True)
    header = "name|video|start|end|speaker|orth|translation"
    train = [
        header,
        "s1|s1/1/*.png|-1|-1|Signer04|__ON__ JETZT WETTER MORGEN|und nun die wettervorhersage für morgen",
        "s2|s2/1/*.png|-1|-1|Signer04|REGEN WETTER|es regnet",
        "s1|x/1/*.png|-1|-1|Signer09|NOCHMAL|noch einmal",  # line 4: s1 again: rejected, s1 kept
    ]
    dev = [header, "s3|s3/1/*.png|-1|-1|Signer08|WETTER KALT|kalt wird es, sagt der Wetterbericht"]
    (manual / "PHOENIX-2014-T.train.corpus.csv").write_text("\n".join(train) + "\n", encoding="utf-8")
    (manual / "PHOENIX-2014-T.dev.corpus.csv").write_text("\n".join(dev) + "\n", encoding="utf-8")
    frames = base / "features" / "fullFrame-210x260px"
    write_frames(frames / "train" / "s1", "90012", 10, 8, PHOENIX)  # the v3 layout: <split>/<name>/
    write_frames(frames / "train" / "s2", "90029", 5, 6, PHOENIX)
    write_frames(frames / "dev" / "s3", "90031", 5, 5, PHOENIX)
    out = tmp_path / "out"

    result = extract(tmp_path / "PHOENIX-2014-T-release-v3", "phoenix2014t", out, pipeline)
    assert result.exit_code == 1, result.output  # one rejected row: the others are all extracted
    assert "rejected entries    : 1" in result.output and "failed              : 0" in result.output
    (rejected,) = errors(out)
    assert rejected["status"] == "rejected" and rejected["stage"] == "manifest" and rejected["sample_id"] == "s1"
    assert rejected["location"] == "line 4" and "already used by line 2" in rejected["error"]

    samples = h5_samples(out)
    assert sorted(samples) == ["s1", "s2", "s3"]
    s1 = samples["s1"]
    assert list(s1["glosses"]) == ["__ON__", "JETZT", "WETTER", "MORGEN"]  # plain h5py: an array of str
    assert s1["translation"] == "und nun die wettervorhersage für morgen"
    assert (s1["frames"], s1["fps"], s1["signer_id"], s1["split"], s1["decoder"]) == (
        8,
        25.0,
        "Signer04",
        "train",
        "frames",
    )
    assert (s1["width"], s1["height"], s1["label"], s1["gloss"]) == (210, 260, -1, "")
    assert samples["s3"]["translation"] == "kalt wird es, sagt der Wetterbericht" and samples["s3"]["frames"] == 5
    with ShardReader(out) as reader:
        assert reader.index.samples["s2"]["glosses"] == ["REGEN", "WETTER"]
        assert reader.index.samples["s2"]["translation"] == "es regnet"
        assert reader["s1"].attrs["glosses"] == ["__ON__", "JETZT", "WETTER", "MORGEN"]

    # the sentences as CTC batches: the vocabulary of the train split, blank 0, unknown 1
    vocab = GlossVocabulary.from_shards(out, split="train")
    assert vocab.tokens == ["<blank>", "<unk>", "JETZT", "MORGEN", "REGEN", "WETTER", "__ON__"]
    data = ShardDataset(out, clip_len=None, keypoint_subset="signvtcl79")
    batch = CTCCollate(vocab)([data[i] for i in range(len(data))])
    assert data.sample_ids == ["s1", "s2", "s3"]
    assert batch["keypoints"].shape == (3, 8, 79, 3) and batch["input_lengths"].tolist() == [8, 6, 5]
    assert not batch["keypoint_present"][1, 6:].any() and not batch["keypoint_present"][2, 5:].any()
    assert batch["targets"].tolist() == [[6, 2, 5, 3], [4, 5, 0, 0], [5, 1, 0, 0]]  # KALT is not in train
    assert batch["target_lengths"].tolist() == [4, 2, 2]
    assert batch["translation"][2] == "kalt wird es, sagt der Wetterbericht"
    # the read path gives the plain path's items, sequence labels included (issue 22)
    for options in ({}, {"augment": True, "seed": 7}):
        whole = ShardDataset(out, clip_len=None, keypoint_subset="signvtcl79", **options)
        for i in range(len(whole)):
            ours, reference = whole[i], reference_item(whole, i)
            assert ours.keys() == reference.keys(), i
            for key, value in reference.items():
                same = torch.equal(ours[key], value) if torch.is_tensor(value) else ours[key] == value
                assert same, (options, i, key)
    assert reference_item(data, 0)["glosses"] == "__ON__ JETZT WETTER MORGEN"
    log_probs = torch.randn(8, 3, len(vocab)).log_softmax(2)  # (T, B, C), as CTCLoss wants it
    loss = torch.nn.CTCLoss(blank=vocab.BLANK_INDEX)(
        log_probs, batch["targets"], batch["input_lengths"], batch["target_lengths"]
    )
    assert torch.isfinite(loss) and loss > 0


def test_phoenix2014_frame_globs(tmp_path: Path, write_frames, pipeline: Path):
    multi = tmp_path / "phoenix2014-release" / "phoenix-2014-multisigner"
    manual = multi / "annotations" / "manual"
    manual.mkdir(parents=True)
    (manual / "train.corpus.csv").write_text(
        "id|folder|signer|annotation\n"
        "01April_2010_Thursday_heute_default-0|01April_2010_Thursday_heute_default-0/1/*.png|Signer04|"
        "__ON__ LIEB ZUSCHAUER ABEND __OFF__\n",
        encoding="utf-8",
    )
    folder = multi / "features" / "fullFrame-210x260px" / "train" / "01April_2010_Thursday_heute_default-0" / "1"
    write_frames(folder, "90029", 0, 7, PHOENIX, name="01April_2010_Thursday_heute.avi_pid0_fn{:06d}-0.png", start=0)
    (folder / "01April_2010_Thursday_heute.avi_pid0_fn000000-0.png.bak").write_bytes(b"not a frame")  # not *.png
    out = tmp_path / "out"
    result = extract(tmp_path / "phoenix2014-release", "phoenix2014", out, pipeline)
    assert result.exit_code == 0, result.output
    (sample,) = h5_samples(out).values()
    assert list(sample["glosses"]) == ["__ON__", "LIEB", "ZUSCHAUER", "ABEND", "__OFF__"]
    assert (sample["frames"], sample["translation"], sample["signer_id"]) == (7, "", "Signer04")
    assert sample["source_path"].endswith("/1/*.png")


def test_csl_daily(tmp_path: Path, write_frames, pipeline: Path):
    root = tmp_path / "CSL-Daily"
    labels = root / "sentence_label"
    labels.mkdir(parents=True)
    (labels / "split_1.txt").write_text("name|split\nS000000_P0000_T00|train\n样本_02|test\n", encoding="utf-8")
    (labels / "video_map.txt").write_text(
        "index|name|length|gloss|char|word|postag\n"
        "0|S000000_P0000_T00|6|你们 好|你 们 好 ！|你们 好 ！|r a w\n"
        "1|样本_02|5|谢谢|谢 谢 ！|谢谢 ！|v w\n",
        encoding="utf-8",
    )
    frames = root / "sentence" / "frames_512x512"
    write_frames(frames / "S000000_P0000_T00", "90033", 0, 6, (512, 512), name="{:06d}.jpg", start=0)
    write_frames(frames / "样本_02", "90033", 200, 5, (512, 512), name="{:06d}.jpg", start=0)
    out = tmp_path / "out"
    result = extract(root, "csl-daily", out, pipeline)
    assert result.exit_code == 0, result.output
    samples = h5_samples(out)
    assert sorted(samples) == ["S000000_P0000_T00", "样本_02"]  # the Chinese id is the HDF5 group's name
    assert list(samples["样本_02"]["glosses"]) == ["谢谢"] and samples["样本_02"]["translation"] == "谢谢！"
    assert (samples["S000000_P0000_T00"]["frames"], samples["S000000_P0000_T00"]["fps"]) == (6, 30.0)


def test_how2sign_time_ranges_inside_a_long_video(tmp_path: Path, wlasl_root: Path, pipeline: Path):
    root = tmp_path / "How2Sign"
    text = root / "sentence_level" / "train" / "text" / "en" / "raw_text" / "re_aligned"
    text.mkdir(parents=True)
    v = "-d5dN54tH2E"
    (text / "how2sign_realigned_train.csv").write_text(
        "VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART_REALIGNED\tEND_REALIGNED\tSENTENCE\n"
        f"{v}\t{v}-1-rgb_front\t{v}_0\t{v}_0-1-rgb_front\t0.0\t0.5\tWe're going to work.\n"
        f"{v}\t{v}-1-rgb_front\t{v}_1\t{v}_1-1-rgb_front\t10.0\t10.4\tPainting the wall.\n"
        f"{v}\t{v}-1-rgb_front\t{v}_2\t{v}_2-1-rgb_front\t9.0\t8.5\tBackwards.\n",  # rejected: end before start
        encoding="utf-8",
    )
    videos = root / "video_level" / "train" / "rgb_front" / "raw_videos"
    videos.mkdir(parents=True)
    shutil.copy(wlasl_root / "videos" / "90033.mp4", videos / f"{v}-1-rgb_front.mp4")  # 627 frames at 30 fps
    out = tmp_path / "out"
    result = extract(root, "how2sign", out, pipeline)
    assert result.exit_code == 1, result.output
    assert [e["status"] for e in errors(out)] == ["rejected"]
    samples = h5_samples(out)
    first, second = samples[f"{v}_0-1-rgb_front"], samples[f"{v}_1-1-rgb_front"]
    # [0.0, 0.5) s at 30 fps: frames 0..14; [10.0, 10.4) s: frames 300..311 (1-based first/last_frame)
    assert (first["frames"], first["first_frame"], first["last_frame"]) == (15, 1, 15)
    assert (second["frames"], second["first_frame"], second["last_frame"]) == (12, 301, 312)
    assert (second["time_start"], second["time_end"]) == (10.0, 10.4)
    assert second["translation"] == "Painting the wall." and list(second["glosses"]) == []
