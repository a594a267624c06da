"""`signprep report`: one self-contained page whose every image and video decodes, whose links land, and
whose figures are those of the shards."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from signprep.cli import app
from signprep.reports.html_report import anchor, build_report
from signprep.shards import ShardReader


class Page(HTMLParser):
    """What the tests read from the page: data URIs, ids and links, and every table under its h2/h3."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.videos: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._heading, self._in_heading, self._table, self._row, self._cell = "", False, None, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.images.append(a["src"])
        elif tag == "video":
            self.videos.append(a["src"])
        elif tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        elif tag in ("h2", "h3"):
            self._in_heading, self._heading = True, ""
        elif tag == "table":
            self._table = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("h2", "h3"):
            self._in_heading = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table" and self._table is not None:
            self.tables.setdefault(self._heading, self._table)  # the first table under each heading
            self._table = None

    def handle_data(self, data):
        if self._in_heading:
            self._heading += data
        if self._cell is not None:
            self._cell += data


def _data(uri: str, kind: str) -> bytes:
    head, _, payload = uri.partition(",")
    assert head.startswith(f"data:{kind}/") and head.endswith(";base64"), head[:40]
    return base64.b64decode(payload, validate=True)


def _rows(table: list[list[str]]) -> dict[str, dict[str, str]]:
    header, *rows = table
    return {row[0]: dict(zip(header, row)) for row in rows}


@pytest.fixture(scope="module")
def page(person_fit_run, tmp_path_factory) -> tuple[Path, str]:
    out, _ = person_fit_run
    html = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(app, ["report", str(out), "--html", str(html), "--worst", "1", "--examples", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("MB)") and str(html) in result.output
    return html, html.read_text(encoding="utf-8")


def test_every_image_decodes_the_video_plays_every_frame_and_every_link_lands(page, person_fit_run):
    _, text = page
    p = Page(text)
    assert len(p.images) >= 8  # plots and two contact sheets
    for uri in p.images:
        data = np.frombuffer(_data(uri, "image"), np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        assert image is not None and image.shape[0] > 50 and image.shape[1] > 100 and image.std() > 1
    import av

    (video,) = p.videos
    with av.open(io.BytesIO(_data(video, "video"))) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in container.decode(stream))
    with ShardReader(person_fit_run[0]) as reader:
        assert frames in {reader[s].num_frames for s in reader}  # one sample, every stored frame
    assert p.links and set(p.links) <= p.ids
    assert "http://" not in text and "https://" not in text  # nothing to fetch: the page works offline


def test_the_figures_are_those_of_the_shards(page, person_fit_run):
    out, _ = person_fit_run
    p = Page(page[1])
    per_signer = _rows(p.tables["Detection per signer"])
    per_sample = _rows(p.tables["Per sample"])
    with ShardReader(out) as reader:
        for sample_id in reader:
            view = reader[sample_id]
            present, layout = view.read("keypoint_present"), view.layout()
            left = present[:, layout.slice("left_hand")].any(1).mean()
            face = present[:, layout.slice("face")].any(1).mean()
            signer = per_signer[str(view.attrs["signer_id"])]  # one sample per signer here
            assert float(signer["left hand"]) == pytest.approx(left, abs=6e-4)
            assert float(signer["face"]) == pytest.approx(face, abs=6e-4)
            assert int(signer["frames"]) == view.num_frames
        worst = min(reader, key=lambda s: reader.quality(s)["dominant_hand_fraction"])
        assert list(per_sample) == [worst]  # --worst 1
        assert anchor(worst) in p.ids
        storage = _rows(p.tables["Storage per modality"])
        stored = sum(reader[s]["heatmaps"].id.get_storage_size() for s in reader)
        assert storage["heatmaps"]["stored"] == f"{stored / 1e6:,.2f} MB"
        assert set(reader["90012"].datasets) <= set(storage)
    failures = p.tables["By stage and reason"]
    assert sorted((stage, status, n, ids) for stage, status, _, n, ids in failures[1:]) == [
        ("decode", "failed", "1", "broken"), ("manifest", "missing_video", "1", "99999")
    ]  # fmt: skip
    assert ["manifest", "missing_video", "video file not found: <path>"] in [row[:3] for row in failures]
    assert _rows(p.tables["Per split"])["train"]["samples"] == "2"
    assert "fit: person" in page[1] and "person-box" in p.ids  # the pipeline, and the person box section


def test_a_directory_without_errors_file_and_a_sample_id_with_odd_characters(reference_run, tmp_path):
    out, _, _ = reference_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns(".signprep.extraction.lock"))
    (copy / "extract_errors.jsonl").unlink()
    text = build_report(copy, worst=1, examples=0, video=False)
    p = Page(text)
    assert "None: the last run left" in text and not p.videos
    assert anchor("a b/c") == "sample-a_20_b_2f_c" and " " not in anchor("a b")


def test_sentences_count_each_gloss_they_sign(reference_run, tmp_path):
    """A continuous dataset's samples have no gloss but a gloss sequence (index `glosses`, issue 18):
    the gloss bars count occurrences, the tables show the sequence."""
    import json

    out, _, _ = reference_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns(".signprep.extraction.lock"))
    index_path = copy / "shard_index.json"
    index = json.loads(index_path.read_text())
    sentences = [["REGEN", "WETTER"], ["WETTER", "MORGEN", "WETTER"], []]  # the last: unlabelled
    ids = sorted(index["samples"])
    for sample_id, glosses in zip(ids, sentences, strict=False):
        index["samples"][sample_id].update(gloss="", label=-1, glosses=glosses, split="train")
    index_path.write_text(json.dumps(index))
    text = build_report(copy, worst=len(ids), examples=0, video=False)
    p = Page(text)
    assert _rows(p.tables["Per split"])["train"]["glosses"] == "3"  # REGEN, WETTER, MORGEN
    assert "occurrences in samples per gloss" in text
    per_sample = _rows(p.tables["Per sample"])
    assert per_sample[ids[1]]["gloss"] == "WETTER MORGEN WETTER" and per_sample[ids[2]]["gloss"] == ""


def test_a_shard_directory_is_required(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "shard_index.json" in result.output


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (Debian: apt-get install chromium)")
def test_chromium_decodes_every_image_and_plays_the_video(page, tmp_path):
    html, text = page
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000", "--dump-dom",
         html.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    check = next(attrs for tag, attrs in _start_tags(dom) if attrs.get("id") == "page-check")
    assert int(check["data-images"]) == len(Page(text).images)
    assert check["data-images-decoded"] == check["data-images"]
    assert float(check["data-video-duration"]) > 0.5  # the MP4 of a 41- or 62-frame clip at 25-30 fps


def _start_tags(text: str) -> list[tuple[str, dict]]:
    tags: list[tuple[str, dict]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Tags().feed(text)
    return tags


def test_the_quality_section_counts_usable_samples(page, person_fit_run):
    out, _ = person_fit_run
    with ShardReader(out) as reader:
        usable = len(reader.ids(min_quality={"dominant_hand_fraction": 0.5}))
    assert f"<b>{usable} of 2</b> samples have the dominant hand" in page[1]
