"""Size an extraction before starting it: frames, CPU core-hours per stage, storage per modality.

`plan_extraction(manifest, pipeline)` counts the frames each sample will yield
and multiplies them by per-frame costs measured on real clips (each stage's `cost`,
signprep/stages/<stage>.py). Frame counts come, per sample, from the cheapest source that knows:

1. the source when it is present (`signprep.video.containers.source_frames`: MP4/MOV
   the sample count of the video track from the `moov` box; WebM, MKV, AVI... the
   video packets PyAV demuxes, decoding nothing; a frame folder its frame files),
   clipped to the record's frame or time range;
2. the metadata's frame range (`frame_end - frame_start + 1`), or its time range at
   the metadata's fps, when the source is absent but the range is explicit;
3. otherwise an average: the mean length of the samples of this manifest that
   are known by 1 or 2 (at least `MIN_KNOWN_FOR_MEAN` of them), else
   `FALLBACK_FRAMES_PER_VIDEO`.

The plan states how many samples each source covered. A pipeline that resamples
to another `decode.fps` scales counts by target/source fps (source fps from the
header, else the metadata, else 25).

Given the extract's output directory (`read_existing_output`), samples its shard
index already holds for this pipeline are counted apart, as extract would skip
them, and only the rest is planned.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from signprep.extraction.pipeline import PipelineConfig
from signprep.manifests import Manifest, SampleRecord
from signprep.shards.index import ShardIndex, output_conflict
from signprep.shards.schema import SchemaError
from signprep.stages import enabled_stages
from signprep.video.containers import source_frames

# ------------------------------------------------------------------ measured constants
# Each stage's per-frame CPU time and stored bytes come from its module (`cost`, with the
# measured figures and where they come from); decoding and writing are not a stage.
# Decode + write: `extract_sample` of the keypoints pipeline on the 4 clips of
# `benchmarks/stages.py` [cost], whole (557 frames), took 68.8 CPU ms/frame on the project's
# 2-core x86 test machine; that minus Holistic's 65.1 is decord decoding, the pipeline's
# bookkeeping and the HDF5 part write.
# Wall-clock check: 2 loky workers extract the corpus keypoints at ~25 frames/s on the
# 2 cores, i.e. ~80 core-ms/frame, ~15% above the CPU-time sum (process scheduling).
DECODE_AND_WRITE_MS = 3.7

# A sample's length when neither its video nor its metadata says: the mean decoded
# length of the 37 labelled clips of the sample corpus (shared/data, clips.csv).
FALLBACK_FRAMES_PER_VIDEO = 130.5
MIN_KNOWN_FOR_MEAN = 30  # fewer known lengths than this: the corpus mean is the better guess
DEFAULT_FPS = 25.0


# ------------------------------------------------------------------ frame counts
def _range_frames(record: SampleRecord, video_frames: int | None, fps: float) -> int | None:
    """Frames of the record's range; -1 (to the end), or a time range that runs to the end, needs the
    video's count. A time range counts the frames i with time_start <= i / fps < time_end."""
    if record.time_start is not None or record.time_end is not None:
        first = math.ceil((record.time_start or 0.0) * fps - 1e-6)
        if record.time_end is None:
            return None if video_frames is None else max(0, video_frames - first)
        end = math.ceil(record.time_end * fps - 1e-6)
        return max(0, (end if video_frames is None else min(end, video_frames)) - first)
    if record.frame_end == -1:
        return None if video_frames is None else max(0, video_frames - record.frame_start + 1)
    end = record.frame_end if video_frames is None else min(record.frame_end, video_frames)
    return max(0, end - record.frame_start + 1)


# ------------------------------------------------------------------ what is already extracted
@dataclass(frozen=True)
class ExistingOutput:
    """An extract output directory as `signprep extract` would judge it (signprep/extraction/runner.py)."""

    out_dir: str
    frames: dict[str, int] | None = None  # sample id -> stored frames; None: no index of this pipeline
    problem: str | None = None  # why extract would refuse the directory (without --force)


