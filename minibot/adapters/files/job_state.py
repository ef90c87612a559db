"""The task store's current state in memory: jobs, indexes, ledger and time zones."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from minibot.adapters.files.codec import (
    EPOCH,
    HEADER,
    ID,
    NEXT,
    RUNNING_CODE,
    SAVE,
    SCHEDULED_CODE,
    START,
    TIMEZONE,
    CorruptLine,
    JobDecoder,
    Record,
    decode_line,
    encode_line,
    from_us,
    header_record,
    is_lazy_save,
    origin_of,
    save_record,
    timezone_record,
    to_us,
)
from minibot.core.jobs import Job, JobState, RunRecord


@dataclass
class JobStoreState:
    """Applied records; last write wins, so replaying a record twice changes nothing.

    A job is either built (`jobs`, its ledger in `runs`) or still the line it was read
    from (`stored`): building 100,000 Jobs would dominate start-up, so replay keeps each
    job's line and indexes only what start-up reads (owner, and the next run of scheduled
    ones in `waiting`), and a job is built the first time it is read or changed. Only the
    sole record of its job is kept as a line, so the line holds the whole ledger too.
    """

    max_runs_per_job: int = 50
    jobs: dict[str, Job] = field(default_factory=dict)
    # Tuples, replaced on change, so a shallow copy is a consistent snapshot.
    runs: dict[str, tuple[RunRecord, ...]] = field(default_factory=dict)
    stored: dict[str, bytes] = field(default_factory=dict)
    # Stored jobs that are scheduled: next run in microseconds (None while held).
    waiting: dict[str, int | None] = field(default_factory=dict)
    # Job ids as dict keys, not sets: a dict of strings is not tracked by the garbage
    # collector, while sets holding 100,000 ids made every full collection slower.
    by_owner: dict[str, dict[str, None]] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)
    # The job each origin key (the turn or tool call that made it) created.
    origins: dict[str, str] = field(default_factory=dict)
    last_id: int = 0
    _decoder: JobDecoder = field(default_factory=JobDecoder)

    # -- reading ---------------------------------------------------------------------

    def job(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is None and job_id in self.stored:
            job = self._build(job_id)
        return job

    def _build(self, job_id: str) -> Job:
        line = self.stored.pop(job_id)
        self.waiting.pop(job_id, None)
        record = decode_line(line)
        job = self._decoder.job(record)
        self.jobs[job_id] = job
        if saved := self._decoder.runs(record):
            self.runs[job_id] = self._merge((), saved)
        return job

    def made_by(self, origin: str) -> Job | None:
        job_id = self.origins.get(origin)
        return None if job_id is None else self.job(job_id)

    def owned(self, owner_id: str, *, include_finished: bool) -> list[Job]:
        ids = self.by_owner.get(owner_id, ())
        jobs = (
            self.job(i)
            for i in list(ids)
            # A stored job not waiting is finished (running ones are always built).
            if include_finished or i not in self.stored or i in self.waiting
        )
        return [j for j in jobs if j is not None and (include_finished or not j.finished)]

    def active(self) -> Iterator[Job]:
        for job_id in list(self.waiting):
            self._build(job_id)
        for job in self.jobs.values():
            if job.state is JobState.SCHEDULED or job.state is JobState.RUNNING:
                yield job

    def due(self, until: datetime) -> list[Job]:
        limit = to_us(until)
        for job_id in [i for i, at in self.waiting.items() if at is not None and at <= limit]:
            self._build(job_id)
        return [job for job in self.jobs.values() if job.is_due(until)]

    def scheduled_times(self) -> list[tuple[datetime, str]]:
        # from_us inlined: this runs for every scheduled job at start-up.
        epoch, delta = EPOCH, timedelta
        times = [(epoch + delta(0, 0, at), i) for i, at in self.waiting.items() if at is not None]
        times += [
            (job.next_run_at, job.id)
            for job in self.jobs.values()
            if job.state is JobState.SCHEDULED and job.next_run_at is not None
        ]
        return times

    def ledger(self, job_id: str) -> tuple[RunRecord, ...]:
        self.job(job_id)
        return self.runs.get(job_id, ())

    # -- changing --------------------------------------------------------------------

    def _merge(
        self, current: tuple[RunRecord, ...], runs: Sequence[RunRecord]
    ) -> tuple[RunRecord, ...]:
        by_key = {r.occurrence: r for r in current}
        for run in runs:
            known = by_key.get(run.occurrence)
            by_key[run.occurrence] = known.merge(run) if known is not None else run
        ordered = sorted(by_key.values(), key=lambda r: r.occurrence)
        return tuple(ordered[-self.max_runs_per_job :])

    def merged_runs(self, job_id: str, runs: Sequence[RunRecord]) -> tuple[RunRecord, ...]:
        """The job's ledger with `runs` merged in; raises IllegalTransition on a conflict."""
        return self._merge(self.ledger(job_id), runs)

    def put(self, job: Job, runs: tuple[RunRecord, ...] | None = None) -> None:
        job_id, owner_id = job.id, job.owner_id
        previous = self.job(job_id)
        if previous is not None and previous.owner_id != owner_id:
            self.by_owner.get(previous.owner_id, {}).pop(job_id, None)
        self.jobs[job_id] = job
        self._own(owner_id, job_id)
        if job.origin is not None:
            self.origins[job.origin] = job_id
        if runs is not None:
            self.runs[job_id] = runs
        if previous is None:
            self._count(job_id)

    def _own(self, owner_id: str, job_id: str) -> None:
        owned = self.by_owner.get(owner_id)
        if owned is None:
            owned = self.by_owner[owner_id] = {}
        owned[job_id] = None

    def _count(self, job_id: str) -> None:
        if job_id.isdigit():
            number = int(job_id)
            if number > self.last_id:
                self.last_id = number

    def apply(self, line: bytes) -> None:
        """Apply one replayed line; raises CorruptLine (or KeyError, TypeError,
        ValueError for a record that is not well formed)."""
        record = decode_line(line)
        kind = record[0]
        if kind == SAVE:
            self._replay_save(record, line)
        elif kind == START:
            self.start_run(record[1], from_us(record[2]))
        elif kind == TIMEZONE:
            self.timezones[record[1]] = record[2]
        elif kind == HEADER:
            self.last_id = max(self.last_id, int(record[2]))

    def _replay_save(self, record: Record, line: bytes) -> None:
        if not is_lazy_save(record):
            raise CorruptLine("not a save record")
        job_id, owner_id, state, next_run = record[ID : NEXT + 1]
        if state == RUNNING_CODE or job_id in self.stored or job_id in self.jobs:
            # Built now: a later record merges its runs into the earlier ledger, and
            # a running job is read by recovery at once anyway.
            self._apply_save(record)
            return
        # The common case at start-up, kept lean: 100,000 of these take most of it.
        self.stored[job_id] = line
        if state == SCHEDULED_CODE:
            self.waiting[job_id] = next_run
        owned = self.by_owner.get(owner_id)
        if owned is None:
            owned = self.by_owner[owner_id] = {}
        owned[job_id] = None
        if (origin := origin_of(record)) is not None:
            self.origins[origin] = job_id
        if job_id.isdigit() and int(job_id) > self.last_id:
            self.last_id = int(job_id)

    def _apply_save(self, record: Record) -> None:
        job = self._decoder.job(record)
        merged = None
        if saved := self._decoder.runs(record):
            # A conflict cannot happen for records the store accepted.
            with contextlib.suppress(ValueError):
                merged = self.merged_runs(job.id, saved)
        self.put(job, merged)

    def start_run(self, job_id: str, now: datetime) -> tuple[Job, RunRecord] | None:
        """Move a scheduled job due at `now` to running with an open ledger entry."""
        job = self.job(job_id)
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

    # -- compaction ------------------------------------------------------------------

    def copy(self) -> JobStoreState:
        """A point-in-time copy for compaction: the containers are copied, the immutable
        jobs, run tuples and lines are shared."""
        return JobStoreState(
            max_runs_per_job=self.max_runs_per_job,
            jobs=dict(self.jobs),
            runs=dict(self.runs),
            stored=dict(self.stored),
            timezones=dict(self.timezones),
            last_id=self.last_id,
        )

    @property
    def job_count(self) -> int:
        return len(self.jobs) + len(self.stored)

    @property
    def record_count(self) -> int:
        return self.job_count + len(self.timezones)

    def snapshot_lines(self, generation: int) -> Iterable[bytes]:
        yield encode_line(header_record(generation, self.last_id))
        # A stored line is its job's only record, ledger included: copied byte for byte.
        yield from self.stored.values()
        for job in self.jobs.values():
            yield encode_line(save_record(job, self.runs.get(job.id, ())))
        for owner_id, tz in self.timezones.items():
            yield encode_line(timezone_record(owner_id, tz))
