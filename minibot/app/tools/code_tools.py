"""The `run_code` tool: a program run in the sandbox, its output and which limit ended it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.app.tools.registry import Tool, ToolAccess, ToolContext
from minibot.core.llm import ToolSpec
from minibot.core.ports.code_sandbox import CodeSandbox
from minibot.core.tool_permissions import PermissionLevel

MAX_CODE_CHARS = 50_000


class CodeTools:
    """Offered only over a sandbox that works (the container checks it first). It reads
    no owner data, but it acts (it runs a program), so untrusted content in the turn
    makes it wait for the owner; its output is untrusted in turn."""

    def __init__(self, sandbox: CodeSandbox, *, timeout_seconds: float | None = None) -> None:
        self._sandbox = sandbox
        # The sandbox ends a run at its own wall time; this is a margin above it.
        self._timeout_seconds = timeout_seconds

    def tools(self) -> list[Tool]:
        spec = ToolSpec(
            "run_code",
            "Run a short program in a sandbox without network or files (scratch directory "
            "only) and return its stdout, stderr, exit status and the limit that ended it, "
            "if any. Use for calculations and data processing.",
            {
                "type": "object",
                "properties": {
                    "language": {"type": "string", "enum": list(self._sandbox.languages)},
                    "code": {"type": "string", "minLength": 1, "maxLength": MAX_CODE_CHARS},
                },
                "required": ["language", "code"],
                "additionalProperties": False,
            },
        )
        return [
            Tool(
                spec,
                self.run_code,
                ToolAccess.PUBLIC,
                PermissionLevel.ALLOW,
                untrusted_output=True,
                acts=True,
                timeout_seconds=self._timeout_seconds,
            )
        ]

    async def run_code(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        run = await self._sandbox.run(args["language"], args["code"])
        return {
            "stdout": run.stdout,
            "stderr": run.stderr,
            "exit_status": run.exit_status,
            "limit": run.limit,
            "seconds": round(run.duration_seconds, 3),
        }
