"""The disentanglement report of `signprep train disentangle`: linear probes and the swap grid.

Every video of the shard directory (all splits) is encoded at `probe_frames_per_video` evenly
spaced frames (no augmentation, eval-mode batch norm) and probed (`signprep.evaluation.probes`:
signer and gloss from f_a and from f_g, chance beside): the videos the encoders trained on by
grouped cross-validation over videos, and the held-out ones (every other video: other splits,
`heldout_signers`, `heldout_videos`) by a probe fitted on the training videos' codes.
A good split: signer from f_a high and from f_g near chance; gloss the other way.

The grid (`RUN/reconstructions.png`, drawn by `signprep.reports.plots.reconstruction_grid`)
shows, for pairs of videos of one gloss by different signers, the input frames, their
reconstructions, and D(f_a of signer A, f_g of signer B) and the reverse.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from signprep.atomic import atomic_write_text
from signprep.evaluation.probes import ProbeResult, run_heldout_probes, run_probes
from signprep.evaluation.video_codes import VideoCodes, encode_videos, evenly_spaced, video_batch
from signprep.models.disentangle import DisentangleModel
from signprep.reports.plots import GridRow, render_reconstruction_grid
from signprep.shards import ShardReader

__all__ = [
    "GRID_FILE",
    "REPORT_FILE",
    "DisentanglementReport",
    "DisentanglementReportConfig",
    "disentanglement_report",
    "probe_model",
    "reconstruction_rows",
]

REPORT_FILE = "disentangle_report.json"
GRID_FILE = "reconstructions.png"
GRID_TITLE = "disentangled encoders: reconstructions and swaps (first column of a swap: appearance source)"


class DisentanglementReportConfig(BaseModel):
    """The report keys of a disentangle model config (`models/disentangle.yaml`, "disentanglement report")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    probe_folds: int = Field(default=0, ge=0)  # 0: leave one video out; k >= 2: GroupKFold(k)
    probe_frames_per_video: int = Field(default=16, gt=0)  # evenly spaced frames encoded per video
    probe_c: float = Field(default=1.0, gt=0)
    grid_pairs: int = Field(default=2, ge=1)
    grid_columns: int = Field(default=8, ge=1)
    # kept out of training (whatever their split) and probed as held-out videos, beside the training videos
    heldout_signers: tuple[str, ...] = ()
    heldout_videos: tuple[str, ...] = ()  # sample ids


def probe_model(
    model: DisentangleModel, shards: str | Path, config: DisentanglementReportConfig, trained_ids: Collection[str]
) -> tuple[list[ProbeResult], list[ProbeResult]]:
    """(probes of the training videos, probes of the held-out ones) on the codes of `probe_frames_per_video`
    evenly spaced frames of every video of `shards`; `trained_ids` are the videos the encoders trained on."""
    videos = encode_videos(model, shards, max_frames=config.probe_frames_per_video, temporal=False)
    return _probes(videos, config, trained_ids)


def _probes(
    videos: Sequence[VideoCodes], config: DisentanglementReportConfig, trained_ids: Collection[str]
) -> tuple[list[ProbeResult], list[ProbeResult]]:
    trained = [v for v in videos if v.sample_id in trained_ids]
    heldout = [v for v in videos if v.sample_id not in trained_ids and v.label >= 0]
    probes = run_probes(trained, config.probe_folds, config.probe_c)
    return probes, run_heldout_probes(trained, heldout, config.probe_c) if heldout else []


@dataclass
class DisentanglementReport:
    probes: list[ProbeResult]
    videos: int
    signers: int
    glosses: int
    folds: int
    grid: Path | None = None
    grid_pairs: list[tuple[str, str]] = field(default_factory=list)
    init_probes: list[ProbeResult] | None = None  # the same probes on the untrained model
    heldout_probes: list[ProbeResult] = field(default_factory=list)  # fitted on the training videos
    heldout_videos: int = 0
    init_heldout_probes: list[ProbeResult] | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["grid"] = str(self.grid) if self.grid else None
        return d

    def render(self) -> str:
        cv = "leave one video out" if self.folds == 0 else f"GroupKFold({self.folds}) over videos"
        lines = [
            f"disentanglement report: {self.videos} training videos, {self.signers} signers, {self.glosses} glosses",
            f"linear probe (standardised logistic regression), {cv}; classes in < 2 videos left out;",
            "chance = max(1/K, always the fitting folds' most frequent class)",
            *self._table(self.probes, self.init_probes),
        ]
        if self.heldout_videos:
            lines += [
                f"held-out videos ({self.heldout_videos}, never trained on): the probe fitted on the training videos' "
                "codes; rows whose class no training video has are left out",
                *self._table(self.heldout_probes, self.init_heldout_probes),
            ]
        lines.append(
            "a good split: signer from f_a high, from f_g near chance; gloss from f_g high, from f_a near chance"
        )
        if self.grid is not None:
            lines.append(f"reconstructions and swaps: {self.grid}")
        return "\n".join(lines)

    @staticmethod
    def _table(probes: Sequence[ProbeResult], init_probes: Sequence[ProbeResult] | None) -> list[str]:
        lines = [
            f"{'level':6} {'predict':7} {'from':14} {'accuracy':>8} {'at init':>7} {'chance':>7} {'K':>3} {'rows':>5} "
            f"{'videos':>6} {'left out':>8}"
        ]
        init = {(p.level, p.target, p.code): p.accuracy for p in init_probes or []}
        for p in probes:
            code = "f_a appearance" if p.code == "appearance" else "f_g sign"
            at_init = init.get((p.level, p.target, p.code))
            at_init_text = f"{at_init:7.3f}" if at_init is not None else f"{'-':>7}"
            lines.append(
                f"{p.level:6} {p.target:7} {code:14} {p.accuracy:8.3f} {at_init_text} {p.chance:7.3f} {p.classes:3d} "
                f"{p.rows:5d} {p.groups:6d} {p.excluded:8d}"
            )
        return lines


