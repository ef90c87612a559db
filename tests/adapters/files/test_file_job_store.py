"""The file store on disk: reopening, damaged tails, compaction, failed fsyncs, group commit."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.files.replay import SNAPSHOT, log_name
from minibot.core.conversation import ConversationKey
from minibot.core.errors import StoreError, StoreUnavailable
from minibot.core.health import HealthState
from minibot.core.jobs import Action, ActionKind, RunOutcome, RunRecord
from tests.adapters.files.builders import T0, reminder


async def opened(path: Path, **kwargs: object) -> FileJobStore:
    store = FileJobStore(path, **kwargs)  # type: ignore[arg-type]
    await store.start()
    return store


def current_log(path: Path) -> Path:
    logs = sorted(path.glob("log-*.jsonl"))
    assert len(logs) == 1, logs
    return logs[0]


async def test_jobs_runs_and_time_zones_survive_a_reopen(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    job = reminder(await store.new_job_id()).start(T0)
    run = RunRecord.started(job, T0)
    await store.save(job, [run])
    await store.save(job.succeed(T0, None), [run.finish(RunOutcome.DELIVERED, T0)])
    await store.set_timezone("u1", "Asia/Tokyo")
    await store.save(reminder("7", at=T0))
    [(running, open_run)] = await store.start_runs(["7"], T0)
    await store.stop()

    again = await opened(tmp_path)
    assert await again.get("1") == job.succeed(T0, None)
    assert [r.outcome for r in await again.runs("1")] == [RunOutcome.DELIVERED]
    assert await again.get_timezone("u1") == "Asia/Tokyo"
    assert await again.get("7") == running  # the compact "start" record replays exactly
    assert await again.runs("7") == [open_run]
    assert await again.new_job_id() == "8"
    await again.stop()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data + b'0badc0de {"t":"save","jo',  # torn: no newline
        lambda data: data + b"garbage\n",  # bad framing
        lambda data: data[:-5] + b"X" + data[-4:],  # checksum no longer matches
    ],
    ids=["partial-line", "garbage-line", "bad-checksum"],
)
async def test_a_damaged_tail_is_skipped_and_cut_away(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    store = await opened(tmp_path)
    for job_id in ("1", "2"):
        await store.save(reminder(job_id))
    await store.stop()
    log_path = current_log(tmp_path)
    log_path.write_bytes(damage(log_path.read_bytes()))

    again = await opened(tmp_path)
    assert again.skipped_lines <= 1
    assert await again.get("1") is not None
    await again.save(reminder("3"))  # appended after the cut, on a clean line
    await again.stop()

    third = await opened(tmp_path)
    assert third.skipped_lines == 0
    assert await third.get("3") is not None
    await third.stop()


async def test_a_damaged_line_in_the_middle_does_not_hide_later_ones(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    for job_id in ("1", "2", "3"):
        await store.save(reminder(job_id))
    await store.stop()
    log_path = current_log(tmp_path)
    lines = log_path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"reminder 2", b"reminder X")
    log_path.write_bytes(b"".join(lines))

    again = await opened(tmp_path)
    assert again.skipped_lines == 1
    assert await again.get("2") is None and await again.get("3") is not None
    await again.stop()


async def test_the_log_is_compacted_into_a_snapshot(tmp_path: Path) -> None:
    store = await opened(tmp_path, compact_after_records=10)
    for i in range(1, 21):
        await store.save(reminder(str(i)))
    for i in range(1, 21):
        job = await store.get(str(i))
        assert job is not None
        await store.save(job.cancel(T0))
    await store.stop()
    assert (tmp_path / SNAPSHOT).exists()
    log_path = current_log(tmp_path)
    assert log_path.name != log_name(0)
    assert len(log_path.read_bytes().splitlines()) < 20

    again = await opened(tmp_path)
    jobs = await again.list_jobs("u1", include_finished=True)
    assert len(jobs) == 20 and all(j.finished for j in jobs)
    await again.stop()


async def test_leftovers_of_an_interrupted_compaction_are_removed(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    await store.save(reminder("1"))
    await store.stop()
    (tmp_path / (SNAPSHOT + ".tmp")).write_bytes(b"half a snapshot")
    again = await opened(tmp_path)
    assert await again.get("1") is not None
    assert not (tmp_path / (SNAPSHOT + ".tmp")).exists()
    await again.stop()


async def test_a_failed_fsync_is_not_retried_and_the_store_reopens_from_its_log(
    tmp_path: Path,
) -> None:
    failures = {"left": 0}

    def flaky_fsync(fd: int) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(5, "Input/output error")
        os.fsync(fd)

    store = await opened(tmp_path, fsync=flaky_fsync)
    await store.save(reminder("1"))
    failures["left"] = 1
    with pytest.raises(StoreError, match="Input/output error"):
        await store.save(reminder("2"))
    await store.save(reminder("3"))  # reopens from the log first, then writes
    assert failures["left"] == 0
    assert await store.get("1") is not None and await store.get("3") is not None
    await store.stop()


async def test_concurrent_writes_share_their_fsyncs(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    await asyncio.gather(*(store.save(reminder(str(i))) for i in range(1, 1001)))
    assert store.fsync_batches < 100
    await store.stop()
    again = await opened(tmp_path)
    assert len(await again.list_jobs("u1")) == 1000
    await again.stop()


async def test_a_write_whose_caller_is_cancelled_still_lands(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    task = asyncio.create_task(store.save(reminder("1")))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.stop()
    again = await opened(tmp_path)
    assert await again.get("1") is not None
    await again.stop()


async def test_writes_before_start_are_refused_and_stop_is_idempotent(tmp_path: Path) -> None:
    store = FileJobStore(tmp_path)
    with pytest.raises(StoreError, match="not started"):
        await store.save(reminder("1"))
    await store.stop()
    await store.stop()


async def test_a_network_file_system_is_refused_by_name(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"server:/export {tmp_path} nfs4 rw,relatime 0 0\n")
    store = FileJobStore(tmp_path / "tasks", mounts_path=str(mounts))
    with pytest.raises(StoreError, match=re.escape(f"{tmp_path / 'tasks'} is on a nfs4 network")):
        await store.start()
    await store.stop()


async def test_a_second_store_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    first = await opened(tmp_path)
    second = FileJobStore(tmp_path, lock_timeout_seconds=0.1)
    with pytest.raises(StoreError, match="locked by another process"):
        await second.start()
    await first.stop()
    await second.start()
    await second.stop()


async def test_thousands_of_records_replay_with_timestamps_intact(tmp_path: Path) -> None:
    store = await opened(tmp_path, compact_after_records=100)
    jobs = [reminder(str(i), at=T0 + timedelta(minutes=i)) for i in range(1, 501)]
    await asyncio.gather(*(store.save(j) for j in jobs))
    await store.stop()
    again = await opened(tmp_path)
    assert [await again.get(j.id) for j in jobs] == jobs
    await again.stop()


async def test_jobs_read_after_a_reopen_keep_their_ledger_across_compactions(
    tmp_path: Path,
) -> None:
    # After a reopen jobs are built only when read; their ledgers must still merge with
    # later records, and compaction must carry both kinds of job over unchanged.
    store = await opened(tmp_path)
    done = reminder(await store.new_job_id()).start(T0)
    run = RunRecord.started(done, T0)
    await store.save(done.succeed(T0, None), [run.finish(RunOutcome.DELIVERED, T0)])
    waiting = reminder(await store.new_job_id(), at=T0 + timedelta(days=1))
    held = reminder(await store.new_job_id()).hold(T0)
    cancelled = reminder(await store.new_job_id()).cancel(T0)
    for job in (waiting, held, cancelled):
        await store.save(job)
    await store.stop()

    again = await opened(tmp_path, compact_after_records=2)
    assert await again.scheduled_times() == [(waiting.next_run_at, waiting.id)]
    assert await again.due_jobs(T0) == []
    assert [j.id for j in await again.list_jobs("u1")] == [waiting.id, held.id]
    assert {j.id for j in await again.active_jobs()} == {waiting.id, held.id}
    missed = RunRecord.missed(waiting.id, T0 - timedelta(days=1), T0, "offline")
    await again.save(waiting, [missed])  # a later record: merged into the kept ledger
    await again.save(waiting, [missed])  # and compacts, with jobs never read since
    await again.stop()
    assert (tmp_path / SNAPSHOT).exists()

    third = await opened(tmp_path)
    assert [await third.get(str(i)) for i in range(1, 5)] == [
        done.succeed(T0, None),
        waiting,
        held,
        cancelled,
    ]
    assert [r.outcome for r in await third.runs(done.id)] == [RunOutcome.DELIVERED]
    assert await third.runs(waiting.id) == [missed]
    assert len(await third.list_jobs("u1", include_finished=True)) == 4
    assert await third.new_job_id() == "5"
    await third.stop()


async def test_the_origin_of_a_job_survives_a_reopen_and_a_compaction(tmp_path: Path) -> None:
    store = await opened(tmp_path, compact_after_records=10)
    keyed = replace(reminder("1"), origin="telegram:42#in7/schedule_reminder#0")
    await store.save(keyed)
    await store.save(replace(reminder("2"), origin="telegram:42#in8"), [])
    for i in range(3, 15):
        await store.save(reminder(str(i)))
    await store.stop()
    assert (tmp_path / SNAPSHOT).exists()

    again = await opened(tmp_path)
    assert await again.job_made_by("telegram:42#in7/schedule_reminder#0") == keyed
    found = await again.job_made_by("telegram:42#in8")
    assert found is not None and found.id == "2"
    assert (await again.get("3")).origin is None  # type: ignore[union-attr]
    await again.stop()


async def test_a_jobs_thread_survives_a_reopen_and_a_compaction(tmp_path: Path) -> None:
    store = await opened(tmp_path, compact_after_records=10)
    thread = ConversationKey("slack", "C0000001", "1700000000.000100")
    in_thread = replace(reminder("1"), target=thread)
    await store.save(in_thread)
    await store.stop()
    again = await opened(tmp_path, compact_after_records=10)
    assert await again.get("1") == in_thread
    for i in range(2, 15):
        await again.save(reminder(str(i)))
    await again.stop()
    assert (tmp_path / SNAPSHOT).exists()

    third = await opened(tmp_path)
    assert (await third.get("1")).target == thread  # type: ignore[union-attr]
    assert (await third.get("2")).target.thread == ""  # type: ignore[union-attr]
    await third.stop()


async def test_a_batch_whose_fsync_failed_is_cut_from_the_log_and_never_revived(
    tmp_path: Path,
) -> None:
    failures = {"left": 0}

    def full_fsync(fd: int) -> None:
        if failures["left"]:
            failures["left"] -= 1
            # Delayed allocation: the write was taken into the page cache, the flush fails.
            raise OSError(28, "No space left on device")
        os.fsync(fd)

    store = await opened(tmp_path, fsync=full_fsync)
    await store.save(reminder("1"))
    assert store.health.state is HealthState.READY
    failures["left"] = 1
    with pytest.raises(StoreUnavailable, match="No space left on device"):
        await store.save(reminder("2"))
    health = store.health
    assert health.state is HealthState.DEGRADED
    assert health.reason == "the task store cannot be written: No space left on device"
    # Neither memory nor the disk keeps what was reported as failed.
    assert await store.get("2") is None
    assert b"reminder 2" not in current_log(tmp_path).read_bytes()

    await store.save(reminder("3"))
    assert store.health.state is HealthState.READY
    await store.stop()
    again = await opened(tmp_path)
    assert await again.get("1") is not None and await again.get("3") is not None
    assert await again.get("2") is None
    await again.stop()


async def test_a_prompts_model_survives_a_reopen_with_and_without_runs(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    plain = reminder(await store.new_job_id())
    named = replace(plain, action=Action(ActionKind.PROMPT, "news", "cheap"))
    await store.save(named)
    other = replace(reminder(await store.new_job_id()), action=Action(ActionKind.PROMPT, "x"))
    await store.save(other)
    await store.stop()

    again = await opened(tmp_path)
    assert await again.get(named.id) == named
    assert (await again.get(other.id)).action.model is None  # type: ignore[union-attr]
    await again.stop()
