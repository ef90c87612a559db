"""`[mcp.servers.<name>]`: one transport per server, names that fit tool names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from minibot.adapters.config.schema import McpServerSettings, McpSettings


def test_a_server_takes_a_command_or_a_url_never_both_or_neither() -> None:
    with pytest.raises(ValidationError, match="either command"):
        McpServerSettings(command="x", url="http://127.0.0.1/mcp")
    with pytest.raises(ValidationError, match="either command"):
        McpServerSettings()
    with pytest.raises(ValidationError, match="headers are for a url server"):
        McpServerSettings(command="x", headers={"A": "b"})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="args, env and cwd are for a command"):
        McpServerSettings(url="http://127.0.0.1/mcp", args=["x"])


def test_defaults_are_enabled_all_tools_everyone_and_confirm() -> None:
    server = McpServerSettings(command="x")
    assert server.enabled and server.enabled_tools is None and server.owners is None
    assert server.permission == "confirm"


def test_a_server_name_must_fit_the_tool_names() -> None:
    with pytest.raises(ValidationError, match="1-24 letters, digits or '-'"):
        McpSettings(servers={"my_server": McpServerSettings(command="x")})
    assert McpSettings(servers={"home-1": McpServerSettings(command="x")}).servers
