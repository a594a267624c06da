"""The export job: choose samples, skip what is done, export the rest in parallel, finish, report.

    with OutputLock(dest):                   # one writer per folder
        claim DIR/export.json                # format, pipeline hash, options: another export's folder is refused
        to do: the chosen samples whose file is not in DIR yet (per-sample formats), else all of them
        workers (loky processes; this process with workers=1) -> DIR/<file of the id>.<ext>, atomically
        finish: the format's one file (table, manifest, pickle) from the rows of every sample in DIR
        summary + export_errors.jsonl

Resumable as an extract is: every file appears complete or not at all (signprep.atomic), a file
that exists is a finished sample, and a rerun of the same command exports the rest. A sample
that fails (unreadable shard, an id no sample can have, a full disk) is reported and costs
only itself. A file is named by signprep.manifests.names.output_file_stem, the one rule for a
sample's files: the id when it is a plain ASCII file name, else a safe ASCII stem with a hash
(the table or manifest says which id each file holds).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from signprep import __version__
from signprep.atomic import atomic_write_text, remove_stale_temps_in
from signprep.exports.format import Exported, ExportError, ExportFormat, sample_file_name
from signprep.extraction.lock import OutputLock
from signprep.interrupts import sigterm_as_interrupt
from signprep.manifests.names import shown_name
from signprep.manifests.records import ManifestError, check_sample_id
from signprep.shards.reader import ShardReader
from signprep.shards.schema import INDEX_NAME, SchemaError

CLAIM_NAME = "export.json"  # what this folder holds: format, pipeline hash, options
ERRORS_NAME = "export_errors.jsonl"
SUMMARY_NAME = "export_summary.json"


class ExportConflict(RuntimeError):
    """The folder holds another export (another format, pipeline or options)."""


@dataclass
class ExportSummary:
    format: str
    shards: str
    dest: str
    selected: int = 0
    done_now: int = 0
    skipped: int = 0  # their files were in DIR already
    failed: list[Exported] = field(default_factory=list)
    frames: int = 0  # of the samples exported now
    bytes: int = 0  # written now, the format's final file included
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)  # the format's final files (table, manifest, pickle)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed else 0

    def render(self) -> str:
        rate = self.done_now / self.seconds if self.seconds else 0.0
        mb = self.bytes / 2**20
        lines = [
            f"signprep export {self.format}: {self.shards} -> {self.dest}",
            f"  samples chosen      : {self.selected}",
            f"  exported now        : {self.done_now} ({self.frames} frames, {mb:.1f} MB in {self.seconds:.1f} s, "
            f"{rate:.1f} samples/s, {mb / self.seconds if self.seconds else 0.0:.1f} MB/s)",
            f"  skipped (done)      : {self.skipped}",
            f"  failed              : {len(self.failed)}",
        ]
        for r in self.failed[:10]:
            lines.append(f"    failed  {shown_name(r.sample_id)} {(r.error or '').splitlines()[0]}")
        if len(self.failed) > 10:
            lines.append(f"    ... {len(self.failed) - 10} more")
        for path in self.files:
            lines.append(f"  written             : {path}")
        if self.failed:
            lines.append(f"  errors recorded in  : {Path(self.dest) / ERRORS_NAME}")
        if self.interrupted:
            lines.append("  interrupted: finished files were kept; rerun the same command to continue")
        return "\n".join(lines)

    def to_json(self) -> str:
        d = asdict(self)
        d["failed"] = [{"sample_id": r.sample_id, "error": r.error} for r in self.failed]
        d["exit_code"] = self.exit_code
        return json.dumps(d, indent=1)


def choose_samples(reader: ShardReader, samples: list[str] | None = None, splits: list[str] | None = None) -> list[str]:
    """Sorted ids of the shards' samples that are in `samples` (all when None) and in one of `splits`
    (any split when None); ExportError naming ids the shards do not hold."""
    if samples:
        unknown = sorted(set(samples) - set(reader.index.samples))
        if unknown:
            raise ExportError(f"no such samples in {reader.root}: {', '.join(unknown[:20])}")
        chosen = sorted(set(samples))
    else:
        chosen = list(reader)
    if splits:
        present = {entry["split"] for entry in reader.index.samples.values()}
        unknown = sorted(set(splits) - present)
        if unknown:
            raise ExportError(
                f"no samples of split {', '.join(map(repr, unknown))} in {reader.root} "
                f"(splits: {', '.join(sorted(map(repr, present)))})"
            )
        chosen = [s for s in chosen if reader.index.samples[s]["split"] in splits]
    return chosen


def run_export(
    shards: str | Path,
    fmt: ExportFormat,
    dest: str | Path,
    *,
    samples: list[str] | None = None,
    splits: list[str] | None = None,
    workers: int = 1,
    force: bool = False,
    progress: bool = True,
) -> ExportSummary:
    """Export the chosen samples of the shard directory `shards` into the folder `dest`.

    SchemaError: `shards` is not a readable shard directory; ExportError: bad choices (nothing
    written); ExportConflict: `dest` holds another export (use another folder, or force);
    OutputLocked: another run writes `dest`.
    """
    shards, dest = Path(shards), Path(dest)
    with ShardReader(shards) as reader:
        chosen = choose_samples(reader, samples, splits)
        if not chosen:
            raise ExportError(f"no samples chosen in {shards}")
        fmt.check(reader[chosen[0]])
        pipeline_hash = reader.index.pipeline_hash
    summary = ExportSummary(fmt.name, str(shards), str(dest), selected=len(chosen))
    claim = {"format": fmt.name, "pipeline_hash": pipeline_hash, "options": fmt.options()}
    chosen_sha = hashlib.sha256("\n".join(chosen).encode()).hexdigest()
    with OutputLock(dest):
        previous = _read_claim(dest)
        if previous is not None and _claimed(previous) != claim and not force:
            raise ExportConflict(
                f"{dest} holds another export ({_claimed(previous)}; this one: {claim}). Use another folder, "
                "or --force to export into it again"
            )
        whole_file = None if fmt.per_sample else dest / fmt.output_name
        same_choice = (previous or {}).get("chosen") == chosen_sha
        if whole_file is not None and whole_file.exists() and same_choice and not force:
            summary.skipped = len(chosen)  # the one file already holds exactly these samples
            summary.files = [str(whole_file)]
            return summary
        remove_stale_temps_in(dest)  # writes a killed run left unfinished
        atomic_write_text(dest / CLAIM_NAME, json.dumps({**claim, "chosen": chosen_sha, "signprep": __version__}))
        if fmt.per_sample and not force:
            todo = [s for s in chosen if not (dest / sample_file_name(s, fmt.suffix)).exists()]
        else:
            todo = list(chosen)
        summary.skipped = len(chosen) - len(todo)
        rows: dict[str, Any] = {}
        t0 = time.perf_counter()
        try:
            with sigterm_as_interrupt():  # a scheduler's stop keeps the finished files, as Ctrl-C does
                _run(todo, fmt, shards, dest, workers, progress, summary, rows)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            try:
                # what is finished stays usable, interrupted or not: the table lists every file in DIR
                summary.files = [str(p) for p in _finish(fmt, shards, dest, rows, summary)]
            finally:
                summary.seconds = time.perf_counter() - t0
                _write_report(dest, summary)
    return summary


def _read_claim(dest: Path) -> dict[str, Any] | None:
    path = dest / CLAIM_NAME
    if not path.is_file():
        return None
    try:
        claim = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ExportConflict(f"{path}: unreadable ({e}); remove it, or use --force") from None
    if not isinstance(claim, dict):
        raise ExportConflict(f"{path}: not an export record; remove it, or use --force")
    return claim


def _claimed(claim: dict[str, Any]) -> dict[str, Any]:
    return {k: claim.get(k) for k in ("format", "pipeline_hash", "options")}


# ------------------------------------------------------------------------------------------ workers
# each worker process opens the shard directory once and keeps it for the samples it is given
_READERS: dict[tuple[str, int], ShardReader] = {}


def _reader(root: str, index_mtime: int) -> ShardReader:
    key = (root, index_mtime)  # a directory extracted again since is read afresh
    if key not in _READERS:
        _READERS[key] = ShardReader(root)
    return _READERS[key]


def export_one(fmt: ExportFormat, root: str, index_mtime: int, sample_id: str, dest: str) -> Exported:
    """Export one sample (what a worker runs); never raises for a bad sample."""
    try:
        check_sample_id(sample_id)  # shards from elsewhere: an id the manifests would refuse is not re-exported
        return fmt.export_sample(_reader(root, index_mtime)[sample_id], Path(dest))
    except ManifestError as e:
        return Exported(sample_id, error=str(e))
    except (SchemaError, KeyError, ValueError, OSError) as e:  # OSError: signprep.atomic's one-line WriteError
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return Exported(sample_id, error=f"{type(e).__name__}: {message}")


def _run(todo, fmt, shards: Path, dest: Path, workers: int, progress: bool, summary, rows) -> None:
    if not todo:
        return
    bar = tqdm(
        total=len(todo), desc=f"export {fmt.name}", unit="sample", disable=not progress, file=sys.stderr,
        dynamic_ncols=True,
    )  # fmt: skip
    root, mtime = os.path.abspath(shards), (shards / INDEX_NAME).stat().st_mtime_ns

    def record(result: Exported) -> None:
        if result.error is None:
            summary.done_now += 1
            summary.frames += result.frames
            summary.bytes += result.bytes
            rows[result.sample_id] = result.row
        else:
            summary.failed.append(result)
        bar.update(1)
        bar.set_postfix(failed=len(summary.failed))

    try:
        if workers == 1:  # no pool to start: a small export is done before one would be up
            for sample_id in todo:
                record(export_one(fmt, root, mtime, sample_id, str(dest)))
        else:
            _run_parallel(todo, lambda s: (export_one, fmt, root, mtime, s, str(dest)), workers, record)
    finally:
        bar.close()


def _run_parallel(todo: list[str], task: Callable[[str], tuple], workers: int, record) -> None:
    from signprep.extraction.backends import LokyBackend

    executor = LokyBackend(workers)
    pending = list(reversed(todo))
    in_flight: dict[Future, str] = {}
    try:
        while pending or in_flight:
            while pending and len(in_flight) < 2 * executor.slots:  # a small queue keeps every worker fed
                sample_id = pending.pop()
                in_flight[executor.submit(*task(sample_id))] = sample_id
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                sample_id = in_flight.pop(future)
                try:
                    result = future.result()
                except Exception as e:
                    died = executor.worker_died(e)
                    result = Exported(sample_id, error=("worker process died: " if died else "") + f"{e}")
                record(result)
    except KeyboardInterrupt:
        executor.abort()
        raise
    finally:
        executor.close()


# ------------------------------------------------------------------------------------------ the end
def _finish(fmt, shards: Path, dest: Path, rows: dict[str, Any], summary) -> list[Path]:
    """The format's final files. Per-sample formats: a table of every sample file in DIR, from the rows of
    this run, of earlier runs, and, for files whose rows an earlier run never recorded (it was killed),
    from the shards' attributes."""
    if not fmt.per_sample:
        if not rows:
            return []
        path = fmt.finish(dest, dict(sorted(rows.items())))[0]
        summary.bytes += path.stat().st_size
        return [path]
    files = {p.name for p in dest.iterdir() if p.name.endswith(fmt.suffix) and p.is_file()}
    every = {s: r for s, r in fmt.read_rows(dest).items() if sample_file_name(s, fmt.suffix) in files}
    every.update(rows)
    with ShardReader(shards) as reader:
        unrecorded = sorted(s for s in reader if s not in every and sample_file_name(s, fmt.suffix) in files)
        every.update({s: fmt.row_of(reader[s]) for s in unrecorded})
    if not every:
        return []
    return fmt.finish(dest, dict(sorted(every.items())))


def _write_report(dest: Path, summary: ExportSummary) -> None:
    rows = [{"sample_id": r.sample_id, "status": "failed", "error": r.error} for r in summary.failed]
    atomic_write_text(dest / ERRORS_NAME, "".join(json.dumps(row) + "\n" for row in rows))
    atomic_write_text(dest / SUMMARY_NAME, summary.to_json())
