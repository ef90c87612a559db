"""Running untrusted code: the limits a run gets and what it produced."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """`[tools.code]`: per run. `cpu_seconds` defaults to the wall time."""

    timeout_seconds: float = 10.0
    memory_mb: int = 256
    max_output_chars: int = 20_000
    max_processes: int = 32
    max_file_mb: int = 16


@dataclass(frozen=True, slots=True)
class CodeRun:
    """What a run produced. `limit` names the limit that ended it ("wall_time",
    "cpu_time", "memory", "processes", "output"), or None when it ended by itself."""

    stdout: str
    stderr: str
    exit_status: int
    limit: str | None
    duration_seconds: float
