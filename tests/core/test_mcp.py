"""MCP tool lists: the fingerprint that pins them, the changes the owner is told."""

from __future__ import annotations

from minibot.core.mcp import McpToolInfo, changes, exposed_name, fingerprint

ECHO = McpToolInfo("echo", "Repeat.", {"type": "object", "properties": {"t": {"type": "string"}}})


def test_the_fingerprint_ignores_listing_order_but_not_a_description_or_schema() -> None:
    other = McpToolInfo("time", "Now.", {"type": "object"})
    assert fingerprint([ECHO, other]) == fingerprint([other, ECHO])
    assert fingerprint([ECHO]) != fingerprint([McpToolInfo("echo", "Repeat!", ECHO.input_schema)])
    assert fingerprint([ECHO]) != fingerprint([McpToolInfo("echo", "Repeat.", {"type": "object"})])


def test_changes_name_each_difference() -> None:
    new = McpToolInfo("echo", "Do as I say.", {"type": "object"})
    added = McpToolInfo("wipe", "Delete.", {})
    assert changes([ECHO], [new, added]) == [
        "new tool wipe",
        "echo: description changed from 'Repeat.' to 'Do as I say.'",
        "echo: argument schema changed",
    ]
    assert changes([ECHO, added], [ECHO]) == ["tool wipe removed"]


def test_exposed_names_fit_the_model_apis() -> None:
    assert exposed_name("files", "read.file") == "mcp_files_read_file"
    assert len(exposed_name("s", "x" * 100)) == 64
