"""The environment a stdio MCP server starts with: a safe base and what config names."""

from __future__ import annotations

from collections.abc import Mapping

# Enough for a program to find its interpreter, its home and its locale; nothing that
# could carry a secret (the bot token, API keys) unless config names it in `env`.
SAFE_BASE = ("PATH", "HOME", "LANG")


def server_environment(named: Mapping[str, str], inherited: Mapping[str, str]) -> dict[str, str]:
    base = {key: inherited[key] for key in SAFE_BASE if key in inherited}
    return {**base, **named}
