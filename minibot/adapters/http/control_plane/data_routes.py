"""`/api/v1/notes`, `/api/v1/usage` and `/api/v1/channels`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from minibot.adapters.http.control_plane import params
from minibot.adapters.http.control_plane.api_errors import ApiError, json_response
from minibot.adapters.http.control_plane.deps import ControlPlaneDeps
from minibot.core.health import HealthState
from minibot.core.notes import Note
from minibot.core.ports.note_store import NoteStore

# Services that are not channels, by the names the daemon knows them.
CHANNEL_NAMES = ("telegram", "slack", "console", "web")


def note_json(note: Note) -> dict[str, Any]:
    return {
        "id": note.id,
        "owner": note.owner_id,
        "title": note.title,
        "content": note.content,
        "tags": list(note.tags),
        "updated_at": note.updated_at.isoformat() if note.updated_at else None,
    }


class DataRoutes:
    def __init__(self, deps: ControlPlaneDeps) -> None:
        self._deps = deps

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v1/notes", self.notes)
        router.add_delete("/api/v1/notes/{id}", self.delete_note)
        router.add_get("/api/v1/usage", self.usage)
        router.add_get("/api/v1/channels", self.channels)

    @property
    def _notes(self) -> NoteStore:
        if self._deps.notes is None:
            raise ApiError(409, "notes_disabled", "notes are off ([kv_memory] enabled)")
        return self._deps.notes

    async def notes(self, request: web.Request) -> web.Response:
        owner = params.query_text(request, "owner")
        if owner is None:
            raise ApiError(422, "invalid_field", "owner: is required", "owner")
        owner_id = self._deps.owners.owner_of_identity(params.owner(owner))
        limit = params.query_int(request, "limit", 100, 1, 1000)
        offset = params.query_int(request, "offset", 0, 0, 10_000_000)
        found = await self._notes.list(owner_id, offset=offset, limit=limit)
        return json_response({"owner": owner_id, "notes": [note_json(n) for n in found]})

    async def delete_note(self, request: web.Request) -> web.Response:
        note_id = params.path_int(request, "id")
        store = self._notes
        found = await self._deps.queries.note_owner(note_id)
        if found is None:
            raise ApiError(404, "not_found", f"id: no such note {note_id}", "id")
        owner_id, title = found
        await store.delete(owner_id, title)
        return json_response({"deleted": note_id, "owner": owner_id})

    async def usage(self, request: web.Request) -> web.Response:
        owner = params.query_text(request, "owner")
        owner_id = None
        if owner is not None:
            owner_id = self._deps.owners.owner_of_identity(params.owner(owner))
        days = params.query_int(request, "days", 30, 1, 3650)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        rows = await self._deps.queries.usage(today - timedelta(days=days - 1), owner_id)
        return json_response(
            {
                "days": days,
                "usage": [
                    {
                        "owner": r.owner_id,
                        "model": r.model,
                        "day": r.day,
                        "requests": r.requests,
                        "prompt_tokens": r.prompt_tokens,
                        "completion_tokens": r.completion_tokens,
                        "cost_usd": r.cost_usd,
                    }
                    for r in rows
                ],
                "total_cost_usd": round(sum(r.cost_usd for r in rows), 6),
            }
        )

    async def channels(self, request: web.Request) -> web.Response:
        return json_response({"channels": self.channel_states()})

    def channel_states(self) -> list[dict[str, Any]]:
        services = self._deps.health().services
        counters = self._deps.feed.channel_counters
        states = []
        for name, health in services.items():
            if name not in CHANNEL_NAMES:
                continue
            counts = counters.get(name, {})
            states.append(
                {
                    "name": name,
                    "state": health.state.value,
                    "ready": health.state is HealthState.READY,
                    "reason": health.reason,
                    "received": counts.get("message_received", 0),
                    "sent": counts.get("reply_sent", 0),
                    "failed": counts.get("reply_failed", 0),
                    "last_error": self._deps.feed.last_errors.get(name),
                }
            )
        return states
