"""What the control plane's routes are given: services and read models, built by the container."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minibot.adapters.http.control_plane.api_intake import ApiIntake
from minibot.adapters.messaging.web.web_channel import WebChannel
from minibot.adapters.sql.control_queries import SqlControlQueries
from minibot.app.daemon import DaemonHealth
from minibot.app.jobs.job_service import JobService
from minibot.app.live.live_feed import LiveFeed
from minibot.app.live.task_index import TaskIndex
from minibot.app.mcp.mcp_commands import McpServer
from minibot.core.identity import OwnerResolver
from minibot.core.ports.conversation_memory import ConversationMemory
from minibot.core.ports.note_store import NoteStore
from minibot.core.ports.session_store import SessionStore

# `/metrics`: the exposition's body and its content type (the observability issue fills it).
Metrics = Callable[[], tuple[bytes, str]]
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def no_metrics() -> tuple[bytes, str]:
    return b"", PROMETHEUS_TEXT


@dataclass
class ControlPlaneDeps:
    """The control plane's view of the daemon. `jobs` and `notes` are None when the
    scheduler or the notes are off (and `tasks`, the index of active jobs, with the
    scheduler); `health` reads the daemon's health as data. `max_upload_bytes` caps a
    file posted on the web chat (`[media] max_file_bytes`; 0 when media is off)."""

    feed: LiveFeed
    owners: OwnerResolver
    health: Callable[[], DaemonHealth]
    queries: SqlControlQueries
    memory: ConversationMemory
    notes: NoteStore | None
    jobs: JobService | None
    web: WebChannel
    # What the API says goes through it; only to a conversation of one of these channels.
    said: ApiIntake
    channel_names: frozenset[str]
    # The dashboard's logins (SQL: shared by restarts and replicas) and the wall clock.
    sessions: SessionStore
    now: Callable[[], datetime]
    settings: Callable[[], dict[str, Any]]
    tasks: TaskIndex | None = None
    default_timezone: str = "UTC"
    metrics: Metrics = no_metrics
    max_upload_bytes: int = 0
    # The MCP servers by name (their links: state, tools, approve).
    mcp: Mapping[str, McpServer] = field(default_factory=dict)
