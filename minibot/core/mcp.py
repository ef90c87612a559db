"""MCP servers' tools as minibot sees them: the pinned fingerprint and what changed."""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# `mcp_<server>_<tool>` must fit the model APIs' tool-name rule: [A-Za-z0-9_-]{1,64}.
SERVER_NAME = re.compile(r"^[A-Za-z0-9-]{1,24}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_TOOL_NAME = 64


@dataclass(frozen=True, slots=True)
class McpToolInfo:
    """One tool as a server lists it: what the model would read and fill in."""

    name: str
    description: str
    input_schema: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": dict(self.input_schema),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> McpToolInfo:
        return cls(str(data["name"]), str(data["description"]), dict(data["input_schema"]))


@dataclass(frozen=True, slots=True)
class McpResult:
    """A tool call's answer: its text blocks, its structured content, and whether the
    server says the call failed."""

    text: str
    structured: Any = None
    is_error: bool = False


class McpState(enum.StrEnum):
    CONNECTING = "connecting"
    READY = "ready"  # connected, tool list pinned: its tools are offered
    CHANGED = "changed"  # the tool list differs from the pinned one: withdrawn until approved
    UNAVAILABLE = "unavailable"  # not connected; retried with back-off
    DISABLED = "disabled"  # `enabled = false`


@dataclass(frozen=True, slots=True)
class McpPin:
    """A server's approved tool list (its fingerprint) and, when the server now offers
    something else, that list waiting for approval."""

    server: str
    fingerprint: str
    tools: tuple[McpToolInfo, ...]
    approved_at: datetime
    pending_fingerprint: str | None = None
    pending_tools: tuple[McpToolInfo, ...] = ()


def fingerprint(tools: Iterable[McpToolInfo]) -> str:
    """A stable digest of names, descriptions and schemas (order of listing ignored)."""
    canonical = sorted((t.as_json() for t in tools), key=lambda t: str(t["name"]))
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def changes(before: Sequence[McpToolInfo], after: Sequence[McpToolInfo]) -> list[str]:
    """What differs between two tool lists, one line each, for the owner to read."""
    old = {t.name: t for t in before}
    new = {t.name: t for t in after}
    lines = [f"new tool {name}" for name in sorted(new.keys() - old.keys())]
    lines += [f"tool {name} removed" for name in sorted(old.keys() - new.keys())]
    for name in sorted(old.keys() & new.keys()):
        if old[name].description != new[name].description:
            lines.append(
                f"{name}: description changed from {old[name].description!r} "
                f"to {new[name].description!r}"
            )
        if dict(old[name].input_schema) != dict(new[name].input_schema):
            lines.append(f"{name}: argument schema changed")
    return lines


def exposed_name(server: str, tool: str) -> str:
    """The name the model sees: `mcp_<server>_<tool>`, characters a model API refuses
    replaced by `_` and cut to 64."""
    return f"mcp_{server}_{_UNSAFE.sub('_', tool)}"[:MAX_TOOL_NAME]
