"""`minibot console` kept open: lines written one at a time, each reply read back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.process import MINIBOT, child_env


class ConsoleSession:
    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self._config = config
        self._env = env or {}
        self._process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._pending: str | None = None

    async def __aenter__(self) -> ConsoleSession:
        self._process = await asyncio.create_subprocess_exec(
            *MINIBOT,
            "console",
            "--config",
            str(self._config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**child_env(), **self._env},
        )
        return self

    async def say(self, text: str, *, within_seconds: float = 20.0) -> str:
        """Sends one line; returns the first reply line printed after it."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(text.encode() + b"\n")
        await self._process.stdin.drain()
        return await self.next_reply(within_seconds=within_seconds)

    async def next_reply(self, *, within_seconds: float = 20.0) -> str:
        """The next reply, with the lines that follow it until the output pauses."""
        assert self._process is not None and self._process.stdout is not None
        first, self._pending = self._pending, None
        async with asyncio.timeout(within_seconds):
            while first is None:
                line = (await self._process.stdout.readline()).decode()
                if not line:
                    raise AssertionError(f"the console ended; its output: {self.lines}")
                self.lines.append(line.rstrip("\n"))
                if line.startswith("minibot> "):
                    first = line
        reply = [first.removeprefix("minibot> ").rstrip("\n")]
        while True:
            try:
                more = await asyncio.wait_for(self._process.stdout.readline(), 0.3)
            except TimeoutError:
                return "\n".join(reply)
            if not more or more.startswith(b"minibot> "):
                if more:
                    self.lines.append(more.decode().rstrip("\n"))
                    self._pending = more.decode()
                return "\n".join(reply)
            self.lines.append(more.decode().rstrip("\n"))
            reply.append(more.decode().rstrip("\n"))

    async def __aexit__(self, *exc: object) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        try:
            async with asyncio.timeout(15):
                _, err = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            return
        self.stderr = err.decode()
