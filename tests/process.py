"""Runs `minibot` in a subprocess against a config written for the test."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

MINIBOT = [sys.executable, "-m", "minibot.adapters.cli"]


def write_config(tmp_path: Path, llm_base_url: str, extra: str = "") -> Path:
    """A config for a test run: fast retries, a database under tmp_path, and `extra`
    TOML appended (its sections must not repeat the ones written here)."""
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[logging]
level = "INFO"

[daemon]
shutdown_timeout_seconds = 10

[llm]
provider = "openai"
model = "fake-model"
api_key = "sk-test-key-0123456789abcdef"
base_url = "{llm_base_url}"
request_timeout_seconds = 2
total_deadline_seconds = 8
max_attempts = 3
retry_initial_delay_seconds = 0.01
retry_max_delay_seconds = 0.05

[memory]
url = "sqlite+aiosqlite:///{tmp_path}/minibot.db"

[scheduler]
store_path = "{tmp_path}/tasks"
{extra}
"""
    )
    return path


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MINIBOT_CONFIG", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def run_minibot(
    *args: str,
    stdin: str = "",
    limit_seconds: float = 30.0,
    env: dict[str, str] | None = None,
) -> Finished:
    process = await asyncio.create_subprocess_exec(
        *MINIBOT,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**child_env(), **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), limit_seconds)
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())


async def reap(process: asyncio.subprocess.Process, limit_seconds: float = 15.0) -> int:
    """Waits for an ended (or ending) child and reads its pipes to their end. The exit can
    be seen before a pipe's end is: a pipe still open when the test's event loop closes is
    reported later as an unclosed transport, in whichever test the collector runs in."""
    async with asyncio.timeout(limit_seconds):
        code = await process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                await stream.read()
    return code
