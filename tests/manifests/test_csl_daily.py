"""CSL-Daily: the release layout built in tmp_path from real corpus frames (clip 90033
written as 512x512 JPEGs), labels as video_map.txt and as the pickle, a hostile pickle."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from signprep.manifests import ManifestError, build_manifest, prepare_csl_daily
from signprep.video.decode import DecodeOptions, SampleFrames

SIZE = (512, 512)
SPLIT = [
    "name|split",
    "S000000_P0000_T00|train",  # 2
    "S000001_P0001_T00|dev",  # 3
    "样本_02|test",  # 4: a Chinese folder name
    "S000003_P0002_T00|train",  # 5: no frames: missing
    "S000004_P0003_T00|train",  # 6: no labels
    "S000005_P0004_T00|train",  # 7: its label entry is bad (rejected there, once)
    "S000000_P0000_T00|dev",  # 8: listed twice
    "only-one-cell",  # 9
]
VIDEO_MAP = [
    "index|name|length|gloss|char|word|postag",
    "0|S000000_P0000_T00|8|你们 好|你 们 好 ！|你们 好 ！|r a w",
    "1|S000001_P0001_T00|6|我 学习 手语|我 学 习 手 语 。|我 学习 手语 。|r v n w",
    "2|样本_02|5|谢谢|谢 谢 ！|谢谢 ！|v w",
    "3|S000003_P0002_T00|4|好|好|好|a",
    "4|S000005_P0004_T00|x|坏|坏|坏|a",  # 6: length not a number
    "5|S000001_P0001_T00|6|重复|重 复|重复|v",  # 7: a second entry for one name
]


def _info(name: str, length: int, glosses: str, words: str, signer) -> dict:
    return {"name": name, "length": length, "label_gloss": glosses.split(), "label_char": list(words.replace(" ", "")),
            "label_word": words.split(), "signer": signer}  # fmt: skip


@pytest.fixture(scope="module")
def release(tmp_path_factory, write_frames) -> Path:
    root = tmp_path_factory.mktemp("csl") / "CSL-Daily"
    labels = root / "sentence_label"
    labels.mkdir(parents=True)
    (labels / "split_1.txt").write_text("\n".join(SPLIT) + "\n", encoding="utf-8")
    (labels / "video_map.txt").write_text("\n".join(VIDEO_MAP) + "\n", encoding="utf-8")
    info = [
        _info("S000000_P0000_T00", 8, "你们 好", "你们 好 ！", 0),
        _info("S000001_P0001_T00", 6, "我 学习 手语", "我 学习 手语 。", 1),
        _info("样本_02", 5, "谢谢", "谢谢 ！", 2),
        {"name": "S000003_P0002_T00", "label_gloss": "好"},  # a string, not a list
    ]
    with open(labels / "csl2020ct_v2.pkl", "wb") as f:
        pickle.dump({"info": info, "gloss_map": ["你们", "好"]}, f)
    frames = root / "sentence" / "frames_512x512"
    for name, first, count in [("S000000_P0000_T00", 0, 8), ("S000001_P0001_T00", 100, 6), ("样本_02", 300, 5)]:
        write_frames(frames / name, "90033", first, count, SIZE, name="{:06d}.jpg", start=0)
    return root


def test_every_record_field_from_video_map(release: Path):
    manifest = prepare_csl_daily(release)
    frames = release / "sentence" / "frames_512x512"
    by_id = {r.sample_id: r for r in manifest.records}
    assert list(by_id) == ["S000000_P0000_T00", "S000001_P0001_T00", "样本_02"]
    first = by_id["S000000_P0000_T00"]
    assert first.video_path == str(frames / "S000000_P0000_T00")
    assert (first.glosses, first.translation) == (("你们", "好"), "你们好！")
    assert (first.gloss, first.label, first.signer_id, first.split, first.fps) == (None, -1, None, "train", 30.0)
    assert (first.dataset, first.video_id, first.frame_start, first.frame_end) == ("csl-daily", first.sample_id, 1, -1)
    assert first.extra == {"length": 8, "words": ["你们", "好", "！"]}
    second = by_id["S000001_P0001_T00"]
    assert (second.split, second.glosses, second.translation) == ("dev", ("我", "学习", "手语"), "我学习手语。")
    chinese = by_id["样本_02"]
    assert (chinese.split, chinese.video_path, chinese.glosses) == ("test", str(frames / "样本_02"), ("谢谢",))
    [missing] = manifest.missing
    assert (missing.sample_id, missing.glosses) == ("S000003_P0002_T00", ("好",))


def test_bad_entries_are_rejected_once_each(release: Path):
    labels, split = release / "sentence_label" / "video_map.txt", release / "sentence_label" / "split_1.txt"
    assert [(r.metadata, r.location, r.sample_id, r.reason) for r in prepare_csl_daily(release).rejected] == [
        (str(labels), "line 6", "S000005_P0004_T00", "'length' 'x' is not a whole number of frames"),
        (str(labels), "line 7", "S000001_P0001_T00",
         "'S000001_P0001_T00' is listed twice (first on line 3, which is kept)"),
        (str(split), "line 6", "S000004_P0003_T00", f"no labels for 'S000004_P0003_T00' in {labels}"),
        (str(split), "line 8", "S000000_P0000_T00",
         "duplicate sample id 'S000000_P0000_T00': already used by line 2 (the first is kept)"),
        (str(split), "line 9", "only-one-cell", "1 cells, the header has 2"),
    ]  # fmt: skip


def test_labels_from_the_pickle_carry_signers(release: Path):
    pkl = release / "sentence_label" / "csl2020ct_v2.pkl"
    manifest = build_manifest("csl-daily", release, labels=pkl, splits="train,test")
    assert [(r.sample_id, r.signer_id, r.glosses, r.translation) for r in manifest.records] == [
        ("S000000_P0000_T00", 0, ("你们", "好"), "你们好！"),
        ("样本_02", 2, ("谢谢",), "谢谢！"),
    ]
    assert [(r.location, r.reason) for r in manifest.rejected if r.metadata == str(pkl)] == [
        ("info entry 3", "'label_gloss' must be a non-empty list of strings, got '好'"),
    ]


def test_frames_decode_at_30_fps(release: Path):
    record = prepare_csl_daily(release).records[1]
    sample = SampleFrames(record.video_path, DecodeOptions(), source_fps=record.fps)
    [(_, decoded)] = list(sample.attempts())
    assert (
        len(list(decoded)) == 6 and sample.info.source_fps == 30.0 and (sample.info.width, sample.info.height) == SIZE
    )


class _RunsCode:
    """What a hostile label pickle holds: unpickling it calls Path.touch on a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(release: Path, tmp_path: Path):
    marker = tmp_path / "code-ran"
    hostile = tmp_path / "csl2020ct_v2.pkl"
    with open(hostile, "wb") as f:
        pickle.dump({"info": [_RunsCode(marker)]}, f)
    with pytest.raises(ManifestError, match="refused: a metadata pickle may hold plain data only") as error:
        prepare_csl_daily(release, labels=hostile)
    assert str(hostile) in str(error.value) and "pathlib" in str(error.value)
    assert not marker.exists(), "unpickling ran the payload"


def test_unparseable_label_files_are_errors(release: Path, tmp_path: Path):
    broken = tmp_path / "csl2020ct_v2.pkl"
    broken.write_bytes(pickle.dumps({"info": []})[:10])
    with pytest.raises(ManifestError, match="not a readable pickle"):
        prepare_csl_daily(release, labels=broken)
    broken.write_bytes(pickle.dumps(["not", "a", "dict"]))
    with pytest.raises(ManifestError, match="expected a dict with an 'info' list"):
        prepare_csl_daily(release, labels=broken)
    text = tmp_path / "video_map.txt"
    text.write_text("name|gloss\nS0|A\n")
    with pytest.raises(ManifestError, match="no column 'index', 'length', 'char', 'word', 'postag'"):
        prepare_csl_daily(release, labels=text)
    with pytest.raises(ManifestError, match="no CSL-Daily frame folder"):
        prepare_csl_daily(release, frames_dir=tmp_path / "nowhere")
    with pytest.raises(ManifestError, match="no CSL-Daily labels in"):
        prepare_csl_daily(tmp_path)
