"""MCP servers' tools in the registry: one link per server, pinned tool lists, /mcp."""
