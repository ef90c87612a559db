"""Scheduler benchmark: start-up, memory, idle cost and lateness with many pending jobs.

Run `.venv/bin/python bench/scheduler_bench.py` (10,000 jobs, 3 s idle) or `--full`
(100,000 jobs, 10 s idle). `--store sql` measures the SQL job store on SQLite, and with
`--url postgresql+asyncpg://...` on PostgreSQL (in a schema of its own, dropped after),
where it also counts claims per second with three claimers. The measured daemon runs in
a fresh process so its resident memory is not inflated by the set-up; results go to
bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minibot.adapters.files.file_job_store import FileJobStore  # noqa: E402
from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler  # noqa: E402
from minibot.adapters.sql.database import SqlDatabase  # noqa: E402
from minibot.adapters.sql.job_rows import job_row  # noqa: E402
from minibot.adapters.sql.job_store import SqlJobStore  # noqa: E402
from minibot.adapters.sql.tables import jobs as jobs_table  # noqa: E402
from minibot.app.jobs.recovery import recover  # noqa: E402
from minibot.core.conversation import ConversationKey  # noqa: E402
from minibot.core.jobs import Action, ActionKind, Job, RunOutcome, RunRecord  # noqa: E402
from minibot.core.schedule import OneShot  # noqa: E402
from minibot.shared.clock import SystemClock  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BURST = 1000
TARGETS = {
    "startup_seconds": 1.0,
    "rss_mb": 100.0,
    "idle_wakeups_per_10s": 1.0,
    "lateness_p99_ms": 50.0,
    "missed": 0,
}
# The SQL store's lateness targets (its "started" records are a SQL transaction).
SQL_LATENESS_P99_MS = {"sqlite": 100.0, "postgresql": 250.0}
CLAIMERS = 3
CLAIM_JOBS = 10_000
CLAIM_BATCH = 500
MIN_CLAIMS_PER_SECOND = 2000.0


def make_job(job_id: str, at: datetime, now: datetime) -> Job:
    owner = f"user{int(job_id) % 500}"
    return Job.new(
        id=job_id,
        owner_id=owner,
        target=ConversationKey("telegram", owner),
        action=Action(ActionKind.REMINDER, f"reminder number {job_id}: stretch your legs"),
        schedule=OneShot(at, "Europe/Madrid"),
        now=now,
    )


class Target:
    """Which store the benchmark measures: a file store directory, or a SQL database."""

    def __init__(self, directory: Path, url: str = "", schema: str = "") -> None:
        self.directory, self.url, self.schema = directory, url, schema

    def open(self) -> tuple[Any, SqlDatabase | None]:
        if not self.url:
            return FileJobStore(self.directory), None
        database = SqlDatabase(self.url, schema=self.schema or None)
        return SqlJobStore(database), database

    @property
    def dialect(self) -> str:
        return SqlDatabase(self.url).dialect


async def populate_sql(target: Target, count: int, *, due: bool = False) -> float:
    """Bulk-inserted rows (the set-up, not what is measured); the last job is saved
    through the store, which moves its id counter past them all."""
    store, database = target.open()
    assert database is not None
    await store.start()
    now = datetime.now(UTC)
    started = time.perf_counter()
    try:
        for first in range(1, count + 1, 5000):
            rows = [
                job_row(make_job(str(n), now if due else now + timedelta(days=30, seconds=n), now))
                for n in range(first, min(first + 5000, count + 1))
            ]
            await database.write(lambda conn, rows=rows: conn.execute(jobs_table.insert(), rows))
        last = make_job(str(count + 1), now + timedelta(days=60), now)
        await store.save(last)
    finally:
        await database.stop()
    return time.perf_counter() - started


async def populate(target: Target, count: int) -> float:
    if target.url:
        return await populate_sql(target, count)
    directory = target.directory
    store = FileJobStore(directory)
    await store.start()
    now = datetime.now(UTC)
    started = time.perf_counter()
    for first in range(0, count, 5000):
        batch = []
        for n in range(first, min(first + 5000, count)):
            job_id = await store.new_job_id()
            batch.append(make_job(job_id, now + timedelta(days=30, seconds=n), now))
        await asyncio.gather(*(store.save(job) for job in batch))
    elapsed = time.perf_counter() - started
    await store.stop()
    return elapsed


async def measure(target: Target, idle_seconds: float) -> dict[str, float]:
    import psutil

    process = psutil.Process()
    clock = SystemClock()
    lateness: list[float] = []
    finished = asyncio.Event()
    store, database = target.open()

    async def fire(job: Job, run: RunRecord) -> None:
        # The scheduler saved the "started" records (fsync'd) before calling: the effect
        # goes out now. Lateness is measured here, where a reminder would be sent.
        lateness.append((clock.now() - run.occurrence).total_seconds())
        await asyncio.sleep(0)  # stands in for the send, which awaits the network
        done = clock.now()
        await store.save(job.succeed(done, None), [run.finish(RunOutcome.DELIVERED, done)])
        if len(lateness) == BURST:
            finished.set()

    scheduler = AsyncioScheduler(store, fire, clock)
    # What the daemon does at start-up: open the store, recover (which reads the due
    # jobs), start the scheduler (which reads the scheduled times).
    began = time.perf_counter()
    await store.start()
    await recover(store, clock.now(), grace_window_seconds=3600)
    await scheduler.start()
    startup = time.perf_counter() - began
    gc.freeze()  # as the daemon does once started (minibot/app/daemon.py)
    rss_mb = process.memory_info().rss / 2**20
    # Counted from the heap, after the memory reading: active_jobs() would build every Job.
    pending = scheduler.pending

    await asyncio.sleep(0.2)  # let the start-up settle before measuring idleness
    cpu_before, wakeups_before = sum(process.cpu_times()[:2]), scheduler.wakeups
    await asyncio.sleep(idle_seconds)
    idle_cpu = sum(process.cpu_times()[:2]) - cpu_before
    idle_wakeups = scheduler.wakeups - wakeups_before

    ids = [await store.new_job_id() for _ in range(BURST)]
    due = clock.now() + timedelta(seconds=1.5)
    burst = [make_job(job_id, due, clock.now()) for job_id in ids]
    await asyncio.gather(*(store.save(job) for job in burst))
    for job in burst:
        scheduler.schedule(job)
    batches_before = getattr(store, "fsync_batches", 0)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished.wait(), 30)
    burst_fsyncs = getattr(store, "fsync_batches", 0) - batches_before
    await scheduler.stop()
    outcomes = [r.outcome for job in burst for r in await store.runs(job.id)]
    await store.stop()
    if database is not None:
        await database.stop()
    ordered = sorted(lateness) or [float("nan")]
    return {
        "pending_jobs": pending,
        "startup_seconds": startup,
        "rss_mb": rss_mb,
        "idle_seconds": idle_seconds,
        "idle_cpu_percent": 100 * idle_cpu / idle_seconds,
        "idle_wakeups": idle_wakeups,
        "idle_wakeups_per_10s": idle_wakeups * 10 / idle_seconds,
        "burst_jobs": BURST,
        "burst_fsyncs": burst_fsyncs,
        "lateness_p50_ms": 1000 * statistics.median(ordered),
        "lateness_p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "lateness_max_ms": 1000 * ordered[-1],
        "missed": BURST - len(lateness),
        "delivered_outcomes": outcomes.count(RunOutcome.DELIVERED),
    }


async def claims_per_second(target: Target) -> float:
    """CLAIM_JOBS due jobs, CLAIMERS stores (each its own engine, as separate daemons)
    each asking for all of them in its own order, CLAIM_BATCH per `start_runs`: jobs
    claimed per second until all are."""
    await populate_sql(target, CLAIM_JOBS, due=True)
    stores = [target.open() for _ in range(CLAIMERS)]
    for store, _ in stores:
        await store.start()
    ids = [str(n) for n in range(1, CLAIM_JOBS + 1)]
    now = datetime.now(UTC)

    async def claim(store: SqlJobStore, seed: int) -> int:
        order = ids[:]
        random.Random(seed).shuffle(order)
        won = 0
        for first in range(0, len(order), CLAIM_BATCH):
            won += len(await store.start_runs(order[first : first + CLAIM_BATCH], now))
        return won

    started = time.perf_counter()
    won = await asyncio.gather(*(claim(store, n) for n, (store, _) in enumerate(stores)))
    elapsed = time.perf_counter() - started
    for _, database in stores:
        assert database is not None
        await database.stop()
    if sum(won) != CLAIM_JOBS:
        raise SystemExit(f"claimed {sum(won)} of {CLAIM_JOBS} jobs: a claim was lost or doubled")
    return CLAIM_JOBS / elapsed


async def drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


def report(figures: dict[str, float], populate_seconds: float, store: str) -> None:
    print(f"\nscheduler benchmark: {figures['pending_jobs']:,} pending jobs in the {store}")
    print(f"(populating them took {populate_seconds:.1f} s)\n")
    print(f"{'measure':<28}{'value':>12}  {'target':>10}  ok")
    rows = [
        ("start-up (replay + heap)", "startup_seconds", "{:.3f} s"),
        ("resident memory", "rss_mb", "{:.1f} MB"),
        ("idle CPU", "idle_cpu_percent", "{:.3f} %"),
        ("idle wake-ups per 10 s", "idle_wakeups_per_10s", "{:.2f}"),
        ("burst fsyncs (1,000 jobs)", "burst_fsyncs", "{:.0f}"),
        ("lateness p50", "lateness_p50_ms", "{:.1f} ms"),
        ("lateness p99", "lateness_p99_ms", "{:.1f} ms"),
        ("lateness max", "lateness_max_ms", "{:.1f} ms"),
        ("missed", "missed", "{:.0f}"),
    ]
    if "claims_per_second" in figures:
        rows.append((f"claims/s ({CLAIMERS} claimers)", "claims_per_second", "{:.0f}"))
    for label, key, fmt in rows:
        target = figures.get(f"target_{key}", TARGETS.get(key))
        if key == "claims_per_second":
            ok = "yes" if figures[key] >= MIN_CLAIMS_PER_SECOND else "NO"
            shown = f">= {MIN_CLAIMS_PER_SECOND:g}"
            print(f"{label:<28}{fmt.format(figures[key]):>12}  {shown:>10}  {ok}")
            continue
        ok = "" if target is None else ("yes" if figures[key] <= target else "NO")
        shown = "" if target is None else f"<= {target:g}"
        print(f"{label:<28}{fmt.format(figures[key]):>12}  {shown:>10}  {ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100,000 jobs and 10 s idle")
    parser.add_argument("--store", choices=["file", "sql"], default="file")
    parser.add_argument(
        "--url", default="", help="the SQL store's database (default: SQLite in a scratch dir)"
    )
    parser.add_argument("--phase", choices=["all", "measure"], default="all")
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--schema", default="")
    parser.add_argument("--idle-seconds", type=float)
    args = parser.parse_args()
    if args.phase == "measure":
        target = Target(args.dir, args.url, args.schema)
        print(json.dumps(asyncio.run(measure(target, args.idle_seconds))))
        return

    jobs = 100_000 if args.full else 10_000
    idle = args.idle_seconds or (10.0 if args.full else 3.0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    # On the results disk, not /tmp: a tmpfs would make every fsync free.
    directory = Path(tempfile.mkdtemp(prefix="store-", dir=RESULTS))
    url, schema = "", ""
    if args.store == "sql":
        url = args.url or f"sqlite+aiosqlite:///{directory / 'jobs.db'}"
    if url.startswith("postgresql"):
        schema = f"minibot_bench_{uuid.uuid4().hex[:8]}"
    target = Target(directory, url, schema)
    try:
        populate_seconds = asyncio.run(populate(target, jobs))
        measured = subprocess.run(
            [sys.executable, __file__, "--phase", "measure", "--dir", str(directory),
             "--url", url, "--schema", schema, "--idle-seconds", str(idle)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        figures = json.loads(measured.stdout.strip().splitlines()[-1])
        if url:
            figures["target_lateness_p99_ms"] = SQL_LATENESS_P99_MS[target.dialect]
        if schema:
            asyncio.run(drop_schema(url, schema))
            claims = Target(directory, url, f"minibot_bench_{uuid.uuid4().hex[:8]}")
            try:
                figures["claims_per_second"] = asyncio.run(claims_per_second(claims))
            finally:
                asyncio.run(drop_schema(url, claims.schema))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if schema:
            asyncio.run(drop_schema(url, schema))
    where = "file store" if not url else f"SQL store on {target.dialect}"
    report(figures, populate_seconds, where)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    size = "full" if args.full else "short"
    kind = "file" if not url else target.dialect
    out = RESULTS / f"scheduler-{kind}-{size}-{stamp}.json"
    out.write_text(
        json.dumps(
            {"jobs": jobs, "store": where, "populate_seconds": populate_seconds, **figures},
            indent=2,
        )
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
