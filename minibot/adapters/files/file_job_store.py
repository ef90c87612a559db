"""The job store on local disk: an fsync'd, checksummed, append-only log plus a snapshot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import filelock

from minibot.adapters.files.codec import (
    encode_line,
    header_record,
    save_record,
    start_record,
    timezone_record,
)
from minibot.adapters.files.job_state import JobStoreState
from minibot.adapters.files.log_writer import LogWriter
from minibot.adapters.files.mounts import ensure_local_filesystem
from minibot.adapters.files.replay import log_name, replay
from minibot.core.errors import StoreError, StoreUnavailable
from minibot.core.health import Health, HealthBoard
from minibot.core.jobs import Job, RunRecord
from minibot.core.schedule import zone

log = logging.getLogger(__name__)


class FileJobStore:
    """A JobStore (see the port for its promises) kept in `directory`.

    The directory holds `snapshot.jsonl` (the state at the last compaction), the current
    `log-NNNNNN.jsonl` (records since), and `lock` (held by the owning process from start
    to stop). The current state lives in memory, so reads never touch the disk. The log
    is compacted when it holds more records than both `compact_after_records` and the
    last snapshot, which keeps the rewriting per record constant as the store grows.

    A write the disk refuses (full, read-only, an I/O error) raises `StoreUnavailable`
    and degrades the store; the next write cuts the log back to its last fsync'd batch,
    replays it on a new descriptor and goes on, which recovers it once the disk takes
    writes again.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        default_timezone: str = "UTC",
        compact_after_records: int = 10_000,
        lock_timeout_seconds: float = 5.0,
        max_runs_per_job: int = 50,
        fsync: Callable[[int], None] = os.fsync,
        mounts_path: str = "/proc/mounts",
    ) -> None:
        self.directory = Path(directory)
        self.default_timezone = default_timezone
        self.compact_after_records = compact_after_records
        self.lock_timeout_seconds = lock_timeout_seconds
        self.max_runs_per_job = max_runs_per_job
        self.skipped_lines = 0
        self._fsync = fsync
        self._mounts_path = mounts_path
        self._lock: filelock.BaseFileLock | None = None
        self._writer: LogWriter | None = None
        self._state = JobStoreState(max_runs_per_job=max_runs_per_job)
        self._log_records = 0
        self._snapshot_records = 0
        self._compacting = False
        self._reopening = asyncio.Lock()
        self._health = HealthBoard()

    @property
    def health(self) -> Health:
        return self._health.health

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self._prepare)
            await self._open()
            self._health.started()
        except BaseException:
            await self.stop()
            raise

    def _prepare(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create job store {self.directory}: {exc}") from exc
        ensure_local_filesystem(self.directory, self._mounts_path)
        lock = filelock.FileLock(self.directory / "lock", thread_local=False)
        try:
            lock.acquire(timeout=self.lock_timeout_seconds)
        except filelock.Timeout as exc:
            raise StoreError(
                f"job store {self.directory} is locked by another process "
                f"(waited {self.lock_timeout_seconds:g}s); is another minibot running?"
            ) from exc
        self._lock = lock

    async def _open(self) -> None:
        replayed = await asyncio.to_thread(replay, self.directory, self.max_runs_per_job)
        self._state = replayed.state
        self._log_records = replayed.log_records
        self._snapshot_records = replayed.snapshot_records
        self.skipped_lines += replayed.skipped_lines
        writer = LogWriter(
            self.directory, replayed.generation, self._fsync, asyncio.get_running_loop()
        )
        await asyncio.to_thread(writer.start)
        self._writer = writer
        log.info(
            "job store opened",
            extra={
                "path": str(self.directory),
                "jobs": self._state.job_count,
                "skipped": replayed.skipped_lines,
            },
        )

    async def stop(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.close)
        lock, self._lock = self._lock, None
        if lock is not None:
            await asyncio.to_thread(lock.release)
        self._health.stopped()

    # -- writes ----------------------------------------------------------------------

    async def new_job_id(self) -> str:
        self._state.last_id += 1
        return str(self._state.last_id)

    async def save(self, job: Job, runs: Sequence[RunRecord] = ()) -> None:
        await self.save_many([(job, runs)])

    async def save_many(self, items: Sequence[tuple[Job, Sequence[RunRecord]]]) -> None:
        for job, runs in items:
            if any(run.job_id != job.id for run in runs):
                raise ValueError(f"runs saved with job {job.id} must belong to it")
        await self._ensure_writable()
        # Check every ledger merge before applying any, so a conflict changes nothing.
        merged = [self._state.merged_runs(job.id, runs) if runs else None for job, runs in items]
        lines = []
        for (job, runs), job_runs in zip(items, merged, strict=True):
            self._state.put(job, job_runs)
            lines.append(encode_line(save_record(job, list(runs))))
        await self._append(b"".join(lines), len(lines))

    async def start_runs(
        self, job_ids: Sequence[str], now: datetime
    ) -> list[tuple[Job, RunRecord]]:
        await self._ensure_writable()
        started = []
        lines = []
        for job_id in job_ids:
            pair = self._state.start_run(job_id, now)
            if pair is not None:
                started.append(pair)
                # A small delta record: replay re-applies the same transition.
                lines.append(encode_line(start_record(job_id, now)))
        if lines:
            await self._append(b"".join(lines), len(lines))
        return started

    async def set_timezone(self, owner_id: str, tz: str) -> None:
        zone(tz)  # raises ValueError for an unknown zone before anything is written
        await self._ensure_writable()
        self._state.timezones[owner_id] = tz
        await self._append(encode_line(timezone_record(owner_id, tz)), 1)

    async def advance_job_ids(self, last_id: int) -> None:
        """Makes `new_job_id` hand out only ids past `last_id` (a store copied in had
        given those out), durably: a header record in the log, which replay takes as
        the counter's floor."""
        if last_id <= self._state.last_id:
            return
        await self._ensure_writable()
        writer = self._writer
        assert writer is not None
        self._state.last_id = last_id
        await self._append(encode_line(header_record(writer.generation, last_id)), 1)

    async def _ensure_writable(self) -> None:
        writer = self._writer
        if writer is None:
            raise StoreError(f"job store {self.directory} is not started")
        if writer.broken is not None:
            await self._reopen(writer)

    async def _reopen(self, broken: LogWriter) -> None:
        """After a failed write the disk is the only truth: cut what the failed batch
        may have left, drop the writer, replay. While that fails too, the broken writer
        stays, so the next write tries again."""
        async with self._reopening:
            if self._writer is not broken:
                return  # another caller already reopened
            log.error(
                "task store reopening from its log after a failed write",
                extra={"path": str(self.directory)},
            )
            try:
                await asyncio.to_thread(broken.close)
                await asyncio.to_thread(self._cut_log, broken)
                await self._open()
            except (OSError, StoreError) as exc:
                self._writer = broken
                self._degrade(exc)
                raise StoreUnavailable(f"task store cannot be written: {exc}") from exc

    def _cut_log(self, broken: LogWriter) -> None:
        """Truncates the log to the end of its last fsync'd batch, on a new descriptor:
        a failed batch may sit whole in the page cache, and replay must not revive it."""
        path = self.directory / log_name(broken.generation)
        try:
            handle = path.open("r+b")
        except FileNotFoundError:
            return  # compacted away: the snapshot holds everything
        with handle:
            if os.fstat(handle.fileno()).st_size > broken.good_offset:
                handle.truncate(broken.good_offset)
            self._fsync(handle.fileno())

    def _degrade(self, error: BaseException) -> None:
        self._health.degrade("disk", f"the task store cannot be written: {_reason(error)}")

    async def _append(self, data: bytes, records: int) -> None:
        writer = self._writer
        assert writer is not None
        future = writer.append(data)
        self._log_records += records
        if not self._compacting and self._log_records >= max(
            self.compact_after_records, self._snapshot_records
        ):
            self._start_compaction(writer)
        try:
            # The write goes on if our caller is cancelled; only the wait is abandoned.
            await asyncio.shield(future)
        except StoreError as exc:
            self._degrade(exc)
            if writer.broken is not None:
                # Memory may hold what the disk lost: reload before anyone reads it.
                with contextlib.suppress(StoreError):
                    await self._reopen(writer)
            raise
        self._health.recover("disk")

    def _start_compaction(self, writer: LogWriter) -> None:
        snapshot = self._state.copy()
        generation = writer.generation + 1
        future = writer.compact(snapshot.snapshot_lines(generation), generation)
        self._compacting = True
        self._log_records = 0
        self._snapshot_records = snapshot.record_count

        def done(fut: asyncio.Future[None]) -> None:
            self._compacting = False
            if fut.exception() is not None:
                log.error("task store compaction failed", extra={"error": str(fut.exception())})

        future.add_done_callback(done)

    # -- reads -----------------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        return self._state.job(job_id)

    async def job_made_by(self, origin: str) -> Job | None:
        return self._state.made_by(origin)

    async def list_jobs(self, owner_id: str, *, include_finished: bool = False) -> list[Job]:
        chosen = self._state.owned(owner_id, include_finished=include_finished)
        return sorted(chosen, key=Job.soonest_first)

    async def active_jobs(self) -> list[Job]:
        return list(self._state.active())

    async def due_jobs(self, until: datetime) -> list[Job]:
        return self._state.due(until)

    async def scheduled_times(self) -> list[tuple[datetime, str]]:
        return self._state.scheduled_times()

    async def runs(self, job_id: str) -> list[RunRecord]:
        return list(self._state.ledger(job_id))

    async def get_timezone(self, owner_id: str) -> str:
        return self._state.timezones.get(owner_id, self.default_timezone)

    # -- the whole store, for `minibot jobs migrate` ------------------------------------

    async def all_jobs(self) -> list[Job]:
        """Every job, finished ones included, in no order."""
        ids = [*self._state.jobs, *self._state.stored]
        return [job for job in map(self._state.job, ids) if job is not None]

    async def timezones(self) -> dict[str, str]:
        """Each owner's stored time zone (owners on the default are not listed)."""
        return dict(self._state.timezones)

    async def last_job_id(self) -> int:
        """The newest id handed out or saved (0 for none)."""
        return self._state.last_id

    @property
    def fsync_batches(self) -> int:
        return self._writer.batches if self._writer is not None else 0


def _reason(error: BaseException) -> str:
    """The operating system's words (\"No space left on device\") when there are some."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return str(error)