def read_existing_output(out_dir: str | Path, pipeline: PipelineConfig) -> ExistingOutput:
    """The samples `out_dir`'s shard index holds for `pipeline`, read without the output lock:
    planning writes nothing and may run beside an extract.

    The checks are extract's (runner `_prepare_out_dir`): a sample is done when the index names
    it and the index's pipeline hash is this pipeline's. Another hash, or shard files without an
    index, make extract refuse the directory; that is returned as `problem`, with nothing done.
    Parts finished before a kill (packed by the next extract) are not counted: the plan errs on
    the side of more work.
    """
    out = Path(out_dir)
    try:
        index = ShardIndex.load(out)
    except SchemaError as e:
        return ExistingOutput(str(out), problem=f"{e}; extract would stop on it")
    conflict = output_conflict(out, index, pipeline.name, pipeline.content_hash())
    if conflict:
        return ExistingOutput(str(out), problem=f"{conflict}: extract refuses it without --force, which deletes them")
    if index is None:
        return ExistingOutput(str(out))  # new or empty: nothing extracted yet
    return ExistingOutput(str(out), {sid: int(e.get("num_frames", 0)) for sid, e in index.samples.items()})


# ------------------------------------------------------------------ the plan
@dataclass
class StageLine:
    stage: str
    cpu_ms_per_frame: float
    core_hours_present: float
    core_hours_all: float


@dataclass
class StorageLine:
    modality: str
    bytes_per_frame: float
    bytes_present: float
    bytes_all: float


@dataclass
class ExtractionPlan:
    pipeline: str
    samples: int  # the manifest's: present + missing + already_extracted
    present: int  # to do, with their video
    missing: int  # to do, without
    already_extracted: int = 0  # in the shards of `extracted_in`: not planned
    frames_already_extracted: int = 0  # their stored frames, from the shard index
    extracted_in: str | None = None  # --out, when it holds this pipeline's shard index
    out_problem: str | None = None  # --out holds what extract would refuse: planned in full
    frames_present: int = 0  # samples whose video is present
    frames_missing: int = 0
    frames_from_header: int = 0  # samples counted by each source
    frames_from_range: int = 0
    frames_from_mean: int = 0
    mean_frames: float = 0.0
    mean_source: str = ""
    stages: list[StageLine] = field(default_factory=list)
    storage: list[StorageLine] = field(default_factory=list)

    @property
    def frames_all(self) -> int:
        return self.frames_present + self.frames_missing

    @property
    def core_hours_present(self) -> float:
        return sum(s.core_hours_present for s in self.stages)

    @property
    def core_hours_all(self) -> float:
        return sum(s.core_hours_all for s in self.stages)

    @property
    def bytes_present(self) -> float:
        return sum(s.bytes_present for s in self.storage)

    @property
    def bytes_all(self) -> float:
        return sum(s.bytes_all for s in self.storage)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(
            frames_all=self.frames_all,
            core_hours_present=round(self.core_hours_present, 3),
            core_hours_all=round(self.core_hours_all, 3),
            bytes_present=round(self.bytes_present),
            bytes_all=round(self.bytes_all),
        )
        return d

    def _sample_lines(self) -> list[str]:
        counts = f"{self.present} with video, {self.missing} missing video"
        if self.extracted_in is None:
            lines = [f"  samples            : {self.samples} ({counts})"]
        else:
            lines = [
                f"  samples            : {self.samples} ({self.already_extracted} already extracted; to do: {counts})",
                f"  already extracted  : {self.already_extracted} samples, {self.frames_already_extracted:,} frames"
                f" in {self.extracted_in} (extract skips them; not counted below)",
            ]
        if self.out_problem:
            lines.append(f"  output directory   : {self.out_problem}; planned in full")
        return lines

    def render(self, workers: int) -> str:
        lines = [
            f"signprep plan: pipeline {self.pipeline!r}",
            *self._sample_lines(),
            f"  frames             : {self.frames_present:,} of present videos,"
            f" {self.frames_all:,} if all were present",
            f"    from video headers   : {self.frames_from_header} samples",
            f"    from metadata ranges : {self.frames_from_range} samples",
            f"    estimated            : {self.frames_from_mean} samples at {self.mean_frames:.1f} frames each"
            f" ({self.mean_source})",
            f"  {'CPU core-hours':<26} {'ms/frame':>9} {'present':>10} {'all':>10}",
        ]
        for s in self.stages:
            lines.append(
                f"    {s.stage:<24} {s.cpu_ms_per_frame:9.1f} {s.core_hours_present:10.2f} {s.core_hours_all:10.2f}"
            )
        per_frame = sum(s.cpu_ms_per_frame for s in self.stages)
        lines.append(f"    {'total':<24} {per_frame:9.1f} {self.core_hours_present:10.2f} {self.core_hours_all:10.2f}")
        lines.append(
            f"    {f'wall time, {workers} workers':<24} {'':9} {self.core_hours_present / workers:9.2f}h"
            f" {self.core_hours_all / workers:9.2f}h  (a core each; measured runs took ~15% longer)"
        )
        lines.append(f"  {'storage':<26} {'B/frame':>9} {'present':>10} {'all':>10}")
        for s in self.storage:
            lines.append(
                f"    {s.modality:<24} {s.bytes_per_frame:9.0f} {_size(s.bytes_present):>10} {_size(s.bytes_all):>10}"
            )
        total_per_frame = sum(s.bytes_per_frame for s in self.storage)
        lines.append(
            f"    {'total':<24} {total_per_frame:9.0f} {_size(self.bytes_present):>10} {_size(self.bytes_all):>10}"
        )
        lines.append("  (per-frame costs measured on a 2-core x86 machine: each stage's `cost` in signprep/stages/)")
        return "\n".join(lines)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def pipeline_costs(pipeline: PipelineConfig) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """([(stage, CPU ms per frame)], [(modality, bytes per frame)]) of the pipeline's enabled stages."""
    cpu = [("decode + write", DECODE_AND_WRITE_MS)]
    stored: list[tuple[str, float]] = []
    for spec, config in enabled_stages(pipeline.stages):
        cost = spec.cost(config)
        cpu.append((cost.label, cost.cpu_ms))
        stored.extend(cost.stored)
    return cpu, stored


