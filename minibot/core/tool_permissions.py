"""Tool permissions: allow, confirm or deny per tool, with per-owner overrides."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class PermissionLevel(enum.StrEnum):
    ALLOW = "allow"  # runs (unless untrusted content is in play and the tool acts)
    CONFIRM = "confirm"  # waits for the owner's Approve; no answer in time is a deny
    DENY = "deny"  # never runs; the model is told so


@dataclass(frozen=True, slots=True)
class ToolPermissions:
    """`levels` from `[tools.permissions]`, `owners` from `[tools.permissions.owners."<id>"]`.
    A tool named in neither has its own default."""

    levels: Mapping[str, PermissionLevel] = field(default_factory=dict)
    owners: Mapping[str, Mapping[str, PermissionLevel]] = field(default_factory=dict)

    def level(self, owner_id: str, tool: str, default: PermissionLevel) -> PermissionLevel:
        own = self.owners.get(owner_id, {})
        if tool in own:
            return own[tool]
        return self.levels.get(tool, default)


@dataclass(frozen=True, slots=True)
class Untrusted:
    """Why a turn's context holds text its speaker did not write: the sources
    (tool names, "other people's messages"), in the order first seen."""

    sources: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sources)

    def adding(self, source: str) -> Untrusted:
        return self if source in self.sources else Untrusted((*self.sources, source))

    def describe(self) -> str:
        return ", ".join(self.sources)
