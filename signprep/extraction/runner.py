"""The extract job: plan, skip what is done, run the rest in parallel, pack, report.

    with OutputLock(out):                 # one writer per directory
        recover(out)                      # finish or discard what a kill left
        plan: done (indexed) / finished parts / to do / missing video
        workers (loky processes or a Dask cluster) -> parts/<id>.h5 -> packed into shards
        summary + extract_errors.jsonl

Workers are processes, even with `--workers 1`: MediaPipe's native logs go to
their own fd 2 (a log file), and a crash inside a native library takes down
one worker and fails the samples it held, not the run (with Dask the
scheduler retries them on another worker; see signprep/extraction/backends.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from tqdm import tqdm

from signprep.atomic import atomic_write_text
from signprep.extraction.backends import check_backend, open_backend
from signprep.extraction.free_memory import release_free_memory
from signprep.extraction.lock import OutputLock
from signprep.extraction.native_logs import send_native_logs_to
from signprep.extraction.pipeline import PipelineConfig, check_pose_source
from signprep.extraction.sample import SampleResult, extract_sample, storage_of
from signprep.interrupts import sigterm_as_interrupt
from signprep.manifests.names import printable, shown_name
from signprep.manifests.records import Manifest, RejectedEntry, SampleRecord, write_manifest
from signprep.shards.index import ShardIndex, output_conflict
from signprep.shards.recover import recover
from signprep.shards.schema import INDEX_NAME
from signprep.shards.writer import PARTS_DIR, ShardPacker

log = logging.getLogger(__name__)

ERRORS_NAME = "extract_errors.jsonl"
SUMMARY_NAME = "extract_summary.json"  # the last run's summary, for scripts
LOGS_DIR = "logs"


class PipelineMismatch(RuntimeError):
    """The output directory holds shards of a different pipeline configuration."""


# what the summary, the progress bar and the errors file call a job's inputs, by pipeline source
@dataclass(frozen=True)
class JobNames:
    job: str  # "signprep extract: OUT"
    done: str  # "extracted now"
    unit: str  # the progress bar's unit
    missing: str  # "missing video"
    missing_status: str  # the errors file's status of a sample without its input
    not_found: str  # its error: "video file not found: PATH"


JOB_NAMES = {
    "video": JobNames("extract", "extracted now", "video", "missing video", "missing_video", "video file not found"),
    "pose": JobNames("import", "imported now", "file", "missing file", "missing_file", "pose file not found"),
}


@dataclass
class ExtractSummary:
    out_dir: str
    source: str = "video"  # the pipeline's: "video" (signprep extract) or "pose" (signprep import)
    total: int = 0  # samples in the manifest, missing videos included
    done_now: int = 0
    skipped: int = 0  # already in the shards with this pipeline
    failed: list[SampleResult] = field(default_factory=list)
    missing: list[SampleRecord] = field(default_factory=list)
    rejected: list[RejectedEntry] = field(default_factory=list)  # metadata entries that gave no sample
    frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    worker_rss_mb: dict[int, list[float]] = field(default_factory=dict)  # pid -> peak RSS after each sample

    @property
    def errors_path(self) -> str:
        return str(Path(self.out_dir) / ERRORS_NAME)

    @property
    def exit_code(self) -> int:
        """0: every sample with a video is in the shards; 1: some failed, or metadata entries were
        rejected; 130: interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.failed or self.rejected else 0

    def render(self) -> str:
        fps = self.frames / self.seconds if self.seconds else 0.0
        names = JOB_NAMES[self.source]
        lines = [
            f"signprep {names.job}: {self.out_dir}",
            f"  samples in manifest : {self.total}",
            f"  {names.done:<20}: {self.done_now} ({self.frames} frames in {self.seconds:.1f} s, {fps:.1f} frames/s)",
            f"  skipped (done)      : {self.skipped}",
            f"  failed              : {len(self.failed)}",
            f"  {names.missing:<20}: {len(self.missing)}",
            f"  rejected entries    : {len(self.rejected)}",
        ]
        for r in self.failed[:10]:
            first_line = (r.error or "").splitlines()[0] if r.error else ""
            lines.append(f"    failed  {shown_name(r.sample_id)} [{r.stage}] {first_line}")
        for r in self.missing[:10]:
            lines.append(f"    missing {shown_name(r.sample_id)} ({printable(r.video_path)})")
        for e in self.rejected[:10]:
            lines.append(f"    rejected {e.describe()}")
        shown = min(10, len(self.failed)) + min(10, len(self.missing)) + min(10, len(self.rejected))
        more = len(self.failed) + len(self.missing) + len(self.rejected) - shown
        if more > 0:
            lines.append(f"    ... {more} more")
        if self.failed or self.missing or self.rejected:
            lines.append(f"  errors recorded in  : {self.errors_path}")
        if self.interrupted:
            lines.append("  interrupted: finished samples were kept; rerun the same command to continue")
        return "\n".join(lines)


