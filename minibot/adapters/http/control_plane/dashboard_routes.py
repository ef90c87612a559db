"""The dashboard at `/`: server-rendered pages over the same services as the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from aiohttp import web

from minibot.adapters.http.control_plane import pages, params
from minibot.adapters.http.control_plane.api_errors import ApiError
from minibot.adapters.http.control_plane.auth import SESSION_KEY, Auth
from minibot.adapters.http.control_plane.data_routes import DataRoutes
from minibot.adapters.http.control_plane.deps import ControlPlaneDeps
from minibot.adapters.http.control_plane.task_routes import TaskRoutes, job_json
from minibot.adapters.messaging.web.web_media import ShownMedia
from minibot.core.jobs import RunOutcome
from minibot.core.media import OutgoingKind
from minibot.core.messages import Button
from minibot.core.schedule import zone
from minibot.core.when import UnclearWhen, parse_when

_STATIC = {"htmx.min.js": "text/javascript", "dashboard.js": "text/javascript"}
_ERROR_KINDS = ("reply_failed", "job_failed", "job_missed", "service_degraded")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _csrf(request: web.Request) -> str:
    session = request.get(SESSION_KEY)
    return session.csrf if session is not None else ""


def _see_other(location: str) -> web.Response:
    raise web.HTTPSeeOther(location)


class DashboardRoutes:
    def __init__(self, deps: ControlPlaneDeps, auth: Auth) -> None:
        self._deps = deps
        self._auth = auth
        self._tasks = TaskRoutes(deps)
        self._data = DataRoutes(deps)

    @staticmethod
    def login_page(status: int = 200, error: str | None = None) -> web.Response:
        return _html(pages.login(error), status)

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/static/{name}", self.static)
        router.add_get("/login", self.login_form)
        router.add_post("/login", self.login)
        router.add_post("/logout", self.logout)
        router.add_get("/", self.overview)
        router.add_get("/events", self.events)
        router.add_get("/tasks", self.tasks)
        router.add_post("/tasks/{id}/cancel", self.cancel_task)
        router.add_post("/tasks/{id}/run", self.run_task)
        router.add_post("/tasks/{id}/edit", self.edit_task)
        router.add_get("/conversations", self.conversations)
        router.add_get("/conversations/{key}", self.conversation)
        router.add_get("/notes", self.notes)
        router.add_post("/notes/{id}/delete", self.delete_note)
        router.add_get("/usage", self.usage)
        router.add_get("/settings", self.settings)
        router.add_get("/chat", self.chat)

    def _page(self, request: web.Request, title: str, body: str) -> web.Response:
        return _html(pages.layout(title, body, csrf=_csrf(request), path=request.path))

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise ApiError(404, "not_found", f"no such file: {name[:40]}")
        body = resources.files(__package__).joinpath("static", name).read_bytes()
        return web.Response(
            body=body,
            content_type=_STATIC[name],
            headers={"Cache-Control": "public, max-age=3600"},
        )

    async def login_form(self, request: web.Request) -> web.Response:
        return self.login_page()

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        token = form.get("token")
        if self._auth.open or (isinstance(token, str) and self._auth.token_matches(token)):
            response = web.HTTPSeeOther("/")
            await self._auth.login(response, secure=request.secure)
            raise response
        return self.login_page(401, "That is not the token.")

    async def logout(self, request: web.Request) -> web.Response:
        response = web.HTTPSeeOther("/login")
        await self._auth.logout(request, response)
        raise response

    async def overview(self, request: web.Request) -> web.Response:
        health = self._deps.health()
        services = pages.table(
            ["service", "state", "why"],
            [
                [pages.e(name), pages.state(h.state.value), pages.e(h.reason or "")]
                for name, h in health.services.items()
            ],
        )
        channels = pages.table(
            ["channel", "state", "received", "sent", "failed", "last error"],
            [
                [
                    pages.e(c["name"]),
                    pages.state(c["state"]),
                    pages.e(c["received"]),
                    pages.e(c["sent"]),
                    pages.e(c["failed"]),
                    pages.e(c["last_error"] or ""),
                ]
                for c in self._data.channel_states()
            ],
        )
        recent = self._deps.feed.recent()
        cutoff = datetime.now(UTC) - timedelta(minutes=1)
        per_minute = sum(1 for ev in recent if ev.kind == "message_received" and ev.at >= cutoff)
        errors = [ev.as_json(with_content=False) for ev in recent if ev.kind in _ERROR_KINDS]
        cards = (
            f'<div class="card">daemon<br><b>{pages.state(health.state.value)}</b></div>'
            f'<div class="card">messages in the last minute<br><b id="per-minute">'
            f"{per_minute}</b></div>"
            f'<div class="card">errors (recent)<br><b>{len(errors)}</b></div>'
            f'<div class="card">live streams<br><b>{self._deps.feed.readers}</b></div>'
        )
        latest = [ev.as_json(with_content=False) for ev in reversed(recent[-20:])]
        body = (
            f"{cards}<h2>Services</h2>{services}<h2>Channels</h2>{channels}"
            f"<h2>Recent errors</h2>{pages.feed_list(errors[::-1], live_url='')}"
            f"<h2>Latest events</h2>{pages.feed_list(latest, live_url='/api/v1/events')}"
        )
        return self._page(request, "Overview", body.replace('id="feed" data-live=""', ""))

    async def events(self, request: web.Request) -> web.Response:
        recent = [ev.as_json(with_content=False) for ev in reversed(self._deps.feed.recent())]
        body = (
            "<p>What happens, as it happens (message texts are not shown).</p>"
            + pages.feed_list(recent, live_url="/api/v1/events")
        )
        return self._page(request, "Live events", body)

    async def tasks(self, request: web.Request) -> web.Response:
        if self._deps.jobs is None:
            return self._page(request, "Tasks", "<p>The scheduler is off.</p>")
        owner = params.query_text(request, "owner")
        jobs = await self._tasks.tasks(params.owner(owner) if owner else None, None)
        csrf = pages.csrf_field(_csrf(request))
        rows = []
        for job in jobs:
            view = job_json(job)
            actions = (
                f'<form method="post" action="/tasks/{pages.e(job.id)}/cancel" hx-boost="true">'
                f'{csrf}<button name="cancel" data-task="{pages.e(job.id)}">Cancel</button></form>'
                f'<form method="post" action="/tasks/{pages.e(job.id)}/run" hx-boost="true">'
                f"{csrf}<button>Run now</button></form>"
                f'<details><summary>Edit</summary><form method="post" '
                f'action="/tasks/{pages.e(job.id)}/edit">{csrf}'
                f'<input name="when" placeholder="in 10 minutes">'
                f'<input name="text" value="{pages.e(job.action.text)}"><button>Save</button>'
                "</form></details>"
            )
            rows.append(
                [
                    pages.e(job.id),
                    pages.e(view["owner"]),
                    pages.e(view["kind"]),
                    pages.e(view["text"]),
                    pages.state(view["state"]),
                    pages.e(view["repeats"]),
                    pages.e(view["next_run_at"] or ""),
                    actions,
                ]
            )
        table = pages.table(
            ["id", "owner", "kind", "text", "state", "repeats", "next run", ""], rows
        )
        runs = await self._problem_runs([job.id for job in jobs[:50]])
        problems = pages.table(["task", "occurrence", "outcome", "reason"], runs)
        filter_form = (
            '<form method="get" action="/tasks"><input name="owner" placeholder='
            f'"telegram:123456" value="{pages.e(owner or "")}"><button>Filter</button></form>'
        )
        body = (
            f"{filter_form}<h2>Active</h2>{table if rows else '<p>No active tasks.</p>'}"
            f"<h2>Missed and failed runs</h2>{problems if runs else '<p>None.</p>'}"
        )
        return self._page(request, "Tasks", body)

    async def _problem_runs(self, job_ids: list[str]) -> list[list[str]]:
        assert self._deps.jobs is not None
        rows = []
        for job_id in job_ids:
            for run in await self._deps.jobs.runs(job_id):
                if run.outcome in (RunOutcome.FAILED, RunOutcome.MISSED):
                    rows.append(
                        [
                            pages.e(job_id),
                            pages.e(run.occurrence.isoformat()),
                            pages.state(run.outcome.value),
                            pages.e(run.reason or ""),
                        ]
                    )
        return rows

    async def cancel_task(self, request: web.Request) -> web.Response:
        jobs = self._tasks_service()
        job = await jobs.any_job(request.match_info["id"])
        self._tasks.changed(await jobs.cancel(job.owner_id, job.id))
        return _see_other("/tasks")

    async def run_task(self, request: web.Request) -> web.Response:
        jobs = self._tasks_service()
        job = await jobs.any_job(request.match_info["id"])
        self._tasks.changed(await jobs.run_now(job.owner_id, job.id))
        return _see_other("/tasks")

    async def edit_task(self, request: web.Request) -> web.Response:
        jobs = self._tasks_service()
        job = await jobs.any_job(request.match_info["id"])
        form = await request.post()
        when, text = str(form.get("when", "")).strip(), str(form.get("text", "")).strip()
        schedule = None
        if when:
            try:
                schedule = parse_when(when, job.schedule.tz, jobs.now())
                zone(job.schedule.tz)
            except (UnclearWhen, ValueError) as exc:
                raise ApiError(422, "invalid_schedule", f"when: {exc}", "when") from None
        self._tasks.changed(
            await jobs.update(job.owner_id, job.id, schedule=schedule, text=text or None)
        )
        return _see_other("/tasks")

    def _tasks_service(self) -> Any:
        if self._deps.jobs is None:
            raise ApiError(409, "scheduler_disabled", "the scheduler is off")
        return self._deps.jobs

    async def conversations(self, request: web.Request) -> web.Response:
        rows = [
            [
                f'<a href="/conversations/{pages.e(c.key)}">{pages.e(c.key)}</a>',
                pages.e(c.messages),
                pages.e(c.last_at.isoformat() if c.last_at else ""),
            ]
            for c in await self._deps.queries.conversations(200)
        ]
        body = pages.table(["conversation", "messages", "last"], rows)
        return self._page(request, "Conversations", body)

    async def conversation(self, request: web.Request) -> web.Response:
        key = params.conversation_key(request.match_info["key"])
        rows = [
            [pages.e(m.at.isoformat()[:19]), pages.e(m.role), f"<pre>{pages.e(m.content)}</pre>"]
            for m in await self._deps.queries.messages(str(key), 200)
        ]
        body = pages.table(["at", "who", "text"], rows) if rows else "<p>No messages.</p>"
        return self._page(request, f"Conversation {key}", body)

    async def notes(self, request: web.Request) -> web.Response:
        owner = params.query_text(request, "owner")
        form = (
            '<form method="get" action="/notes"><input name="owner" placeholder='
            f'"telegram:123456" value="{pages.e(owner or "")}"><button>Show</button></form>'
        )
        if owner is None or self._deps.notes is None:
            note = "" if self._deps.notes is not None else "<p>Notes are off.</p>"
            return self._page(request, "Notes", form + note)
        owner_id = self._deps.owners.owner_of_identity(params.owner(owner))
        csrf = pages.csrf_field(_csrf(request))
        rows = [
            [
                pages.e(n.id),
                pages.e(n.title),
                f"<pre>{pages.e(n.content)}</pre>",
                f'<form method="post" action="/notes/{n.id}/delete">{csrf}'
                f'<input type="hidden" name="owner" value="{pages.e(owner)}">'
                "<button>Forget</button></form>",
            ]
            for n in await self._deps.notes.list(owner_id, limit=500)
        ]
        body = form + (
            pages.table(["id", "title", "content", ""], rows) if rows else "<p>None.</p>"
        )
        return self._page(request, f"Notes of {owner_id}", body)

    async def delete_note(self, request: web.Request) -> web.Response:
        note_id = params.path_int(request, "id")
        found = await self._deps.queries.note_owner(note_id)
        if found is not None and self._deps.notes is not None:
            await self._deps.notes.delete(*found)
        form = await request.post()
        owner = str(form.get("owner", ""))
        return _see_other(f"/notes?owner={owner}" if owner else "/notes")

    async def usage(self, request: web.Request) -> web.Response:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        rows = await self._deps.queries.usage(today - timedelta(days=29))
        per_day: dict[str, float] = {}
        for row in rows:
            per_day[row.day] = per_day.get(row.day, 0.0) + row.cost_usd
        chart = pages.bar_chart(sorted(per_day.items()), unit="USD")
        table = pages.table(
            ["day", "owner", "model", "requests", "prompt tokens", "completion tokens", "USD"],
            [
                [
                    pages.e(r.day),
                    pages.e(r.owner_id),
                    pages.e(r.model),
                    pages.e(r.requests),
                    pages.e(r.prompt_tokens),
                    pages.e(r.completion_tokens),
                    pages.e(f"{r.cost_usd:.4f}"),
                ]
                for r in rows
            ],
        )
        total = sum(per_day.values())
        body = f"<p>Last 30 days: <b>{total:.4f} USD</b></p>{chart}{table}"
        return self._page(request, "Usage and cost", body)

    async def settings(self, request: web.Request) -> web.Response:
        text = _masked(self._deps.settings())
        return self._page(request, "Settings (read-only)", f"<pre>{pages.e(text)}</pre>")

    async def chat(self, request: web.Request) -> web.Response:
        web_channel = self._deps.web
        bubbles = "".join(
            f'<div class="bot" id="reply-{pages.e(s.message_id)}">{_shown_media(s.media)}'
            f"<span>{pages.e(s.text)}</span>{_press_buttons(s.message_id, s.buttons)}</div>"
            for s in web_channel.transcript()
        )
        files = (
            ' <label class="attach">📎 <input type="file" name="file" id="chat-file" '
            f'accept="{_ACCEPTED}"></label>'
            ' <button type="button" id="chat-record" hidden>🎙 Record</button>'
            if web_channel.accepts_files
            else ""
        )
        body = (
            f'<div id="chat" data-conversation="{pages.e(web_channel.conversation)}">'
            f"{bubbles}</div>"
            '<form id="chat-form"><input name="text" size="80" autocomplete="off" '
            f'placeholder="Say something to minibot"> <button>Send</button>{files}</form>'
            f"<p>You speak as <code>{pages.e(web_channel.conversation)}</code>.</p>"
        )
        return self._page(request, "Chat", body)


# What the chat's file picker offers (the model reads these; others are refused kindly).
_ACCEPTED = "image/png,image/jpeg,image/gif,image/webp,audio/*,.pdf,.docx,.txt,.md"


def _shown_media(media: tuple[ShownMedia, ...]) -> str:
    """A reply's picture or voice note, fetched from the channel's shelf."""
    return "".join(
        f'<audio controls src="{pages.e(m.url)}"></audio>'
        if m.kind is OutgoingKind.VOICE
        else f'<img class="reply-image" src="{pages.e(m.url)}" alt="{pages.e(m.caption)}">'
        for m in media
    )


def _press_buttons(message_id: str, buttons: tuple[Button, ...]) -> str:
    """A reply's buttons; dashboard.js posts a click to `/api/v1/chat/press`."""
    if not buttons:
        return ""
    return (
        '<div class="buttons">'
        + "".join(
            f'<button type="button" class="press" data-message="{pages.e(message_id)}" '
            f'data-action="{pages.e(b.action)}">{pages.e(b.label)}</button>'
            for b in buttons
        )
        + "</div>"
    )


def _masked(settings: dict[str, Any], prefix: str = "") -> str:
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in settings.items():
        if isinstance(value, dict):
            tables.append((f"{prefix}{key}", value))
        else:
            shown = _URL_PASSWORD.sub(r"\1***@", str(value)) if isinstance(value, str) else value
            lines.append(f"{key} = {shown!r}")
    out = ([f"[{prefix.rstrip('.')}]"] if prefix and lines else []) + lines
    for name, table in tables:
        out.append(_masked(table, f"{name}."))
    return "\n".join(part for part in out if part)
