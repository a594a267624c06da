"""Extract one sample: decode its frames, run the stages, write its part file.

This is what a worker process runs per video. It never raises for a bad
video: every failure comes back as a `SampleResult` naming the stage and the
reason, so one broken file costs only itself.

A pipeline whose `source` is "pose" reads the sample's keypoints from the
pose-format file its record names instead (`signprep import`): the frame
records then carry the keypoint stage's outputs, read from the file, and the
other stages (keypoint-only ones: the pipeline checks) run on them as on
decoded frames.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signprep.extraction.person_fit import (
    hold_entry,
    person_box_attrs,
    release_entry,
    sample_person_box,
    second_pass_start,
    with_person_box,
)
from signprep.extraction.pipeline import KEYPOINT_STAGE, PipelineConfig
from signprep.kernels.keypoint_quality import quality_of_arrays
from signprep.manifests.records import SampleRecord
from signprep.pose_files import PoseFileError, read_pose_keypoints
from signprep.shards.schema import GlossSequence
from signprep.shards.writer import Storage, write_part
from signprep.stages import enabled_stages
from signprep.stages.contract import DECODER_ENTRIES, FrameStage, process_frames
from signprep.video.decode import DecodeError, DecodeOptions, SampleFrames, VideoInfo, source_sha256
from signprep.video.frame_selection import FrameSelection


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
    """The configured stages, in the order they run on each frame (on pose files: all but the keypoint
    stage, whose outputs the file holds)."""
    enabled = enabled_stages(pipeline.stages)
    if pipeline.source == "pose":
        enabled = [(spec, config) for spec, config in enabled if spec.name != KEYPOINT_STAGE]
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


def _run_stages(
    frame_records: Iterable[dict[str, Any]],
    stages: list[FrameStage],
    info,
    *,
    before: list[dict] | None = None,
    hold: frozenset[str] | None = None,
) -> tuple[dict[str, list], list[int], list[dict]]:
    """Run `stages` over the sample's frame records (each holds `index` and what the source gives:
    `rgb`, or the keypoint entries); returns the stored outputs by name, the frames' source indices
    and, with `hold` (a second pass follows), per frame its index and the record entries named in
    `hold` (empty: the index alone, which still counts the frames pass 2 must see).

    before: per-frame entries of a first pass (the second pass of a `fit: person` sample),
    added to each frame's record; `info`: the VideoInfo the stages open with (a callable
    giving it, for the decoder's, known once the first frames are there)."""
    outputs: dict[str, list] = defaultdict(list)
    indices: list[int] = []
    held: list[dict] = []
    opened = False
    for records in _chunks(frame_records, CHUNK_FRAMES):
        if not opened:
            for stage in stages:
                stage.open(info() if callable(info) else info)
            opened = True
        if before is not None:
            for record, earlier in zip(records, before[len(indices) :], strict=False):
                if earlier["index"] != record["index"]:
                    raise DecodeError(f"the second decode pass of {info.path} differs from the first")
                record.update({name: release_entry(value) for name, value in earlier.items() if name != "index"})
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
        if hold is not None:
            held.extend(
                {"index": r["index"], **{n: hold_entry(r[n], r["rgb"].shape) for n in hold if n in r}} for r in records
            )
        indices.extend(record["index"] for record in records)
    for stage in stages:
        stage.close()
    return outputs, indices, held


def _sample_frames(record: SampleRecord, pipeline: PipelineConfig, decoder: str) -> SampleFrames:
    """The record's frames as the pipeline decodes them, `decoder` first (both passes of a
    `fit: person` sample decode through this, so they see the same frames)."""
    d = pipeline.decode
    return SampleFrames(
        record.video_path,
        DecodeOptions(decoder, d.crop_to_bbox, d.resize_short_side, d.fps),
        frame_start=record.frame_start,
        frame_end=record.frame_end,
        time_start=record.time_start,
        time_end=record.time_end,
        bbox=record.bbox,
        source_fps=record.fps,
    )


def _second_pass(record: SampleRecord, pipeline: PipelineConfig, info: VideoInfo, stages, held: list[dict]):
    """Pass 2 of a `fit: person` sample (signprep/extraction/person_fit.py): the box from pass 1's
    keypoints, the frames decoded again by pass 1's decoder, the remaining stages."""
    _, frames = next(_sample_frames(record, pipeline, info.decoder).attempts())
    frames = itertools.islice(frames, len(held))  # pass 1's frames, trimmed of decoder padding
    records = ({"rgb": frame.rgb, "index": frame.index} for frame in frames)
    outputs, indices, _ = _run_stages(records, stages, info, before=held)
    if len(indices) != len(held):
        raise DecodeError(f"the second decode pass of {info.path} gave {len(indices)} frames, the first {len(held)}")
    return {name: np.stack(values) for name, values in outputs.items()}


