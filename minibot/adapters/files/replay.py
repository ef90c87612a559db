"""Reading the store back at start-up: snapshot, then log, skipping damaged lines."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from minibot.adapters.files.codec import HEADER, CorruptLine, decode_line
from minibot.adapters.files.job_state import JobStoreState

log = logging.getLogger(__name__)

SNAPSHOT = "snapshot.jsonl"
_LOG_NAME = re.compile(r"^log-(\d+)\.jsonl$")


def log_name(generation: int) -> str:
    return f"log-{generation:06d}.jsonl"


@dataclass
class Replayed:
    state: JobStoreState
    generation: int
    log_records: int  # valid records in the current log, to decide when to compact
    snapshot_records: int
    skipped_lines: int


def _read_lines(path: Path, state: JobStoreState) -> tuple[int, int, int, int]:
    """Apply every valid line; returns (valid, skipped, offset after the last valid line,
    file size). A bad line in the middle is skipped; bytes after the last valid line are
    a torn tail, for the caller to cut away."""
    valid = skipped = good_end = position = 0
    with path.open("rb") as handle:  # line by line: a whole 50 MB log never sits in memory
        for line in handle:
            end = position + len(line)
            if not line.endswith(b"\n"):
                break  # no newline: the write was torn, never acknowledged
            try:
                state.apply(line)
            except (CorruptLine, KeyError, TypeError, ValueError) as exc:
                skipped += 1
                log.warning(
                    "job store: skipped a damaged line",
                    extra={"path": str(path), "offset": position, "why": str(exc)},
                )
            else:
                valid += 1
                good_end = end
            position = end
    size = path.stat().st_size
    return valid, skipped, good_end, size


def _snapshot_generation(path: Path) -> int | None:
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        header = decode_line(first)
    except CorruptLine:
        return None
    return int(header[1]) if header[0] == HEADER and len(header) == 3 else None


def replay(directory: Path, max_runs_per_job: int) -> Replayed:
    """Rebuild the state from `directory`; leaves the current log ending on a whole line
    and deletes leftovers of interrupted compactions."""
    state = JobStoreState(max_runs_per_job=max_runs_per_job)
    logs = sorted(int(m.group(1)) for p in directory.iterdir() if (m := _LOG_NAME.match(p.name)))
    snapshot = directory / SNAPSHOT
    skipped = snapshot_records = 0
    generation: int | None = None
    if snapshot.exists():
        generation = _snapshot_generation(snapshot)
        if generation is None:
            log.error(
                "job store: snapshot header damaged, using the newest log",
                extra={"path": str(snapshot)},
            )
        snapshot_records, skipped, _, _ = _read_lines(snapshot, state)
    if generation is None:
        generation = logs[-1] if logs else 0
    current = directory / log_name(generation)
    log_records = 0
    if current.exists():
        log_records, bad, good_end, size = _read_lines(current, state)
        skipped += bad
        if good_end < size:
            # Cut the torn tail so the next append starts on a clean line.
            log.warning(
                "job store: cut a torn tail",
                extra={"path": str(current), "bytes": size - good_end},
            )
            with current.open("r+b") as handle:
                handle.truncate(good_end)
                os.fsync(handle.fileno())
    for stale in directory.iterdir():
        match = _LOG_NAME.match(stale.name)
        if stale.name.endswith(".tmp") or (match and int(match.group(1)) != generation):
            stale.unlink()  # older generations are inside the snapshot already
    return Replayed(state, generation, log_records, snapshot_records, skipped)
