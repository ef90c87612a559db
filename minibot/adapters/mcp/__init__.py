"""MCP: the SDK client behind minibot's port, the pinned HTTP transport, `minibot mcp serve`."""
