"""Extract one sample: decode its frames, run the stages, write its part file.

This is what a worker process runs per video. It never raises for a bad
video: every failure comes back as a `SampleResult` naming the stage and the
reason, so one broken file costs only itself.
"""

from __future__ import annotations

import itertools
import os
import resource
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signprep.extraction.pipeline import PipelineConfig
from signprep.manifests.records import SampleRecord
from signprep.shards.schema import GlossSequence
from signprep.shards.writer import Storage, write_part
from signprep.stages import enabled_stages
from signprep.stages.contract import FrameStage, process_frames
from signprep.video.decode import DecodeError, DecodeOptions, SampleFrames, VideoInfo, source_sha256


@dataclass
class SampleResult:
    sample_id: str
    status: str  # "done" | "failed"
    video_path: str
    frames: int = 0
    seconds: float = 0.0
    stage: str | None = None  # where it failed
    error: str | None = None
    part: str | None = None
    decoder: str | None = None
    peak_rss_mb: float = 0.0  # of the process that ran it, after the sample
    pid: int = 0


def build_stages(pipeline: PipelineConfig) -> list[FrameStage]:
    """The configured stages, in the order they run on each frame."""
    enabled = enabled_stages(pipeline.stages)
    # a stage with optional outputs makes those that the pipeline's stages read
    read = frozenset(entry for _, config in enabled for entry in config.requires())
    return [spec.build(config, read) for spec, config in enabled]


# Stages hold loaded models: build them once per process and pipeline, reuse per video.
_STAGE_CACHE: dict[str, list[FrameStage]] = {}


def stages_for(pipeline: PipelineConfig) -> list[FrameStage]:
    key = pipeline.content_hash()
    if key not in _STAGE_CACHE:
        _STAGE_CACHE.clear()
        _STAGE_CACHE[key] = build_stages(pipeline)
    return _STAGE_CACHE[key]


def storage_of(pipeline: PipelineConfig) -> Storage:
    s = pipeline.storage
    above = None if s.one_frame_chunks_above_kib is None else int(s.one_frame_chunks_above_kib * 1024)
    return Storage(
        s.compression, s.compression_level, s.chunk_frames, int(s.max_shard_mb * 2**20), int(s.chunk_kib * 1024), above
    )


class _StageFailure(Exception):
    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.stage = stage


# Frames decoded before the stages run on them. Holistic overlaps the frames of a chunk in its
# graph (signprep/stages/holistic_graph.py): bare Holistic ran 7-14% faster with chunks of 16
# than of 1, as fast as with whole videos, for 16 decoded frames held in memory.
CHUNK_FRAMES = 16


def _chunks(frames, size: int):
    frames = iter(frames)
    while chunk := list(itertools.islice(frames, size)):  # a DecodeError surfaces here
        yield chunk


def _run_stages(frames, stages: list[FrameStage], sample: SampleFrames) -> tuple[dict[str, list], list[int]]:
    outputs: dict[str, list] = defaultdict(list)
    indices: list[int] = []
    opened = False
    for chunk in _chunks(frames, CHUNK_FRAMES):
        if not opened:
            for stage in stages:
                stage.open(sample.info)
            opened = True
        records: list[dict[str, Any]] = [{"rgb": frame.rgb, "index": frame.index} for frame in chunk]
        for stage in stages:
            try:
                added = process_frames(stage, records)
            except Exception as e:  # a stage bug or a model failure: not a decoder problem
                raise _StageFailure(stage.name, e) from e
            for record, frame_added in zip(records, added, strict=True):
                record.update(frame_added)
                for name, value in frame_added.items():
                    if not name.startswith("_"):  # "_name": shared with later stages, not stored
                        outputs[name].append(value)
        indices.extend(frame.index for frame in chunk)
    for stage in stages:
        stage.close()
    return outputs, indices