def plan_extraction(
    manifest: Manifest, pipeline: PipelineConfig, existing: ExistingOutput | None = None
) -> ExtractionPlan:
    """Frames, core-hours and bytes for `manifest` under `pipeline` (see the module docstring);
    with `existing`, for the samples not yet in its shards."""
    done = existing.frames if existing is not None and existing.frames is not None else {}
    # a sample in the shards is no work, whether or not its video is still there
    todo_present = [r for r in manifest.records if r.sample_id not in done]
    todo_missing = [r for r in manifest.missing if r.sample_id not in done]
    plan = ExtractionPlan(pipeline.name, samples=len(manifest), present=len(todo_present), missing=len(todo_missing))
    if existing is not None:
        plan.out_problem = existing.problem
        if existing.frames is not None:
            plan.extracted_in = existing.out_dir
    done_frames = [done[r.sample_id] for r in manifest.records + manifest.missing if r.sample_id in done]
    plan.already_extracted, plan.frames_already_extracted = len(done_frames), sum(done_frames)
    known_present: list[int] = []
    known_missing: list[int] = []
    unknown_present = unknown_missing = 0
    for records, known, is_present in (
        (todo_present, known_present, True),
        (todo_missing, known_missing, False),
    ):
        for record in records:
            counted = source_frames(record.video_path) if is_present else None
            source_fps = (counted.fps if counted and counted.fps > 0 else None) or record.fps or DEFAULT_FPS
            frames = _range_frames(record, counted.frames if counted else None, source_fps)
            if frames is None:
                if is_present:
                    unknown_present += 1
                else:
                    unknown_missing += 1
                continue
            if counted:
                plan.frames_from_header += 1
            else:
                plan.frames_from_range += 1
            known.append(_resampled(frames, source_fps, pipeline.decode.fps))
    known_all = known_present + known_missing + done_frames  # stored lengths are known lengths too
    if len(known_all) >= MIN_KNOWN_FOR_MEAN:
        plan.mean_frames = sum(known_all) / len(known_all)
        plan.mean_source = f"mean of the {len(known_all)} known lengths in this manifest"
    else:
        plan.mean_frames = _resampled(FALLBACK_FRAMES_PER_VIDEO, DEFAULT_FPS, pipeline.decode.fps)
        plan.mean_source = "mean length of the sample corpus clips: too few known lengths here"
    plan.frames_from_mean = unknown_present + unknown_missing
    plan.frames_present = sum(known_present) + round(unknown_present * plan.mean_frames)
    plan.frames_missing = sum(known_missing) + round(unknown_missing * plan.mean_frames)

    cpu, stored = pipeline_costs(pipeline)
    hours = 1 / 1000 / 3600
    plan.stages = [
        StageLine(name, round(ms, 2), plan.frames_present * ms * hours, plan.frames_all * ms * hours)
        for name, ms in cpu
    ]
    plan.storage = [StorageLine(name, round(b, 1), plan.frames_present * b, plan.frames_all * b) for name, b in stored]
    return plan


def _resampled(frames: float, source_fps: float, target_fps: float | None) -> float:
    """Frames after resampling to target_fps (the decoder drops frames, or repeats them to go up)."""
    if not target_fps or source_fps <= 0:
        return frames
    return math.ceil(frames * target_fps / source_fps)
