"""Subprocesses of the benchmark: the fakes, the bot under test, and resource sampling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-fake-token-abcdefghijklmnopqrstuvwxyz"


def env() -> dict[str, str]:
    child = dict(os.environ)
    child.pop("MINIBOT_CONFIG", None)
    child["PYTHONUNBUFFERED"] = "1"
    child["PYTHONPATH"] = str(ROOT)
    return child


@dataclass
class Fake:
    """A fake server in its own process; `port` is what it printed on start."""

    name: str
    process: subprocess.Popen[str]
    port: int

    @classmethod
    def start(cls, name: str, module: str, *args: str) -> Fake:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", *args],
            cwd=ROOT,
            env=env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            process.kill()
            raise RuntimeError(f"{name} did not start: {line!r}")
        return cls(name, process, int(line))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def minibot_config(
    directory: Path,
    api_base: str,
    llm_base: str,
    extra: str = "",
    *,
    memory_url: str | None = None,
    job_store: str = "file",
    telegram_extra: str = "",
) -> Path:
    """Defaults everywhere except what points at the fakes and the scratch directory
    (and `extra`, more TOML; `memory_url`, `job_store` and `telegram_extra` for replicas
    on shared services)."""
    memory_url = memory_url or f"sqlite+aiosqlite:///{directory}/minibot.db"
    path = directory / "config.toml"
    path.write_text(
        f"""
{extra}
[llm]
provider = "openai"
model = "fake-model"
api_key = "sk-test-key-0123456789abcdef"
base_url = "{llm_base}"

[memory]
url = "{memory_url}"

[scheduler]
store = "{job_store}"
store_path = "{directory}/tasks"

[channels.telegram]
enabled = true
bot_token = "{TOKEN}"
api_base = "{api_base}"
open_mode = true
{telegram_extra}
"""
    )
    return path


@dataclass
class Bot:
    """The bot under test (minibot or the echo floor) and its resource figures."""

    kind: str
    process: subprocess.Popen[bytes]
    started_at: float
    log: IO[bytes]
    peak_rss: int = 0
    samples: list[int] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        kind: str,
        directory: Path,
        api_base: str,
        llm_base: str,
        profile: Path | None,
        extra_config: str = "",
        **config: str,
    ) -> Bot:
        if kind == "floor":
            command = [
                sys.executable,
                str(ROOT / "bench" / "echo_floor.py"),
                "--api-base",
                api_base,
            ]
        else:
            path = minibot_config(directory, api_base, llm_base, extra_config, **config)
            program = (
                ["-m", "bench.harness.profiled", str(profile)]
                if profile
                else ["-m", "minibot.adapters.cli"]
            )
            command = [sys.executable, *program, "--config", str(path)]
        log = (directory / f"{kind}.log").open("ab")
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=directory, env=env(), stdout=log, stderr=log)
        return cls(kind, process, started, log)

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def rss(self) -> int:
        try:
            return int(self.ps.memory_info().rss)
        except psutil.Error:
            return 0

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def start_profile(self) -> None:
        """Under bench.harness.profiled: begin profiling now (SIGUSR1)."""
        if "bench.harness.profiled" in self.process.args:
            self.process.send_signal(signal.SIGUSR1)

    def count_instructions(self) -> subprocess.Popen[str] | None:
        """`perf stat` on this process from now until `instructions` is called: user-space
        instructions are nearly deaf to other load on a shared machine, unlike time.
        None where perf is missing or not allowed."""
        if shutil.which("perf") is None:
            return None
        return subprocess.Popen(
            ["perf", "stat", "-x", ",", "-e", "instructions:u", "-p", str(self.process.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    @staticmethod
    def instructions(counter: subprocess.Popen[str] | None) -> int | None:
        """Stops a `count_instructions` counter and reads its count."""
        if counter is None:
            return None
        counter.send_signal(signal.SIGINT)
        try:
            _, err = counter.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            counter.kill()
            return None
        for line in err.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
                return int(fields[0])
        return None

    def main_thread_cpu_seconds(self) -> float:
        """CPU of the event loop's thread (the rest is driver and executor threads)."""
        for thread in self.ps.threads():
            if thread.id == self.process.pid:
                return thread.user_time + thread.system_time
        return 0.0

    async def sample(self, stop: asyncio.Event, every: float = 0.05) -> None:
        while not stop.is_set():
            self.peak_rss = max(self.peak_rss, self.rss())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def terminate(self, limit_seconds: float = 30.0) -> dict[str, Any]:
        """SIGTERM and wait; how long the stop took and how it ended."""
        began = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        # A child process has no awaitable exit here: poll it.
        while self.process.poll() is None and time.monotonic() - began < limit_seconds:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        killed = self.process.poll() is None
        if killed:
            self.process.kill()
            self.process.wait()
        self.log.close()
        return {
            "stop_s": round(time.monotonic() - began, 3),
            "exit_code": self.process.returncode,
            "killed": killed,
        }
