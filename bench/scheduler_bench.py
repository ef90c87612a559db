"""Scheduler benchmark: start-up, memory, idle cost and lateness with many pending jobs.

Run `.venv/bin/python bench/scheduler_bench.py` (10,000 jobs, 3 s idle) or `--full`
(100,000 jobs, 10 s idle). The measured daemon runs in a fresh process so its resident
memory is not inflated by the set-up; results go to bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minibot.adapters.files.file_job_store import FileJobStore  # noqa: E402
from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler  # noqa: E402
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


async def populate(directory: Path, count: int) -> float:
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


async def measure(directory: Path, idle_seconds: float) -> dict[str, float]:
    import psutil

    process = psutil.Process()
    clock = SystemClock()
    lateness: list[float] = []
    finished = asyncio.Event()
    store = FileJobStore(directory)

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

    due = clock.now() + timedelta(seconds=1.5)
    burst = [make_job(await store.new_job_id(), due, clock.now()) for _ in range(BURST)]
    await asyncio.gather(*(store.save(job) for job in burst))
    for job in burst:
        scheduler.schedule(job)
    batches_before = store.fsync_batches
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished.wait(), 30)
    burst_fsyncs = store.fsync_batches - batches_before
    await scheduler.stop()
    outcomes = [r.outcome for job in burst for r in await store.runs(job.id)]
    await store.stop()
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


def report(figures: dict[str, float], populate_seconds: float) -> None:
    print(f"\nscheduler benchmark: {figures['pending_jobs']:,} pending jobs in the file store")
    print(f"(populating them took {populate_seconds:.1f} s with group commit)\n")
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
    for label, key, fmt in rows:
        target = TARGETS.get(key)
        ok = "" if target is None else ("yes" if figures[key] <= target else "NO")
        shown = "" if target is None else f"<= {target:g}"
        print(f"{label:<28}{fmt.format(figures[key]):>12}  {shown:>10}  {ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100,000 jobs and 10 s idle")
    parser.add_argument("--phase", choices=["all", "measure"], default="all")
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--idle-seconds", type=float)
    args = parser.parse_args()
    if args.phase == "measure":
        print(json.dumps(asyncio.run(measure(args.dir, args.idle_seconds))))
        return

    jobs = 100_000 if args.full else 10_000
    idle = args.idle_seconds or (10.0 if args.full else 3.0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    # On the results disk, not /tmp: a tmpfs would make every fsync free.
    directory = Path(tempfile.mkdtemp(prefix="store-", dir=RESULTS))
    try:
        populate_seconds = asyncio.run(populate(directory, jobs))
        measured = subprocess.run(
            [sys.executable, __file__, "--phase", "measure", "--dir", str(directory),
             "--idle-seconds", str(idle)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        figures = json.loads(measured.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    report(figures, populate_seconds)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"scheduler-{'full' if args.full else 'short'}-{stamp}.json"
    out.write_text(
        json.dumps({"jobs": jobs, "populate_seconds": populate_seconds, **figures}, indent=2)
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
