"""Approvals: tool calls held until the speaker approves them, where others spoke too."""
