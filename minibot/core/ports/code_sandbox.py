"""Port: runs a program where it cannot reach the network, the host's files or its peers."""

from __future__ import annotations

from typing import Protocol

from minibot.core.sandbox import CodeRun


class CodeSandbox(Protocol):
    """`run` executes `code` in a fresh sandbox and always returns a CodeRun (a limit
    reached is a result, not an error); `languages` are those it can run.
    `unavailable` says why the sandbox cannot run here (None when it can); a sandbox
    that is unavailable is never used, and nothing runs outside it instead."""

    languages: tuple[str, ...]

    async def unavailable(self) -> str | None: ...

    async def run(self, language: str, code: str) -> CodeRun: ...