def disentanglement_report(
    model: DisentangleModel,
    shards: str | Path,
    config: DisentanglementReportConfig,
    out_dir: str | Path,
    trained_ids: Collection[str],
    init_probes: tuple[list[ProbeResult], list[ProbeResult]] | None = None,
) -> DisentanglementReport:
    """Probe every video of `shards` (the `trained_ids` by cross-validation, the others held out), draw the
    reconstruction grid; writes `disentangle_report.json` and `reconstructions.png` into `out_dir`.
    `init_probes`: the untrained model's `probe_model` result, shown beside."""
    out_dir = Path(out_dir)
    videos = encode_videos(model, shards, max_frames=config.probe_frames_per_video, temporal=False)
    probes, heldout_probes = _probes(videos, config, trained_ids)
    trained = [v for v in videos if v.sample_id in trained_ids]
    pairs = _grid_pairs(trained, config.grid_pairs)
    grid = out_dir / GRID_FILE
    render_reconstruction_grid(reconstruction_rows(model, shards, pairs, config.grid_columns), grid, GRID_TITLE)
    report = DisentanglementReport(
        probes,
        videos=len(trained),
        signers=len({v.signer_id for v in trained}),
        glosses=len({v.gloss for v in trained}),
        folds=config.probe_folds,
        grid=grid,
        grid_pairs=pairs,
        init_probes=init_probes[0] if init_probes else None,
        heldout_probes=heldout_probes,
        heldout_videos=len([v for v in videos if v.sample_id not in trained_ids and v.label >= 0]),
        init_heldout_probes=init_probes[1] if init_probes else None,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / REPORT_FILE, json.dumps(report.to_dict(), indent=1))
    return report


# ---------------------------------------------------------------------------------------------- image grid
def _grid_pairs(videos: Sequence[VideoCodes], n: int) -> list[tuple[str, str]]:
    """Up to n (A, B) pairs of videos of one gloss by different signers, else of any two signers."""
    by_gloss: dict[str, list[VideoCodes]] = {}
    for v in videos:
        by_gloss.setdefault(v.gloss, []).append(v)
    pairs = []
    for g in sorted(by_gloss):
        vs = by_gloss[g]
        for a in vs:
            b = next((b for b in vs if b.signer_id != a.signer_id), None)
            if b is not None:
                pairs.append((a.sample_id, b.sample_id))
                break
    if not pairs:
        firsts: dict[str, str] = {}
        for v in videos:
            firsts.setdefault(v.signer_id, v.sample_id)
        ids = list(firsts.values())
        pairs = list(zip(ids[0::2], ids[1::2])) or [(ids[0], ids[0])]
    return pairs[:n]


def _rgb(image: torch.Tensor) -> np.ndarray:
    """(3, h, w) float in [0, 1] -> (h, w, 3) uint8."""
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def reconstruction_rows(
    model: DisentangleModel, shards: str | Path, pairs: Sequence[tuple[str, str]], columns: int = 8
) -> list[list[GridRow]]:
    """The grid's rows, one group per pair (A, B): A input, D(f_a^t, f_g^t) of A, B input, its
    reconstruction, D(f_a of A, f_g of B at t) and D(f_a of B, f_g of A at t); `columns` evenly
    spaced frames; the first tile of a swap row is the appearance source frame (the video's
    middle frame). Body stream only."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    hands = model.config.hand_stream
    groups: list[list[GridRow]] = []
    with ShardReader(shards) as reader:
        for a_id, b_id in pairs:
            data = {}
            for sid in (a_id, b_id):
                view = reader[sid]
                frames = evenly_spaced(view.num_frames, columns)
                batch = {k: v.to(device) for k, v in video_batch(view, hands, frames).items()}
                enc = model.encode(batch)
                fa, fg = enc["codes"]["body"]
                mid = view.num_frames // 2
                mid_batch = {k: v.to(device) for k, v in video_batch(view, hands, [mid]).items()}
                mid_a = model.encode(mid_batch)["codes"]["body"][0][0, 0, 0]  # (da,)
                a = view.attrs
                data[sid] = {
                    "images": enc["images"]["body"][0][0, :, 0],  # (t, 3, h, w)
                    "fa": fa[0, :, 0],
                    "fg": fg[0, :, 0],
                    "mid_a": mid_a,
                    "mid_image": view.read("background_removed", slice(mid, mid + 1))[0],
                    "desc": f"{sid} '{a.get('gloss')}' signer {a.get('signer_id')}",
                }
            rows: list[GridRow] = []
            for sid in dict.fromkeys((a_id, b_id)):
                d = data[sid]
                rows.append(GridRow([d["desc"], "input frames"], [_rgb(x) for x in d["images"]]))
                recon = model.decode("body", d["fa"], d["fg"])
                rows.append(GridRow([d["desc"], "reconstruction D(f_a^t, f_g^t)"], [_rgb(x) for x in recon]))
            if a_id != b_id:
                for look, sign in ((a_id, b_id), (b_id, a_id)):
                    fg = data[sign]["fg"]
                    fa = data[look]["mid_a"].expand(fg.shape[0], -1)
                    swap = model.decode("body", fa, fg)
                    label = ["swap: appearance of", data[look]["desc"], "+ sign code of", data[sign]["desc"]]
                    rows.append(GridRow(label, [_rgb(x) for x in swap], first=data[look]["mid_image"]))
            groups.append(rows)
    model.train(was_training)
    return groups
