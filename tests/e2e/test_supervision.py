"""The real daemon supervising its loops: one that raised is restarted, a critical one that
dies stops the daemon with exit 1. Faults are injected into the child process through a
`sitecustomize` module the test writes, so the daemon's own code stays as shipped."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.process import MINIBOT, child_env, write_config

pytestmark = pytest.mark.slow

FAULTS = """
import asyncio, os

fault = os.environ.get("MINIBOT_TEST_FAULT")
if fault == "scheduler-loop-once":
    from minibot.adapters.scheduler import asyncio_scheduler

    original = asyncio_scheduler.AsyncioScheduler._run_loop
    failed = []

    async def run_loop(self):
        if not failed:
            failed.append(True)
            raise RuntimeError("injected: the scheduler loop broke")
        await original(self)

    asyncio_scheduler.AsyncioScheduler._run_loop = run_loop
elif fault == "writer-dies":
    from minibot.adapters.sql import database

    original = database.SqlDatabase._write_loop
    after = float(os.environ["MINIBOT_TEST_FAULT_AFTER_SECONDS"])

    async def write_loop(self):
        writing = asyncio.ensure_future(original(self))
        await asyncio.sleep(after)
        writing.cancel()
        raise RuntimeError("injected: the writer broke")

    database.SqlDatabase._write_loop = write_loop
"""


class Console:
    """`minibot console` as a child process, its output read line by line as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._new_line = asyncio.Event()
        assert process.stdout is not None and process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(process.stdout, self.stdout)),
            asyncio.create_task(self._read(process.stderr, self.stderr)),
        ]

    async def _read(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        async for line in stream:
            into.append(line.decode(errors="replace").rstrip("\n"))
            self._new_line.set()
        self._new_line.set()

    async def say(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{text}\n".encode())
        await self.process.stdin.drain()

    async def wait_for(
        self, lines: list[str], fragment: str, *, times: int = 1, seconds: float = 20.0
    ) -> None:
        def seen() -> int:
            return sum(fragment in line for line in lines)

        async with asyncio.timeout(seconds):
            while seen() < times and self.process.returncode is None:
                self._new_line.clear()
                await self._new_line.wait()
        assert seen() >= times, (fragment, self.stdout[-10:], self.stderr[-20:])

    async def finish(self, seconds: float = 20.0) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = await asyncio.wait_for(self.process.wait(), seconds)
        await asyncio.gather(*self._readers)
        return code


async def start_console(tmp_path: Path, llm_url: str, fault: dict[str, str]) -> Console:
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "sitecustomize.py").write_text(FAULTS)
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(faults), str(Path.cwd()), env.get("PYTHONPATH", "")) if p
    )
    env.update(fault)
    env["MINIBOT_DAEMON__RESTART_INITIAL_DELAY_SECONDS"] = "0.2"
    config = write_config(tmp_path, llm_url)
    process = await asyncio.create_subprocess_exec(
        *MINIBOT,
        "console",
        "--config",
        str(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    return Console(process)


async def test_a_loop_that_raised_is_logged_restarted_and_the_daemon_goes_on(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    console = await start_console(
        tmp_path, fake_llm.base_url, {"MINIBOT_TEST_FAULT": "scheduler-loop-once"}
    )
    try:
        await console.wait_for(console.stderr, "service crashed")
        await console.wait_for(console.stderr, "Traceback")
        crash = "\n".join(console.stderr)
        assert "service crashed" in crash and "injected: the scheduler loop broke" in crash
        assert "Traceback" in crash  # logged with its traceback, not swallowed
        await console.say("still there?")
        await console.wait_for(console.stdout, "echo: still there?")
        # The restarted loop fires jobs: a reminder made now comes back (the second line
        # naming the tea; the first is the confirmation).
        await console.say("/remind in 2 seconds brew the tea")
        await console.wait_for(console.stdout, "brew the tea", times=2)
    finally:
        code = await console.finish()
    assert code == 0, console.stderr[-20:]


async def test_a_critical_loop_that_dies_stops_the_daemon_with_exit_1(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    console = await start_console(
        tmp_path,
        fake_llm.base_url,
        {"MINIBOT_TEST_FAULT": "writer-dies", "MINIBOT_TEST_FAULT_AFTER_SECONDS": "2"},
    )
    await console.say("before the fault")
    await console.wait_for(console.stdout, "echo: before the fault")
    code = await asyncio.wait_for(console.process.wait(), 20)
    await console.finish()
    assert code == 1, console.stderr[-20:]
    log = "\n".join(console.stderr)
    assert "injected: the writer broke" in log
    assert "critical service failed" in log
