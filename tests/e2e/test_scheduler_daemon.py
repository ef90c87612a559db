"""The scheduler end to end: `minibot console` and `minibot jobs upcoming` as subprocesses."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.process import MINIBOT, child_env, run_minibot, write_config


class Console:
    """`minibot console` with stdin kept open, so the daemon lives while jobs come due."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.replies: list[str] = []

    @classmethod
    async def open(cls, config: Path) -> Console:
        process = await asyncio.create_subprocess_exec(
            *MINIBOT,
            "console",
            "--config",
            str(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(),
        )
        return cls(process)

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def reply_containing(self, text: str, limit_seconds: float = 20) -> str:
        """Read replies until one contains `text`; every reply read is kept in order."""
        assert self.process.stdout is not None
        async with asyncio.timeout(limit_seconds):
            while True:
                line = (await self.process.stdout.readline()).decode()
                assert line, "the console exited early"
                if line.startswith("minibot> "):
                    self.replies.append(line.removeprefix("minibot> ").rstrip("\n"))
                elif self.replies:
                    self.replies[-1] += "\n" + line.strip()
                if self.replies and text in self.replies[-1]:
                    return self.replies[-1]

    async def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await asyncio.wait_for(self.process.communicate(), 20)
        assert self.process.returncode is not None
        return self.process.returncode


async def test_a_reminder_arrives_verbatim_with_zero_llm_requests(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    console = await Console.open(config)
    try:
        await console.send("/remind in 2 seconds Take the *pasta* out, now!")
        confirmed = await console.reply_containing("set for")
        assert "job 1" in confirmed and "UTC" in confirmed
        fired = await console.reply_containing("[Done]", limit_seconds=15)
        assert fired == "Take the *pasta* out, now!\n[Snooze 10 min]  [Done]"
    finally:
        assert await console.close() == 0
    assert fake_llm.requests == [], "a reminder never asks the model"


async def test_crud_through_the_llm_tools_and_jobs_kept_across_a_restart(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = str(write_config(tmp_path, fake_llm.base_url))
    fake_llm.script(
        Script.tool_call(
            "schedule_reminder", json.dumps({"when": "every day at 8:00", "text": "vitamins"})
        ),
        Script.reply("Done: I will remind you every day at 08:00."),
        Script.tool_call("list_tasks", "{}"),
        Script.reply("You have one reminder: vitamins at 08:00."),
    )
    first = await run_minibot(
        "console",
        "--config",
        config,
        stdin="remind me to take vitamins every day at 8\nwhat is scheduled?\n",
    )
    assert first.returncode == 0, first.stderr
    offered = {t["function"]["name"] for t in fake_llm.requests[0].body["tools"]}
    assert {"schedule_reminder", "schedule_prompt", "list_tasks", "update_task"} <= offered
    created = json.loads(_tool_results(fake_llm.requests[1].body)[0])
    assert created["ok"] and created["result"]["job_id"] == "1"
    assert created["result"]["confirmation"].endswith("job 1, every day at 08:00")
    listed = json.loads(_tool_results(fake_llm.requests[3].body)[-1])
    assert [j["what"] for j in listed["result"]["jobs"]] == ['reminder "vitamins"']

    fake_llm.script(
        Script.tool_call("cancel_task", json.dumps({"job_id": "1"})),
        Script.reply("Cancelled."),
    )
    second = await run_minibot(
        "console", "--config", config, stdin="/tasks\nstop the vitamins reminder\n/tasks\n"
    )
    assert second.returncode == 0, second.stderr
    replies = second.stdout.split("minibot> ")[1:]
    assert 'job 1: reminder "vitamins", next' in replies[0], "kept across the restart"
    assert json.loads(_tool_results(fake_llm.requests[5].body)[-1])["ok"]
    assert "You have no scheduled jobs" in replies[2]


async def test_jobs_upcoming_lists_future_times_across_dst_while_the_daemon_runs(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    console = await Console.open(config)
    try:
        await console.send("/timezone Europe/Madrid")
        await console.send("/remind every sunday 9:00 call mum")
        await console.reply_containing("call mum")
        # The daemon holds the store's lock; the listing reads a copy instead.
        upcoming = await run_minibot(
            "jobs", "upcoming", "--config", str(config), "--until", "+400d"
        )
    finally:
        assert await console.close() == 0
    assert upcoming.returncode == 0, upcoming.stderr
    lines = upcoming.stdout.splitlines()
    assert len(lines) >= 55 and all("job 1  console:local" in line for line in lines)
    # 09:00 in Madrid is 08:00 UTC in winter and 07:00 UTC in summer.
    assert any("09:00 Europe/Madrid" in x and "08:00 UTC" in x for x in lines)
    assert any("09:00 Europe/Madrid" in x and "07:00 UTC" in x for x in lines)
    nobody = await run_minibot("jobs", "upcoming", "--config", str(config), "--user", "telegram:1")
    assert nobody.returncode == 0 and nobody.stdout.startswith("No job is due for telegram:1")
    assert fake_llm.requests == []


async def test_with_the_sql_store_a_reminder_fires_and_is_listed_from_the_database(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url, 'store = "sql"\nlease_seconds = 3\n')
    console = await Console.open(config)
    try:
        await console.send("/remind in 2 seconds stretch")
        assert "job 1" in await console.reply_containing("set for")
        await console.send("/remind every sunday 9:00 call mum")
        await console.reply_containing("call mum")
        fired = await console.reply_containing("[Done]", limit_seconds=15)
        assert fired.startswith("stretch")
        upcoming = await run_minibot("jobs", "upcoming", "--config", str(config), "--until", "+8d")
    finally:
        assert await console.close() == 0
    assert upcoming.returncode == 0, upcoming.stderr
    assert "job 2  console:local" in upcoming.stdout and "job 1" not in upcoming.stdout
    assert not (tmp_path / "tasks").exists(), "no file store was made"
    with sqlite3.connect(tmp_path / "minibot.db") as db:
        rows = db.execute("SELECT id, state FROM minibot_jobs ORDER BY id").fetchall()
        runs = db.execute("SELECT job_id, outcome FROM minibot_job_runs").fetchall()
    assert rows == [("1", "completed"), ("2", "scheduled")]
    assert runs == [("1", "delivered")]


def _tool_results(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]
