"""A separate process using a FileJobStore: `write` saves jobs until killed, printing
each id once its save returned; `hold` keeps the store open until stdin says go."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.core.jobs import RunRecord
from tests.adapters.files.builders import T0, reminder


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def write_forever(store: FileJobStore, lane: int) -> None:
    count = 0
    while True:
        job = reminder(await store.new_job_id(), at=T0 + timedelta(minutes=count), text="x" * lane)
        await store.save(job)
        say(f"job {job.id}")
        count += 1
        if count % 3 == 0:
            started = job.start(T0)
            await store.save(started, [RunRecord.started(started, T0)])
            say(f"run {job.id}")


async def main(mode: str, path: str) -> None:
    store = FileJobStore(path, compact_after_records=10, lock_timeout_seconds=30)
    await store.start()
    say("ready")
    if mode == "write":
        await asyncio.gather(*(write_forever(store, lane) for lane in range(8)))
    else:
        await asyncio.to_thread(sys.stdin.readline)
        await store.save(reminder(await store.new_job_id(), owner_id="child"))
        await store.stop()
        say("released")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