def decode_and_process(record: SampleRecord, pipeline: PipelineConfig, stages: list[FrameStage]):
    """Run the stages over the sample's frames, falling back to the next decoder when
    one fails or is found wrong. Returns (arrays, VideoInfo)."""
    d = pipeline.decode
    sample = SampleFrames(
        record.video_path,
        DecodeOptions(d.decoder, d.crop_to_bbox, d.resize_short_side, d.fps),
        frame_start=record.frame_start,
        frame_end=record.frame_end,
        time_start=record.time_start,
        time_end=record.time_end,
        bbox=record.bbox,
        source_fps=record.fps,
    )
    failures = []
    for _decoder, frames in sample.attempts():
        try:
            outputs, indices = _run_stages(frames, stages, sample)
        except DecodeError as e:
            failures.append(str(e))
            continue
        verdict, real_frames = sample.check()
        if verdict == "redo":
            failures.append(sample.info.decoder_note)
            continue
        keep = len(indices) if verdict == "ok" else sum(1 for i in indices if i < real_frames)
        if keep == 0:
            raise DecodeError(
                f"frame range {record.frame_start}..{record.frame_end} of {record.video_path} lies past "
                f"its last real frame ({real_frames} frames; the rest is decoder padding)"
            )
        arrays = {name: np.stack(values[:keep]) for name, values in outputs.items()}
        arrays["frame_indices"] = np.asarray(indices[:keep], np.int32)
        if failures:
            sample.info.decoder_note = "; ".join(filter(None, failures + [sample.info.decoder_note]))
        return arrays, sample.info
    raise DecodeError("; ".join(failures))


def sample_attrs(
    record: SampleRecord, info: VideoInfo, arrays: dict[str, np.ndarray], stages, sha: str, fps: float | None
) -> dict[str, Any]:
    """The per-sample attributes of the shard schema (docs/shards.md)."""
    n = int(arrays["frame_indices"].shape[0])
    attrs: dict[str, Any] = {
        "sample_id": record.sample_id,
        "video_id": record.video_id or record.sample_id,
        "dataset": record.dataset,
        "gloss": record.gloss or "",
        "label": int(record.label),
        "glosses": GlossSequence(record.glosses or ()),  # a sentence's glosses in signing order; empty: none
        "translation": record.translation or "",
        "signer_id": "" if record.signer_id is None else str(record.signer_id),
        "split": record.split or "",
        "num_frames": n,
        "fps": fps or info.source_fps,  # of the stored frames
        "source_fps": info.source_fps,
        "frame_start": record.frame_start,  # as in the manifest: 1-based, inclusive, -1 = end
        "frame_end": record.frame_end,
        "time_start": record.time_start,  # seconds, as in the manifest ("" = no time range)
        "time_end": record.time_end,
        "first_frame": int(arrays["frame_indices"][0]) + 1 if n else 0,  # 1-based, as decoded
        "last_frame": int(arrays["frame_indices"][-1]) + 1 if n else 0,
        "width": info.width,
        "height": info.height,
        "source_width": info.source_width,
        "source_height": info.source_height,
        "crop_box": list(info.crop_box) if info.crop_box else "",
        "scale": list(info.scale),  # (x, y) stored pixels per source pixel
        "source_path": record.video_path,
        "source_sha256": sha,
        "source": record.source or "",
        "bbox": list(record.bbox) if record.bbox else "",
        "decoder": info.decoder,
        "decoder_note": info.decoder_note,
    }
    for stage in stages:
        attrs.update(stage.attrs())
    return attrs


def extract_sample(record: SampleRecord, pipeline: PipelineConfig, parts_dir: str | Path) -> SampleResult:
    """Extract one sample into `parts_dir/<sample_id>.h5`; never raises for bad input."""
    t0 = time.perf_counter()
    result = SampleResult(record.sample_id, "failed", record.video_path, pid=os.getpid())
    stage = "setup"
    try:
        stages = stages_for(pipeline)
        stage = "decode"
        sha = source_sha256(record.video_path)
        try:
            arrays, info = decode_and_process(record, pipeline, stages)
        except _StageFailure as e:
            stage = e.stage
            raise
        stage = "write"
        attrs = sample_attrs(record, info, arrays, stages, sha, pipeline.decode.fps)
        part = write_part(
            Path(parts_dir),
            record.sample_id,
            arrays,
            attrs,
            pipeline_json=pipeline.to_json(),
            pipeline_hash=pipeline.content_hash(),
            storage=storage_of(pipeline),
        )
        result.status, result.part, result.decoder = "done", str(part), info.decoder
        result.frames = attrs["num_frames"]
    except Exception as e:  # report, never propagate: the run goes on
        result.stage = stage
        result.error = f"{e}" if isinstance(e, (DecodeError, _StageFailure)) else f"{type(e).__name__}: {e}"
        if not isinstance(e, (DecodeError, _StageFailure, OSError)):
            result.error += "\n" + traceback.format_exc(limit=5)
    result.seconds = time.perf_counter() - t0
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result