def decode_and_process(record: SampleRecord, pipeline: PipelineConfig, stages: list[FrameStage]):
    """Run the stages over the sample's frames, falling back to the next decoder when
    one fails or is found wrong. Returns (arrays, VideoInfo).

    With a stage that fits to the person, the stages from the first such one on run in a
    second pass, after the person box (in the returned VideoInfo) is known."""
    sample = _sample_frames(record, pipeline, pipeline.decode.decoder)
    enabled = enabled_stages(pipeline.stages)
    # stages: the pipeline's, built (tests decode with none)
    split = second_pass_start(enabled) if len(stages) == len(enabled) else len(stages)
    later = None  # what pass 2 reads from pass 1, when there is a pass 2
    if split < len(stages):
        later = frozenset(e for _, config in enabled[split:] for e in config.requires()) - set(DECODER_ENTRIES)
    failures = []
    for _decoder, frames in sample.attempts():
        records = ({"rgb": frame.rgb, "index": frame.index} for frame in frames)
        try:
            outputs, indices, held = _run_stages(records, stages[:split], lambda: sample.info, hold=later)
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
        info = sample.info
        if split < len(stages):
            info = with_person_box(info, sample_person_box(arrays, info, record.bbox, pipeline.person_box))
            try:
                arrays.update(_second_pass(record, pipeline, info, stages[split:], held[:keep]))
            except DecodeError as e:
                failures.append(str(e))
                continue
        if failures:
            info.decoder_note = "; ".join(filter(None, failures + [info.decoder_note]))
        return arrays, info
    raise DecodeError("; ".join(failures))


# the decoder name in the attributes of a sample read from a pose file
POSE_FILE_DECODER = "pose-file"


def read_and_process(record: SampleRecord, pipeline: PipelineConfig, stages: list[FrameStage]):
    """Read the keypoints of the sample from its pose-format file (the record's video_path), keep the
    frames of its range and frame rate, and run the stages on them. Returns (arrays, VideoInfo, attrs
    of the keypoints) with the stored frame = the file's video (signprep/pose_files.py)."""
    pose = read_pose_keypoints(record.video_path)
    total = len(pose.keypoints)
    selection = FrameSelection(
        record.frame_start, record.frame_end, pipeline.decode.fps, time_start=record.time_start,
        time_end=record.time_end,
    )  # fmt: skip
    kept = selection.indices(total, pose.fps)  # the file's fps is checked > 0 by the reader
    if not kept:
        raise PoseFileError(f"no frames in {selection.describe()} of {record.video_path} ({total} frames)")
    info = VideoInfo(
        record.video_path, pose.fps, total, pose.width, pose.height, decoder=POSE_FILE_DECODER,
        decoder_note=pose.note, decoded_frames=total, reached_end=True, width=pose.width, height=pose.height,
    )  # fmt: skip
    records = (
        {"index": i, "keypoints": pose.keypoints[i], "keypoint_confidence": pose.confidence[i],
         "keypoint_present": pose.present[i]}
        for i in kept
    )  # fmt: skip
    outputs, indices, _ = _run_stages(records, stages, info)
    index = np.asarray(indices, np.int32)
    arrays = {name: np.stack(values) for name, values in outputs.items()}
    arrays.update(
        keypoints=pose.keypoints[index], keypoint_confidence=pose.confidence[index],
        keypoint_present=pose.present[index], frame_indices=index,
    )  # fmt: skip
    return arrays, info, pose.attrs()


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
    attrs.update(person_box_attrs(info))  # none unless a stage fits to the person
    quality = quality_of_arrays(arrays)  # signprep/kernels/keypoint_quality.py; docs/shards.md
    if quality is not None:
        attrs["keypoint_quality"] = json.dumps(quality)
    return attrs


# failures of the input or a stage, whose messages say it all (no exception type, no traceback)
_INPUT_ERRORS = (DecodeError, PoseFileError, _StageFailure)


def extract_sample(record: SampleRecord, pipeline: PipelineConfig, parts_dir: str | Path) -> SampleResult:
    """Extract one sample into `parts_dir/<sample_id>.h5`; never raises for bad input."""
    t0 = time.perf_counter()
    result = SampleResult(record.sample_id, "failed", record.video_path, pid=os.getpid())
    stage = "setup"
    try:
        stages = stages_for(pipeline)
        stage = "read" if pipeline.source == "pose" else "decode"
        sha = source_sha256(record.video_path)  # a pose file's bytes, as a video's
        source_attrs: dict[str, Any] = {}
        try:
            if pipeline.source == "pose":
                arrays, info, source_attrs = read_and_process(record, pipeline, stages)
            else:
                arrays, info = decode_and_process(record, pipeline, stages)
        except _StageFailure as e:
            stage = e.stage
            raise
        stage = "write"
        attrs = {**sample_attrs(record, info, arrays, stages, sha, pipeline.decode.fps), **source_attrs}
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
        result.error = f"{e}" if isinstance(e, _INPUT_ERRORS) else f"{type(e).__name__}: {e}"
        if not isinstance(e, (*_INPUT_ERRORS, OSError)):
            result.error += "\n" + traceback.format_exc(limit=5)
    result.seconds = time.perf_counter() - t0
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result
