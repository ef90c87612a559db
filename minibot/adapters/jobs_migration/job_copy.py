"""Copying every job, its run ledger, the owners' time zones and the id counter between
two job stores, so that copying again changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from minibot.core.errors import IllegalTransition, MigrationRefused
from minibot.core.jobs import Job, RunRecord


class WholeJobStore(Protocol):
    """What a copy reads and writes: the JobStore port's calls plus whole-store reads."""

    async def all_jobs(self) -> list[Job]: ...

    async def runs(self, job_id: str) -> list[RunRecord]: ...

    async def timezones(self) -> dict[str, str]: ...

    async def last_job_id(self) -> int: ...

    async def save_many(self, items: Sequence[tuple[Job, Sequence[RunRecord]]]) -> None: ...

    async def set_timezone(self, owner_id: str, tz: str) -> None: ...

    async def advance_job_ids(self, last_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Copied:
    jobs: int  # written to the target
    unchanged: int  # already in the target as in the source
    timezones: int  # written to the target
    last_id: int  # the target's counter is at least this now


async def copy_jobs(source: WholeJobStore, target: WholeJobStore, *, store: str) -> Copied:
    """Copies every job of `source` (finished ones too: their origin keys keep a turn
    run again from creating its job twice), with its ledger, into `target`, then the
    time zones and the id counter.

    A job the target holds as the source does is left alone; one the source holds in a
    later version (copying back after the daemon ran on the other store) replaces it,
    its ledgers merged. A job the target holds in a later or a different version of the
    same moment would be rolled back: the copy is refused (MigrationRefused naming
    `store`, the target) before anything is written. The jobs are written in one
    `save_many` (one transaction, or one log append): all of them or none."""
    there = {job.id: job for job in await target.all_jobs()}
    writes: list[tuple[Job, list[RunRecord]]] = []
    unchanged = 0
    stale: list[str] = []
    for job in sorted(await source.all_jobs(), key=_id_order):
        runs = await source.runs(job.id)
        current = there.get(job.id)
        if current is None:
            writes.append((job, runs))
            continue
        if current != job and current.updated_at >= job.updated_at:
            stale.append(job.id)
            continue
        if current == job and set(runs) <= set(await target.runs(job.id)):
            unchanged += 1
            continue
        writes.append((job, runs))
    if stale:
        raise MigrationRefused(
            f"the target holds a newer or different version of job(s) {', '.join(stale)}; "
            "copying would roll them back, so nothing was copied",
            store=store,
        )
    if writes:
        try:
            await target.save_many(writes)
        except IllegalTransition as exc:
            raise MigrationRefused(
                f"job {exc.job_id} has another outcome for a run in the target "
                f"({exc.current}); nothing was copied",
                store=store,
            ) from exc
    zones = await target.timezones()
    wanted = await source.timezones()
    changed = {owner: tz for owner, tz in wanted.items() if zones.get(owner) != tz}
    for owner_id, tz in changed.items():
        await target.set_timezone(owner_id, tz)
    last_id, target_last = await source.last_job_id(), await target.last_job_id()
    if last_id > target_last:
        await target.advance_job_ids(last_id)
    last_id = max(last_id, target_last)
    return Copied(len(writes), unchanged, len(changed), last_id)


def _id_order(job: Job) -> tuple[int, str]:
    return (int(job.id), "") if job.id.isdigit() else (1 << 62, job.id)
