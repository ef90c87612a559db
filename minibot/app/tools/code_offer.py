"""Offers `run_code` only once its sandbox has proven it works here."""

from __future__ import annotations

import logging

from minibot.app.tools.code_tools import CodeTools
from minibot.app.tools.registry import ToolRegistry
from minibot.core.ports.code_sandbox import CodeSandbox

log = logging.getLogger(__name__)


class CodeToolOffer:
    """At start, runs a probe in the sandbox: when it works, `run_code` joins the tools;
    when not, it is left out (never run unsandboxed) and the reason is logged and kept
    in `refusal` (`minibot check-config` prints the same probe's answer)."""

    name = "run_code"

    def __init__(
        self, sandbox: CodeSandbox, tools: ToolRegistry, *, timeout_seconds: float | None = None
    ) -> None:
        self._sandbox = sandbox
        self._tools = tools
        self._timeout_seconds = timeout_seconds
        self.refusal: str | None = None

    async def start(self) -> None:
        self.refusal = await self._sandbox.unavailable()
        if self.refusal is not None:
            log.warning("run_code is not offered", extra={"reason": self.refusal})
            return
        for tool in CodeTools(self._sandbox, timeout_seconds=self._timeout_seconds).tools():
            self._tools.add(tool)

    async def stop(self) -> None:
        return None