def _prepare_out_dir(out_dir: Path, pipeline: PipelineConfig, force: bool) -> ShardIndex:
    index = ShardIndex.load(out_dir)
    conflict = output_conflict(out_dir, index, pipeline.name, pipeline.content_hash())
    if conflict:
        if not force:  # never delete shards unasked
            raise PipelineMismatch(
                f"{conflict}. Use another --out, or --force to delete the existing shards and extract again."
            )
        index = None
    if force or index is None:
        for old in list(out_dir.glob("shard-*.h5*")) + [out_dir / INDEX_NAME]:
            old.unlink(missing_ok=True)
        shutil.rmtree(out_dir / PARTS_DIR, ignore_errors=True)
        index = ShardIndex(pipeline.content_hash(), json.loads(pipeline.to_json()))
        index.save(out_dir)
    return index


def _file_size(record: SampleRecord) -> int:
    try:
        return Path(record.video_path).stat().st_size
    except OSError:
        return 0


def _worker(record: SampleRecord, pipeline: PipelineConfig, parts_dir: str, log_file: str) -> SampleResult:
    send_native_logs_to(log_file)
    try:
        return extract_sample(record, pipeline, parts_dir)
    finally:
        release_free_memory()  # else glibc keeps each sample's freed memory: worker peaks crept up


def run_extract(
    manifest: Manifest,
    pipeline: PipelineConfig,
    out_dir: Path,
    *,
    workers: int = 1,
    force: bool = False,
    progress: bool = True,
    on_result: Callable[[SampleResult], None] | None = None,
    backend: str = "loky",
    address: str | None = None,
) -> ExtractSummary:
    """Extract every record of `manifest` not yet in `out_dir`'s shards.

    backend: "loky" (processes on this machine) or "dask" (signprep.extraction.backends): a
    local Dask cluster of `workers` processes, or the existing cluster at `address`.
    A pipeline with `source: pose` reads each record's keypoints from the pose-format file its
    `video_path` names (`signprep import`; signprep.extraction.sample).
    """
    check_backend(backend, address)  # a wrong option fails before the output directory is touched
    check_pose_source(pipeline)
    out_dir = Path(out_dir)
    manifest = _first_of_each_id(manifest)
    summary = ExtractSummary(
        str(out_dir), source=pipeline.source, total=len(manifest), missing=list(manifest.missing),
        rejected=list(manifest.rejected),
    )  # fmt: skip
    with OutputLock(out_dir):
        index = _prepare_out_dir(out_dir, pipeline, force)
        recovered = recover(out_dir, index)
        write_manifest(manifest.records + manifest.missing, out_dir / "manifest.jsonl")
        packer = ShardPacker(out_dir, index, storage_of(pipeline), pipeline.to_json())
        todo = []
        for record in manifest.records:
            if record.sample_id in index.samples:
                summary.skipped += 1
            elif record.sample_id in recovered.finished_parts:
                summary.skipped += 1  # finished before a kill; packed below
                packer.add(recovered.finished_parts[record.sample_id])
            else:
                todo.append(record)
        # Largest files first: a long video started last would run alone at the end
        # while the other workers idle (measured: 15% of a 12-clip run lost that way).
        todo.sort(key=_file_size, reverse=True)
        t0 = time.perf_counter()
        try:
            # started only if there is work
            start_backend = partial(open_backend, backend, workers, address, str(out_dir / LOGS_DIR / "cluster.log"))
            with sigterm_as_interrupt():  # a scheduler's stop keeps the finished samples, as Ctrl-C does
                _run_parallel(todo, pipeline, out_dir, packer, summary, progress, on_result, start_backend)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            stopping_error = sys.exc_info()[1]  # e.g. the disk filled up while packing a shard
            try:
                packer.flush()  # keep every finished sample, even on Ctrl-C
                summary.seconds = time.perf_counter() - t0
                _write_errors(out_dir, summary)
                atomic_write_text(out_dir / SUMMARY_NAME, summary_json(summary))
            except OSError:
                # on a full disk these writes fail as well: report the error that stopped the run
                if stopping_error is None:
                    raise
    return summary


