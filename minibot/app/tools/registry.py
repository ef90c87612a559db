"""The tool registry: validates arguments, runs handlers with a timeout, reports errors."""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from minibot.core.conversation import ConversationKey, ToolCall
from minibot.core.errors import MinibotError
from minibot.core.llm import ToolSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who a tool acts for. Resolved server-side from the sender: never from arguments.

    `origin` keys what this call creates (a job, a note): the same for the same call of
    a turn run again after a crash, so the tool can return what it made the first time."""

    owner_id: str
    conversation: ConversationKey
    message_id: str | None = None
    tool_call_id: str | None = None
    origin: str | None = None


ToolHandler = Callable[[Mapping[str, Any], ToolContext], Awaitable[Any]]


class ToolAccess(enum.Enum):
    """What a tool does with its owner's data. Where other people's words are in a
    turn's context, only PUBLIC tools run without the speaker's approval."""

    PUBLIC = "public"  # reads nothing of the owner's and changes nothing
    READS_OWNER = "reads"  # reveals the owner's data (notes, jobs)
    CHANGES_OWNER = "changes"  # changes the owner's data


@dataclass(frozen=True, slots=True)
class Tool:
    spec: ToolSpec
    handler: ToolHandler
    # The strictest by default: a tool nobody classified is held for approval.
    access: ToolAccess = ToolAccess.CHANGES_OWNER


class ToolRegistry:
    """The tools the model may call. `run` never raises for a bad call: invalid JSON,
    arguments that fail the schema, an unknown tool, a handler error or a timeout all
    come back as an error result the model can read and correct."""

    def __init__(self, tools: Iterable[Tool] = (), *, timeout_seconds: float = 15.0) -> None:
        self._tools: dict[str, Tool] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        self._timeout_seconds = timeout_seconds
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        Draft202012Validator.check_schema(dict(tool.spec.parameters))
        self._tools[tool.spec.name] = tool
        self._validators[tool.spec.name] = Draft202012Validator(dict(tool.spec.parameters))

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec for tool in self._tools.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def __bool__(self) -> bool:
        return bool(self._tools)

    def needs_approval(self, name: str) -> bool:
        """Whether a call of `name` waits for the speaker's approval where others spoke
        (an unknown name runs: it only answers with an error)."""
        tool = self._tools.get(name)
        return tool is not None and tool.access is not ToolAccess.PUBLIC

    async def run(self, call: ToolCall, context: ToolContext) -> str:
        """Run one call and return its result as JSON text for the model."""
        tool = self._tools.get(call.name)
        if tool is None:
            return _error(f"unknown tool {call.name!r}; available: {', '.join(self._tools)}")
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return _error(f"arguments are not valid JSON: {exc.msg}")
        problems = sorted(self._validators[call.name].iter_errors(arguments), key=str)
        if problems:
            where = "/".join(str(p) for p in problems[0].absolute_path) or "arguments"
            return _error(f"invalid arguments at {where}: {problems[0].message}")
        try:
            async with asyncio.timeout(self._timeout_seconds):
                result = await tool.handler(arguments, context)
        except TimeoutError:
            log.warning("tool timed out", extra={"tool": call.name})
            return _error(f"{call.name} timed out after {self._timeout_seconds:g} s")
        except MinibotError as exc:
            return _error(str(exc))
        except Exception:
            log.exception("tool failed", extra={"tool": call.name})
            return _error(f"{call.name} failed unexpectedly")
        return json.dumps({"ok": True, "result": result}, ensure_ascii=False, default=str)


def _error(message: str) -> str:
    return json.dumps({"ok": False, "error": message}, ensure_ascii=False)
