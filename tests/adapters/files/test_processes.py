"""The file store across processes: SIGKILL at random moments, and two contending for it."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.core.errors import StoreError
from minibot.core.jobs import JobState
from tests.adapters.files.builders import T0

ROOT = Path(__file__).resolve().parents[3]


def spawn(mode: str, path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.adapters.files.store_child", mode, str(path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


async def check_acknowledged(path: Path, jobs: set[str], runs: set[str]) -> int:
    store = FileJobStore(path)
    await store.start()  # a damaged tail would be logged and cut, never raised
    try:
        missing = [i for i in jobs if await store.get(i) is None]
        assert not missing, f"acknowledged jobs lost: {sorted(missing, key=int)[:10]}"
        for job_id in runs:
            job = await store.get(job_id)
            assert job is not None and job.state is JobState.RUNNING
            assert [r.outcome for r in await store.runs(job_id)] == [None]
        return len(await store.list_jobs("u1"))
    finally:
        await store.stop()


def kill_repeatedly(path: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    jobs: set[str] = set()
    runs: set[str] = set()
    for _ in range(kills):
        proc = spawn("write", path)
        time.sleep(rng.uniform(0.0, 0.25))
        proc.kill()
        out, _ = proc.communicate()
        for line in out.splitlines():
            kind, _, job_id = line.partition(" ")
            if kind == "job":
                jobs.add(job_id)
            elif kind == "run":
                runs.add(job_id)
        kept = asyncio.run(check_acknowledged(path, jobs, runs))
        assert kept >= len(jobs)
    assert len(jobs) > kills  # the children did get work done between kills


def test_acknowledged_jobs_survive_sigkill(tmp_path: Path) -> None:
    kill_repeatedly(tmp_path / "tasks", kills=5, seed=1)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_acknowledged_jobs_survive_many_sigkills(tmp_path: Path) -> None:
    kill_repeatedly(tmp_path / "tasks", kills=60, seed=2)


def test_two_processes_contend_for_the_store(tmp_path: Path) -> None:
    path = tmp_path / "tasks"
    holder = spawn("hold", path)

    async def contend() -> None:
        impatient = FileJobStore(path, lock_timeout_seconds=0.2)
        with pytest.raises(StoreError, match="locked by another process"):
            await impatient.start()
        patient = FileJobStore(path, lock_timeout_seconds=30)
        waiting = asyncio.create_task(patient.start())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # blocked while the other process holds the store
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        await asyncio.wait_for(waiting, 30)
        # The holder's last write landed whole before it let go.
        assert [j.owner_id for j in await patient.list_jobs("child")] == ["child"]
        await patient.save((await patient.list_jobs("child"))[0].cancel(T0))
        await patient.stop()

    asyncio.run(contend())
    out, _ = holder.communicate(timeout=30)
    assert out.strip() == "released" and holder.returncode == 0