def _first_of_each_id(manifest: Manifest) -> Manifest:
    """The manifest with a repeated sample id kept once (its first record) and the later records rejected:
    builders and manifest files already do so; a Manifest made in code may not have."""
    seen: set[str] = set()
    keep: dict[str, list[SampleRecord]] = {"records": [], "missing": []}
    rejected = list(manifest.rejected)
    for kind in ("records", "missing"):
        for n, record in enumerate(getattr(manifest, kind)):
            if record.sample_id in seen:
                reason = "sample id already used by an earlier record (the first is kept)"
                rejected.append(RejectedEntry("manifest", f"{kind[:-1] if kind == 'records' else kind} {n}",
                                              reason, record.sample_id))  # fmt: skip
                continue
            seen.add(record.sample_id)
            keep[kind].append(record)
    if len(rejected) == len(manifest.rejected):
        return manifest
    return Manifest(keep["records"], keep["missing"], rejected)


def _run_parallel(todo, pipeline, out_dir, packer, summary, progress, on_result, start_backend) -> None:
    if not todo:
        return  # nothing to run: start no workers (or cluster)
    # absolute paths: a Dask worker may run in another directory or on another machine (shared filesystem)
    parts_dir = os.path.abspath(out_dir / PARTS_DIR)
    log_file = os.path.abspath(out_dir / LOGS_DIR / "native.log")
    pending = [_with_absolute_video(r) for r in reversed(todo)]
    in_flight: dict[Future, SampleRecord] = {}
    executor = start_backend()
    names = JOB_NAMES[pipeline.source]
    bar = tqdm(
        total=len(todo), desc=names.job, unit=names.unit, disable=not progress, file=sys.stderr, dynamic_ncols=True
    )
    try:
        while pending or in_flight:
            queue_size = 2 * executor.slots  # asked each round: a cluster may gain or lose workers
            while pending and len(in_flight) < queue_size:  # a small queue keeps every worker fed
                record = pending.pop()
                in_flight[executor.submit(_worker, record, pipeline, parts_dir, log_file)] = record
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                record = in_flight.pop(future)
                try:
                    result = future.result()
                except Exception as e:
                    if executor.worker_died(e):  # a native crash or OOM kill (dask: on every retry)
                        error = f"worker process died while extracting {record.video_path}: {e}"
                    else:
                        error = f"{type(e).__name__}: {e}"
                    result = SampleResult(record.sample_id, "failed", record.video_path, stage="worker", error=error)
                _record_result(result, packer, summary)
                if on_result:
                    on_result(result)
                bar.update(1)
                fps = summary.frames / max(bar.format_dict["elapsed"], 1e-9)
                bar.set_postfix(failed=len(summary.failed), fps=f"{fps:.1f}")
    except KeyboardInterrupt:
        executor.abort()
        raise
    finally:
        executor.close()
        bar.close()


def _with_absolute_video(record: SampleRecord) -> SampleRecord:
    if os.path.isabs(record.video_path):
        return record
    return dataclasses.replace(record, video_path=os.path.abspath(record.video_path))


def _record_result(result: SampleResult, packer: ShardPacker, summary: ExtractSummary) -> None:
    if result.pid:
        summary.worker_rss_mb.setdefault(result.pid, []).append(result.peak_rss_mb)
    if result.status == "done":
        packer.add(Path(result.part))
        summary.done_now += 1
        summary.frames += result.frames
    else:
        summary.failed.append(result)


def _write_errors(out_dir: Path, summary: ExtractSummary) -> None:
    """This run's failures, missing videos (or pose files) and rejected metadata entries, one JSON object
    per line (rewritten each run)."""
    names = JOB_NAMES[summary.source]
    rows = [
        {"sample_id": r.sample_id, "status": "failed", "stage": r.stage, "video_path": r.video_path, "error": r.error}
        for r in summary.failed
    ] + [
        {"sample_id": r.sample_id, "status": names.missing_status, "stage": "manifest", "video_path": r.video_path,
         "error": f"{names.not_found}: {r.video_path}"}
        for r in summary.missing
    ] + [
        {"sample_id": e.sample_id, "status": "rejected", "stage": "manifest", "metadata": e.metadata,
         "location": e.location, "error": e.reason}
        for e in summary.rejected
    ]  # fmt: skip
    atomic_write_text(out_dir / ERRORS_NAME, "".join(json.dumps(row) + "\n" for row in rows))


def summary_json(summary: ExtractSummary) -> str:
    """The summary as JSON: counts, failures with their stage and error, missing sample ids, exit code."""
    d = asdict(summary)
    d["missing"] = [r.sample_id for r in summary.missing]
    d["rejected"] = [e.to_dict() for e in summary.rejected]
    d["exit_code"] = summary.exit_code
    return json.dumps(d, indent=1)
