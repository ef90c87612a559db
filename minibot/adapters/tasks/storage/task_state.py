"""The task store's current state in memory: jobs, indexes, ledger and time zones."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from minibot.adapters.tasks.storage.codec import (
    JobDecoder,
    Record,
    run_from_dict,
    save_record,
    timezone_record,
)
from minibot.core.jobs import Job, JobState, RunRecord


@dataclass
class TaskState:
    """Applied records; last write wins, so replaying a record twice changes nothing."""

    max_runs_per_job: int = 50
    jobs: dict[str, Job] = field(default_factory=dict)
    by_owner: dict[str, set[str]] = field(default_factory=dict)
    # Tuples, replaced on change, so a shallow copy is a consistent snapshot.
    runs: dict[str, tuple[RunRecord, ...]] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)
    last_id: int = 0
    _decoder: JobDecoder = field(default_factory=JobDecoder)

    def merged_runs(self, job_id: str, runs: Sequence[RunRecord]) -> tuple[RunRecord, ...]:
        """The job's ledger with `runs` merged in; raises IllegalTransition on a conflict."""
        by_key = {r.occurrence: r for r in self.runs.get(job_id, ())}
        for run in runs:
            current = by_key.get(run.occurrence)
            by_key[run.occurrence] = current.merge(run) if current is not None else run
        ordered = sorted(by_key.values(), key=lambda r: r.occurrence)
        return tuple(ordered[-self.max_runs_per_job :])

    def put(self, job: Job, runs: tuple[RunRecord, ...] | None = None) -> None:
        job_id, owner_id = job.id, job.owner_id
        previous = self.jobs.get(job_id)
        if previous is not None and previous.owner_id != owner_id:
            self.by_owner.get(previous.owner_id, set()).discard(job_id)
        self.jobs[job_id] = job
        owned = self.by_owner.get(owner_id)
        if owned is None:
            owned = self.by_owner[owner_id] = set()
        owned.add(job_id)
        if runs is not None:
            self.runs[job_id] = runs
        if previous is None and job_id.isdigit():  # a known id was counted already
            number = int(job_id)
            if number > self.last_id:
                self.last_id = number

    def apply(self, record: Record) -> None:
        """Apply one replayed record (already checksum-verified)."""
        kind = record["t"]
        if kind == "save":
            job = self._decoder.job(record["job"])
            merged = None
            if saved_runs := record.get("runs"):  # most saves carry no runs
                runs = [run_from_dict(job.id, r) for r in saved_runs]
                # A conflict cannot happen for records the store accepted.
                with contextlib.suppress(ValueError):
                    merged = self.merged_runs(job.id, runs)
            self.put(job, merged)
        elif kind == "start":
            self.start_run(record["id"], datetime.fromisoformat(record["at"]))
        elif kind == "tz":
            self.timezones[record["owner"]] = record["tz"]
        elif kind == "snapshot":
            self.last_id = max(self.last_id, int(record.get("last_id", 0)))

    def start_run(self, job_id: str, now: datetime) -> tuple[Job, RunRecord] | None:
        """Move a scheduled job due at `now` to running with an open ledger entry."""
        job = self.jobs.get(job_id)
        if (
            job is None
            or job.state is not JobState.SCHEDULED
            or job.next_run_at is None
            or job.next_run_at > now
        ):
            return None
        running = job.start(now)
        run = RunRecord.started(running, now)
        self.put(running, self.merged_runs(job_id, (run,)))
        return running, run

    def active(self) -> Iterator[Job]:
        for job in self.jobs.values():
            if job.state is JobState.SCHEDULED or job.state is JobState.RUNNING:
                yield job

    def copy(self) -> TaskState:
        """A point-in-time copy for compaction: the containers are copied, the immutable
        jobs and run tuples are shared."""
        return TaskState(
            max_runs_per_job=self.max_runs_per_job,
            jobs=dict(self.jobs),
            runs=dict(self.runs),
            timezones=dict(self.timezones),
            last_id=self.last_id,
        )

    @property
    def record_count(self) -> int:
        return len(self.jobs) + len(self.timezones)

    def snapshot_records(self, generation: int) -> Iterable[Record]:
        yield {"t": "snapshot", "gen": generation, "last_id": self.last_id}
        for job in self.jobs.values():
            yield save_record(job, self.runs.get(job.id, ()))
        for owner_id, tz in self.timezones.items():
            yield timezone_record(owner_id, tz)
