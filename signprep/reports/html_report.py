"""`signprep report`: one self-contained HTML page about a shard directory.

What a researcher reads before training on it: how many samples per split, gloss and
signer; how long they are; where MediaPipe lost the hands or the face (per signer, per
sample, the worst samples with their contact sheets); what failed in the last run, by
stage and reason; what each modality costs on disk; the pipeline configuration; contact
sheets of a few samples and an H.264 MP4 of one.

Everything is embedded (plots and contact sheets as data-URI images, the MP4 as a
data-URI <video>): the page opens offline, from any folder, in any browser. A small
inline script records what the browser decoded in the `#page-check` element's data
attributes (image count, decoded images, the video's duration) and shows the video's
duration under it.
"""

from __future__ import annotations

import base64
import html
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from signprep import __version__
from signprep.atomic import atomic_write_text
from signprep.kernels.keypoint_quality import FIGURES, summarise_figures
from signprep.reports import report_figures as plots
from signprep.reports.contact_sheet import contact_sheet, write_mp4
from signprep.reports.shard_facts import (
    ERRORS_FILE,
    SampleFacts,
    gather_samples,
    read_errors,
    read_summary,
)
from signprep.shards.reader import ShardReader

USABLE_HAND_FRACTION = 0.5  # the page counts samples with at least this much of the dominant hand
BARS_UP_TO = 40  # glosses or signers drawn one bar each; beyond, the most frequent ones
TABLE_ROWS_UP_TO = 2000  # rows of the full per-sample and failure tables
SHEET_COLUMNS = 6  # frames per contact sheet on the page
SHEET_WIDTH = 1200  # pixels the sheets are scaled to (JPEG): ~150 kB each
VIDEO_FRAMES_UP_TO = 240  # the embedded MP4 is of a sample at most this long (the page stays a few MB)

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d1d1f; }
body { background: #fafafa; }
main { max-width: 1240px; margin: 0 auto; padding: 16px 24px 64px; }
h1 { font-size: 22px; margin: 16px 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 18px 0 6px; }
nav a { margin-right: 12px; } .muted { color: #666; } .bad { color: #b00020; font-weight: 600; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f5; } tr:nth-child(even) td { background: #f6f7f9; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 8px; }
.fact { background: white; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; }
.fact b { display: block; font-size: 18px; }
img.plot { max-width: 100%; border: 1px solid #eee; background: white; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }
.card { background: white; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
.card:target { grid-column: 1 / -1; outline: 3px solid #4c78a8; }
.card img { width: 100%; } .card .title { font-weight: 600; }
pre { background: #f0f0f0; padding: 10px; overflow: auto; font-size: 12px; }
video { max-width: 100%; background: black; }
"""

CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var check = document.getElementById("page-check");
  var images = Array.prototype.slice.call(document.images);
  check.dataset.images = images.length;
  check.dataset.imagesDecoded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var video = document.querySelector("video");
  if (!video) return;
  function done() {
    check.dataset.videoDuration = video.duration;
    document.getElementById("video-duration").textContent = "duration " + video.duration.toFixed(2) + " s";
  }
  if (video.readyState >= 1) done(); else video.addEventListener("loadedmetadata", done);
});
"""


# ------------------------------------------------------------------------------------------ small pieces
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def anchor(sample_id: str) -> str:
    """The id of a sample's card on the page (ids may hold any character; HTML ids may not hold spaces)."""
    return "sample-" + re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"_{ord(m.group()):x}_", sample_id)


def _png_img(png: bytes, alt: str) -> str:
    return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _jpeg_img(rgb: np.ndarray, alt: str) -> str:
    if rgb.shape[1] > SHEET_WIDTH:
        h = round(rgb.shape[0] * SHEET_WIDTH / rgb.shape[1])
        rgb = cv2.resize(rgb, (SHEET_WIDTH, h), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise OSError("OpenCV could not encode a contact sheet as JPEG")
    return f'<img alt="{_e(alt)}" src="data:image/jpeg;base64,{base64.b64encode(jpeg.tobytes()).decode()}">'


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Iterable[int] = ()) -> str:
    numeric = set(numeric)
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>" for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = cell if isinstance(cell, _Html) else _e(_fmt(cell))
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Html(str):
    """Text already escaped (a link in a table cell)."""


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _mb(n: float) -> str:
    return f"{n / 1e6:,.2f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def _link(sample_id: str) -> _Html:
    return _Html(f'<a href="#{anchor(sample_id)}">{_e(sample_id)}</a>')


# ------------------------------------------------------------------------------------------ sections
def _overview(root: Path, reader: ShardReader, facts: list[SampleFacts], errors: list[dict], summary) -> str:
    index = reader.index
    frames = sum(f.num_frames for f in facts)
    seconds = sum(f.seconds for f in facts)
    nbytes = sum(s.get("bytes", 0) for s in index.shards.values())
    failed = sum(1 for r in errors if r.get("status") == "failed")
    not_extracted = len(errors) - failed
    cells = [
        ("samples", f"{len(facts):,}"),
        ("frames", f"{frames:,}"),
        ("video", f"{seconds / 60:,.1f} min"),
        ("glosses", f"{len({g for f in facts for g in f.gloss_tokens}):,}"),
        ("signers", f"{len({f.signer_id for f in facts}):,}"),
        ("shards", f"{len(index.shards)} ({_mb(nbytes)})"),
        ("failed (last run)", f"{failed}"),
        ("not extracted (missing, rejected)", f"{not_extracted}"),
    ]
    facts_html = "".join(f'<div class="fact"><span class="muted">{_e(k)}</span><b>{_e(v)}</b></div>' for k, v in cells)
    ran = ""
    if summary:
        ran = (
            f"<p class='muted'>Last run: {summary.get('done_now', 0)} extracted, {summary.get('skipped', 0)} skipped, "
            f"{len(summary.get('failed') or [])} failed, {len(summary.get('missing') or [])} missing videos, "
            f"{summary.get('frames', 0):,} frames in {float(summary.get('seconds') or 0):.0f} s, exit code "
            f"{summary.get('exit_code')}.</p>"
        )
    return (
        f"<p class='muted'>{_e(root.resolve())} &middot; pipeline <b>{_e(index.pipeline.get('name'))}</b> "
        f"(hash {_e(index.pipeline_hash)}) &middot; signprep {_e(__version__)} &middot; written "
        f"{_e(time.strftime('%Y-%m-%d %H:%M'))}</p><div class='facts'>{facts_html}</div>{ran}"
    )


def _samples_section(facts: list[SampleFacts]) -> str:
    by_split: dict[str, list[SampleFacts]] = defaultdict(list)
    for f in facts:
        by_split[f.split or "(none)"].append(f)
    splits = sorted(by_split)
    split_rows = [
        (
            s,
            len(v),
            sum(f.num_frames for f in v),
            len({g for f in v for g in f.gloss_tokens}),
            len({f.signer_id for f in v}),
        )
        for s, v in sorted(by_split.items())
    ]
    parts = [
        "<h3>Per split</h3>",
        _table(["split", "samples", "frames", "glosses", "signers"], split_rows, (1, 2, 3, 4)),
    ]
    # a sentence counts once for each gloss it signs (so a gloss's bar is its occurrences)
    sentences = any(f.glosses and not f.gloss for f in facts)
    counted = "occurrences in samples" if sentences else "samples"
    for what, key in (("gloss", lambda f: f.gloss_tokens), ("signer", lambda f: (f.signer_id,))):
        counts = Counter(name for f in facts for name in key(f))
        shown = [name for name, _ in counts.most_common(BARS_UP_TO)]
        per_split = {s: Counter(name for f in by_split[s] for name in key(f)) for s in splits}
        stacks = {s: [per_split[s][name] for name in shown] for s in splits}
        more = f" (the {BARS_UP_TO} most frequent of {len(counts)})" if len(counts) > BARS_UP_TO else ""
        unit = counted if what == "gloss" else "samples"
        parts.append(f"<h3>Per {what}{more}</h3>")
        parts.append(
            _png_img(
                plots.stacked_bars_png(shown, stacks, title=f"{unit} per {what}, by split", ylabel=unit),
                f"{unit} per {what}",
            )
        )
        if len(counts) > BARS_UP_TO:
            parts.append(
                _png_img(
                    plots.histogram_png(list(counts.values()), title=f"samples per {what}", xlabel="samples"),
                    f"distribution of samples per {what}",
                )
            )
    parts.append("<h3>Length</h3>")
    parts.append(
        _png_img(
            plots.histogram_png([f.num_frames for f in facts], title="stored frames per sample", xlabel="frames"),
            "frame-count histogram",
        )
    )
    lengths = [f.num_frames for f in facts]
    parts.append(
        f"<p>Frames per sample: min {min(lengths)}, median {statistics.median(lengths):g}, max {max(lengths)}.</p>"
    )
    return "\n".join(parts)


def _rate(facts: Sequence[SampleFacts], figure: str) -> float:
    """Fraction of the frames of `facts` with the part of `figure` (frame-weighted over samples)."""
    frames = sum(f.num_frames for f in facts)
    return sum(f.quality[figure] * f.num_frames for f in facts) / frames if frames else 0.0


def worst_samples(facts: Sequence[SampleFacts], n: int) -> list[SampleFacts]:
    """The `n` samples with the least of their dominant hand, then of the face (ties: sample id)."""
    with_quality = [f for f in facts if f.quality]
    key = lambda f: (f.quality["dominant_hand_fraction"], f.quality["face_fraction"], f.sample_id)  # noqa: E731
    return sorted(with_quality, key=key)[:n]


def _quality_section(facts: list[SampleFacts], worst: list[SampleFacts]) -> str:
    rated = [f for f in facts if f.quality]
    if not rated:
        return "<p>No keypoints stored: no quality figures.</p>"
    parts = []
    usable = Counter(f.split or "(none)" for f in rated if f.quality["dominant_hand_fraction"] >= USABLE_HAND_FRACTION)
    totals = Counter(f.split or "(none)" for f in rated)
    parts.append(
        f"<p><b>{sum(usable.values())} of {len(rated)}</b> samples have the dominant hand in at least "
        f"{USABLE_HAND_FRACTION:.0%} of their frames ("
        + ", ".join(f"{s}: {usable[s]} of {totals[s]}" for s in sorted(totals))
        + '). In Python: <code>ShardReader(DIR).ids(split="train", min_quality={"dominant_hand_fraction": '
        f"{USABLE_HAND_FRACTION}}})</code>; the torch datasets take the same <code>min_quality</code>.</p>"
    )
    by_signer: dict[str, list[SampleFacts]] = defaultdict(list)
    for f in rated:
        by_signer[f.signer_id].append(f)
    signers = sorted(by_signer, key=lambda s: (-len(by_signer[s]), s))[:BARS_UP_TO]
    figures = {"left hand": "left_hand_fraction", "right hand": "right_hand_fraction", "face": "face_fraction"}
    rates = {label: [_rate(by_signer[s], fig) for s in signers] for label, fig in figures.items()}
    parts.append("<h3>Detection per signer</h3>")
    parts.append(_png_img(plots.grouped_rates_png(signers, rates, title="frames with each part, per signer"),
                          "detection rates per signer"))  # fmt: skip
    signer_rows = []
    for s in sorted(by_signer, key=lambda s: _rate(by_signer[s], "dominant_hand_fraction")):
        group = by_signer[s]
        jitter = [f.quality["shoulder_jitter_px"] for f in group if f.quality["shoulder_jitter_px"] is not None]
        signer_rows.append((
            s, len(group), sum(f.num_frames for f in group), _rate(group, "dominant_hand_fraction"),
            _rate(group, "left_hand_fraction"), _rate(group, "right_hand_fraction"), _rate(group, "face_fraction"),
            statistics.median(jitter) if jitter else None,
        ))  # fmt: skip
    parts.append(
        _table(
            ["signer", "samples", "frames", "dominant hand", "left hand", "right hand", "face", "shoulder jitter px"],
            signer_rows,
            range(1, 8),
        )
    )
    parts.append("<h3>Per sample</h3>")
    parts.append(
        _png_img(
            plots.histogram_png(
                [f.quality["dominant_hand_fraction"] for f in rated],
                bins=np.linspace(0, 1, 21),
                title="fraction of frames with the dominant hand",
                xlabel="fraction of frames",
            ),
            "dominant hand histogram",
        )  # fmt: skip
    )
    header = ["sample", "split", "gloss", "signer", "frames", "dominant", "dominant hand", "left hand", "right hand",
              "face", "longest gap (dominant)", "upper-body visibility", "shoulder jitter px"]  # fmt: skip

    def row(f: SampleFacts, link: bool) -> tuple:
        q = f.quality
        return (_link(f.sample_id) if link else f.sample_id, f.split, f.label_text, f.signer_id, f.num_frames,
                q["dominant_hand"], q["dominant_hand_fraction"], q["left_hand_fraction"], q["right_hand_fraction"],
                q["face_fraction"], q["dominant_hand_longest_gap"], q["upper_body_visibility"],
                q["shoulder_jitter_px"])  # fmt: skip

    numeric = (4, 6, 7, 8, 9, 10, 11, 12)
    parts.append(f"<p>The {len(worst)} samples with the least of their dominant hand (then of the face); "
                 "each links to its contact sheet below.</p>")  # fmt: skip
    parts.append(_table(header, [row(f, True) for f in worst], numeric))
    ranked = sorted(rated, key=lambda f: (f.quality["dominant_hand_fraction"], f.quality["face_fraction"], f.sample_id))
    cut = f" (the first {TABLE_ROWS_UP_TO})" if len(ranked) > TABLE_ROWS_UP_TO else ""
    parts.append(f"<details><summary>Every sample, worst first{cut}</summary>")
    shown = {f.sample_id for f in worst}
    parts.append(_table(header, [row(f, f.sample_id in shown) for f in ranked[:TABLE_ROWS_UP_TO]], numeric))
    parts.append("</details>")
    summary = summarise_figures(f.quality for f in rated)
    parts.append("<h3>Definitions</h3>")
    parts.append(
        _table(
            ["figure", "definition", "min", "median", "max"],
            [
                (name, text, *(summary.get(name, {}).get(k) for k in ("min", "median", "max")))
                for name, text in FIGURES.items()
            ],
            (2, 3, 4),
        )  # fmt: skip
    )
    return "\n".join(parts)


def _first_line(error: Any) -> str:
    text = str(error or "").strip()
    return text.splitlines()[0] if text else "(no message)"


def _reason(error: str) -> str:
    """The first line of an error, with paths and numbers generalised, so alike failures group."""
    line = _first_line(error)
    line = re.sub(r"(?:[A-Za-z]:)?[^\s:'\"()]*[/\\][^\s:'\"()]*", "<path>", line)
    return re.sub(r"\b\d+\b", "N", line)[:200]


def _failures_section(errors: list[dict]) -> str:
    if not errors:
        return f"<p>None: the last run left {ERRORS_FILE} empty (or there is none).</p>"
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for r in errors:
        groups[(str(r.get("stage") or ""), str(r.get("status") or ""), _reason(str(r.get("error") or "")))].append(
            str(r.get("sample_id") or "")
        )
    by_stage = Counter(str(r.get("stage") or "") for r in errors)
    parts = [
        "<h3>By stage</h3>",
        _table(["stage", "samples"], sorted(by_stage.items(), key=lambda kv: -kv[1]), (1,)),
        "<h3>By stage and reason</h3>",
        _table(
            ["stage", "status", "reason", "samples", "sample ids"],
            [
                (stage, status, reason, len(ids), ", ".join(ids[:12]) + (" ..." if len(ids) > 12 else ""))
                for (stage, status, reason), ids in sorted(groups.items(), key=lambda kv: -len(kv[1]))
            ],
            (3,),
        ),  # fmt: skip
        f"<details><summary>Every row of {ERRORS_FILE}</summary>",
        _table(
            ["sample", "status", "stage", "error"],
            [
                (r.get("sample_id"), r.get("status"), r.get("stage"), _first_line(r.get("error")))
                for r in errors[:TABLE_ROWS_UP_TO]
            ],
        ),  # fmt: skip
        "</details>",
    ]
    return "\n".join(parts)


def _storage_section(reader: ShardReader, facts: list[SampleFacts]) -> str:
    totals: Counter[str] = Counter()
    for f in facts:
        totals.update(f.stored_bytes)
    frames = sum(f.num_frames for f in facts) or 1
    data = sum(totals.values())
    files = sum(s.get("bytes", 0) for s in reader.index.shards.values())
    names = [name for name, _ in totals.most_common()]
    rows = [(name, _mb(totals[name]), totals[name] / frames, 100 * totals[name] / max(1, data)) for name in names]
    rows.append(("(HDF5 metadata, attributes, free space)", _mb(max(0, files - data)), max(0, files - data) / frames,
                 100 * max(0, files - data) / max(1, files)))  # fmt: skip
    return (
        _png_img(
            plots.horizontal_bars_png(
                names,
                [totals[n] / frames for n in names],
                title="stored bytes per frame, per dataset",
                xlabel="bytes per frame",
            ),
            "storage per modality",
        )  # fmt: skip
        + _table(["dataset", "stored", "bytes per frame", "% of the data"], rows, (1, 2, 3))
    )


def _person_box_section(facts: list[SampleFacts]) -> str:
    boxed = [f for f in facts if f.person_box]
    if not boxed:
        return ""
    basis = Counter(f.person_box_basis for f in boxed)
    sides = [max(f.person_box[2] - f.person_box[0], f.person_box[3] - f.person_box[1]) / min(f.width, f.height)
             for f in boxed]  # fmt: skip
    return (
        "<h2 id='person-box'>Person box</h2><p>Every image modality shows the sample's person box (<code>fit: "
        "person</code>): "
        + ", ".join(f"{n} from {_e(b)}" for b, n in basis.most_common())
        + ".</p>"
        + _png_img(
            plots.histogram_png(
                sides, title="person box side / the frame's short side", xlabel="box side / short side"
            ),
            "person box sizes",
        )  # fmt: skip
    )


def _cards(cards: list[tuple[SampleFacts, np.ndarray, str]]) -> str:
    out = []
    for f, sheet, why in cards:
        q = f.quality
        line = (f"dominant hand ({q['dominant_hand']}) {q['dominant_hand_fraction']:.2f}, face {q['face_fraction']:.2f}"
                if q else "no keypoints")  # fmt: skip
        out.append(
            f'<div class="card" id="{anchor(f.sample_id)}"><div class="title">{_e(f.sample_id)} &middot; '
            f"{_e(f.label_text)} &middot; signer {_e(f.signer_id)} &middot; {_e(f.split)}</div>"
            f'<div class="muted">{_e(why)}; {f.num_frames} frames; {_e(line)}</div>'
            f'<a href="#{anchor(f.sample_id)}" title="full width">'
            f"{_jpeg_img(sheet, f'contact sheet of {f.sample_id}')}</a></div>"
        )
    return f"<div class='cards'>{''.join(out)}</div>"


def _video(reader: ShardReader, sample: SampleFacts) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{sample.sample_id}.mp4"
        write_mp4(reader[sample.sample_id], reader.index.pipeline, path)
        data = base64.b64encode(path.read_bytes()).decode()
    return (
        f"<p>Sample {_link(sample.sample_id)} ({_e(sample.label_text)}, {sample.num_frames} frames), every stored "
        f"frame with a tile per modality (H.264):</p>"
        f'<video controls muted loop playsinline preload="auto" src="data:video/mp4;base64,{data}"></video>'
        f'<p class="muted" id="video-duration"></p>'
    )


def example_samples(facts: Sequence[SampleFacts], n: int, skip: set[str]) -> list[SampleFacts]:
    """`n` samples, none of `skip`: the middle sample of each of `n` signers spread evenly over the
    signers (in sample-id order of their first sample), then others when there are fewer signers."""
    pool = [f for f in facts if f.sample_id not in skip]
    by_signer: dict[str, list[SampleFacts]] = {}
    for f in pool:
        by_signer.setdefault(f.signer_id, []).append(f)
    signers = list(by_signer)
    picked = dict.fromkeys(signers[round(i * (len(signers) - 1) / max(1, n - 1))] for i in range(min(n, len(signers))))
    chosen = [by_signer[s][len(by_signer[s]) // 2] for s in picked]
    chosen += [f for f in pool if f not in chosen][: max(0, n - len(chosen))]
    return chosen


def build_report(root: Path, *, worst: int = 8, examples: int = 3, video: bool = True, progress: bool = False) -> str:
    """The page's HTML for the shard directory `root` (see the module docstring)."""
    root = Path(root)
    with ShardReader(root) as reader:
        facts = gather_samples(reader, progress=progress)
        if not facts:
            raise ValueError(f"{root}: the shard index names no samples")
        errors, summary = read_errors(root), read_summary(root)
        worst_facts = worst_samples(facts, worst)
        example_facts = example_samples(facts, examples, {f.sample_id for f in worst_facts})
        wanted = [(f, "worst") for f in worst_facts] + [(f, "example") for f in example_facts]
        cards = []
        for f, why in tqdm(wanted, desc="contact sheets", unit="sample", disable=not progress, leave=False):
            label = "among the worst for hands and face" if why == "worst" else "an example"
            cards.append((f, contact_sheet(reader[f.sample_id], reader.index.pipeline, SHEET_COLUMNS), label))
        short = [f for f in example_facts + worst_facts if f.num_frames <= VIDEO_FRAMES_UP_TO]
        video_html = _video(reader, short[0]) if video and short else "<p>No video (no sample short enough).</p>"
        sections = [
            ("overview", "Overview", _overview(root, reader, facts, errors, summary)),
            ("samples", "Samples", _samples_section(facts)),
            ("quality", "Keypoint quality", _quality_section(facts, worst_facts)),
            ("failures", "Failures of the last run", _failures_section(errors)),
            ("storage", "Storage per modality", _storage_section(reader, facts)),
            ("sheets", "Contact sheets", _cards(cards)),
            ("video", "Video", video_html),
            ("pipeline", "Pipeline", f"<pre>{_e(yaml.safe_dump(reader.index.pipeline, sort_keys=False))}</pre>"),
        ]
        person = _person_box_section(facts)
    nav = " ".join(f'<a href="#{key}">{_e(title)}</a>' for key, title, _ in sections)
    body = "\n".join(f'<h2 id="{key}">{_e(title)}</h2>\n{content}' for key, title, content in sections)
    body = body.replace('<h2 id="failures">', person + '<h2 id="failures">') if person else body
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>signprep report: "
        f"{_e(root.name)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>signprep report: {_e(root.name)}</h1><nav>{nav}</nav>\n{body}\n"
        f"<div id='page-check' hidden></div><script>{CHECK_SCRIPT}</script></main></body></html>\n"
    )


def write_report(root: Path, html_path: Path, *, progress: bool = False, **options: Any) -> tuple[Path, int]:
    """Write `build_report(root)` to `html_path` atomically; returns (path, bytes)."""
    page = build_report(root, progress=progress, **options)
    atomic_write_text(html_path, page)
    return html_path, len(page.encode())
