"""The control plane's API over real HTTP (httpx), on a daemon running the Telegram fake."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import jsonschema
import pytest
import pytest_asyncio
from schemathesis.specs.openapi.definitions import OPENAPI_31

from tests.adapters.http.control_plane.daemon_harness import OWNER, Running, running_daemon
from tests.fakes.openai_server import Script

pytestmark = [pytest.mark.timeout(90), pytest.mark.asyncio(loop_scope="module")]

# Every protected route, with a method and a concrete path.
PROTECTED = [
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/tasks"),
    ("POST", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/1"),
    ("PATCH", "/api/v1/tasks/1"),
    ("DELETE", "/api/v1/tasks/1"),
    ("POST", "/api/v1/tasks/1/run"),
    ("GET", "/api/v1/tasks/1/runs"),
    ("GET", "/api/v1/conversations"),
    ("GET", "/api/v1/conversations/telegram:42/messages"),
    ("POST", "/api/v1/conversations/telegram:42/messages"),
    ("DELETE", "/api/v1/conversations/telegram:42"),
    ("GET", "/api/v1/notes?owner=telegram:42"),
    ("DELETE", "/api/v1/notes/1"),
    ("GET", "/api/v1/usage"),
    ("GET", "/api/v1/channels"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/ws"),
    ("GET", "/api/v1/chat/messages"),
    ("POST", "/api/v1/chat/messages"),
    ("GET", "/"),
    ("GET", "/events"),
    ("GET", "/tasks"),
    ("POST", "/tasks/1/cancel"),
    ("GET", "/conversations"),
    ("GET", "/notes"),
    ("GET", "/usage"),
    ("GET", "/mcp"),
    ("POST", "/mcp/test/approve"),
    ("GET", "/settings"),
    ("GET", "/chat"),
]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def minibot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    async with running_daemon(tmp_path_factory.mktemp("cp")) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def api(minibot: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with minibot.client() as client:
        yield client


async def test_health_and_readiness_need_no_token(minibot: Running) -> None:
    async with minibot.client(token=None) as anonymous:
        assert (await anonymous.get("/healthz")).status_code == 200
        ready = await anonymous.get("/readyz")
    assert ready.status_code == 200, ready.text
    services = ready.json()["services"]
    assert {"database", "telegram", "web", "control-plane"} <= set(services)


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_every_protected_route_answers_401_without_the_token(
    minibot: Running, token: str | None
) -> None:
    async with minibot.client(token=token, follow_redirects=False) as client:
        for method, path in PROTECTED:
            response = await client.request(method, path, json={"text": "x"})
            assert response.status_code == 401, (method, path, response.status_code)
            if path.startswith("/api/"):
                assert response.json() == {
                    "error": "unauthorized",
                    "message": "authentication required",
                }


async def test_the_openapi_document_is_a_valid_openapi_3_1_document(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/api/v1/openapi.json")
    document = response.json()
    jsonschema.Draft202012Validator(OPENAPI_31).validate(document)
    assert "/api/v1/tasks/{id}/runs" in document["paths"]
    assert set(document["components"]["schemas"]) >= {"TaskCreate", "TaskPatch", "Error"}


async def _events(
    client: httpx.AsyncClient, path: str, into: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    async with client.stream("GET", path) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            ready.set()
            if line.startswith("data: "):
                into.append(json.loads(line.removeprefix("data: ")))


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Waits until `check` (an API read) holds."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_sse_carries_a_message_sent_through_the_bot_api(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    plain: list[dict[str, Any]] = []
    with_content: list[dict[str, Any]] = []
    first, second = asyncio.Event(), asyncio.Event()
    readers = [
        asyncio.create_task(_events(api, "/api/v1/events", plain, first)),
        asyncio.create_task(_events(api, "/api/v1/events?content=1", with_content, second)),
    ]
    await asyncio.wait_for(asyncio.gather(first.wait(), second.wait()), 10)
    minibot.telegram.enqueue_text(OWNER, OWNER, "hello over telegram")

    def kinds(events: list[dict[str, Any]]) -> set[str]:
        return {event["kind"] for event in events}

    await until(lambda: {"message_received", "reply_sent"} <= kinds(plain))
    await until(lambda: {"message_received", "reply_sent"} <= kinds(with_content))
    for task in readers:
        task.cancel()
    received = next(e for e in plain if e["kind"] == "message_received")
    assert received["conversation"] == f"telegram:{OWNER}"
    assert "content" not in received, "a message's text went out without ?content=1"
    shown = next(e for e in with_content if e["kind"] == "message_received")
    assert shown["content"] == "hello over telegram"
    replied = next(e for e in with_content if e["kind"] == "reply_sent")
    assert replied["content"] == "echo: hello over telegram"


async def test_the_websocket_streams_the_same_events(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    import aiohttp

    headers = {"Authorization": api.headers["Authorization"]}
    url = f"{minibot.base_url}/api/v1/ws?content=1"
    async with aiohttp.ClientSession(headers=headers) as session, session.ws_connect(url) as ws:
        await asyncio.sleep(0.2)
        minibot.telegram.enqueue_text(OWNER, OWNER, "over the socket")
        async with asyncio.timeout(20):
            while True:
                event = json.loads(await ws.receive_str())
                if event["kind"] == "message_received":
                    break
    assert event["content"] == "over the socket"


async def test_a_task_created_over_the_api_fires_through_telegram(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    created = await api.post(
        "/api/v1/tasks",
        json={"owner": f"telegram:{OWNER}", "text": "water the plants", "when": "in 1 second"},
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["owner"] == f"telegram:{OWNER}" and task["state"] == "scheduled"
    await until(
        lambda: any(
            "water the plants" in m.visible_text for m in minibot.telegram.messages_to(OWNER)
        )
    )
    runs = (await api.get(f"/api/v1/tasks/{task['id']}/runs")).json()["runs"]
    async with asyncio.timeout(10):
        while not runs or runs[-1]["outcome"] is None:
            await asyncio.sleep(0.05)
            runs = (await api.get(f"/api/v1/tasks/{task['id']}/runs")).json()["runs"]
    assert runs[-1]["outcome"] == "delivered"
    done = (await api.get(f"/api/v1/tasks/{task['id']}")).json()
    assert done["state"] == "completed"


async def test_a_task_is_listed_edited_run_and_cancelled(api: httpx.AsyncClient) -> None:
    body = {"owner": "telegram:7", "kind": "prompt", "text": "news", "when": "cron 0 8 * * *",
            "timezone": "Europe/Madrid"}  # fmt: skip
    task = (await api.post("/api/v1/tasks", json=body)).json()
    assert task["kind"] == "prompt" and task["timezone"] == "Europe/Madrid"
    listed = (await api.get("/api/v1/tasks", params={"owner": "telegram:7"})).json()
    assert [t["id"] for t in listed["tasks"]] == [task["id"]]
    scheduled = (await api.get("/api/v1/tasks", params={"state": "scheduled"})).json()
    assert task["id"] in [t["id"] for t in scheduled["tasks"]]
    patched = await api.patch(f"/api/v1/tasks/{task['id']}", json={"text": "the news"})
    assert patched.json()["text"] == "the news"
    cancelled = await api.delete(f"/api/v1/tasks/{task['id']}")
    assert cancelled.json()["state"] == "cancelled"
    again = await api.delete(f"/api/v1/tasks/{task['id']}")
    assert again.status_code == 409 and again.json()["error"] == "refused"
    active = (await api.get("/api/v1/tasks")).json()["tasks"]
    assert task["id"] not in [t["id"] for t in active]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "field"),
    [
        ("GET", "/api/v1/tasks/999999", None, 404, "not_found", None),
        ("POST", "/api/v1/tasks/999999/run", None, 404, "not_found", None),
        ("POST", "/api/v1/tasks", {"owner": "telegram:1", "text": "x", "when": "someday"},
         422, "invalid_schedule", "when"),
        ("POST", "/api/v1/tasks", {"owner": "telegram:1", "text": "x", "when": "in 1 hour",
                                   "timezone": "Mars/Olympus"}, 422, "invalid_field", "timezone"),
        ("POST", "/api/v1/tasks", {"owner": "telegram:1", "text": 5, "when": "in 1 hour"},
         422, "invalid_field", "text"),
        ("POST", "/api/v1/tasks", {"owner": "nobody", "text": "x", "when": "in 1 hour"},
         422, "invalid_field", "owner"),
        ("POST", "/api/v1/tasks", {"owner": "telegram:1", "text": "x", "when": "in 1 hour",
                                   "colour": "red"}, 422, "invalid_field", "colour"),
        ("POST", "/api/v1/tasks", [1, 2], 422, "invalid_field", "body"),
        ("GET", "/api/v1/tasks?limit=many", None, 422, "invalid_field", "limit"),
        ("GET", "/api/v1/tasks?state=sleeping", None, 422, "invalid_field", "state"),
        ("GET", "/api/v1/notes", None, 422, "invalid_field", "owner"),
        ("DELETE", "/api/v1/notes/abc", None, 404, "not_found", "id"),
        ("DELETE", "/api/v1/notes/123456", None, 404, "not_found", "id"),
        ("GET", "/api/v1/conversations/nokey/messages", None, 422, "invalid_field", "key"),
        ("GET", "/api/v1/nothing-here", None, 404, "not_found", None),
    ],
)  # fmt: skip
async def test_bad_input_gets_a_4xx_naming_the_field(
    api: httpx.AsyncClient,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
    field: str | None,
) -> None:
    response = await api.request(method, path, json=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] == code
    assert error.get("field") == field
    if field is not None:
        assert error["message"].startswith(f"{field}:")


async def test_an_oversized_or_non_json_body_is_refused(api: httpx.AsyncClient) -> None:
    huge = await api.post(
        "/api/v1/chat/messages",
        content=b'{"text": "' + b"x" * 200_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["error"] == "body_too_large"
    broken = await api.post(
        "/api/v1/chat/messages", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["field"] == "body"
    form = await api.post("/api/v1/chat/messages", data={"text": "hi"})
    assert form.status_code == 415


async def test_conversations_show_history_and_reset(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    minibot.telegram.enqueue_text(OWNER, OWNER, "remember this line")
    key = f"telegram:{OWNER}"

    async def contents() -> list[str]:
        page = (await api.get(f"/api/v1/conversations/{key}/messages")).json()
        return [m["content"] for m in page["messages"]]

    await eventually(lambda: _has(contents(), "echo: remember this line"))
    listed = (await api.get("/api/v1/conversations")).json()["conversations"]
    assert key in [c["key"] for c in listed]
    reset = await api.delete(f"/api/v1/conversations/{key}")
    assert reset.json()["forgotten_messages"] >= 2
    assert await contents() == []


async def test_saying_something_as_the_owner_is_answered_through_telegram(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    said = await api.post(
        f"/api/v1/conversations/telegram:{OWNER}/messages", json={"text": "from the api"}
    )
    assert said.status_code == 202
    await until(
        lambda: any(
            m.visible_text == "echo: from the api" for m in minibot.telegram.messages_to(OWNER)
        )
    )


def _inbox(minibot: Running, channel: str) -> list[tuple[str, str, int]]:
    """The daemon's inbox rows of one channel (read-only, beside the running daemon)."""
    path = minibot.settings.memory.url.removeprefix("sqlite+aiosqlite:///")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(
            "SELECT external_id, conversation, done FROM minibot_inbox WHERE channel = ?",
            (channel,),
        ).fetchall()
    finally:
        db.close()


async def test_what_the_api_says_goes_through_the_inbox_and_a_retry_is_answered_once(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    path = f"/api/v1/conversations/telegram:{OWNER}/messages"
    first = await api.post(path, json={"text": "said once", "message_id": "client-7"})
    assert first.status_code == 202 and first.json()["message_id"] == "client-7"
    # Stored before the 202: the row is there when the answer is.
    assert ("telegram:42#client-7", "telegram:42") in [row[:2] for row in _inbox(minibot, "api")]
    again = await api.post(path, json={"text": "said once", "message_id": "client-7"})
    by_header = await api.post(
        path, json={"text": "said once"}, headers={"Idempotency-Key": "client-7"}
    )
    assert again.status_code == by_header.status_code == 202

    def answers() -> int:
        return [m.visible_text for m in minibot.telegram.messages_to(OWNER)].count(
            "echo: said once"
        )

    await until(lambda: answers() >= 1)
    # The delivery of Telegram's own channel closes the item the API stored.
    await until(lambda: ("telegram:42#client-7", "telegram:42", 1) in _inbox(minibot, "api"))
    await asyncio.sleep(0.5)
    assert answers() == 1, "a POST retried with the same message id was answered twice"
    assert [row[0] for row in _inbox(minibot, "api")].count("telegram:42#client-7") == 1


async def test_saying_something_is_refused_for_an_unknown_channel_or_a_bad_id(
    api: httpx.AsyncClient,
) -> None:
    unknown = await api.post("/api/v1/conversations/fax:1/messages", json={"text": "hi"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "key"
    bad = await api.post(
        f"/api/v1/conversations/telegram:{OWNER}/messages",
        json={"text": "hi"},
        headers={"Idempotency-Key": "not ok!"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "Idempotency-Key"
    differ = await api.post(
        "/api/v1/chat/messages",
        json={"text": "hi", "message_id": "a"},
        headers={"Idempotency-Key": "b"},
    )
    assert differ.status_code == 422 and differ.json()["field"] == "message_id"


async def test_the_web_chat_answers_on_its_page(api: httpx.AsyncClient) -> None:
    posted = await api.post("/api/v1/chat/messages", json={"text": "hi web", "message_id": "m1"})
    assert posted.status_code == 202 and posted.json()["conversation"] == "web:owner"
    again = await api.post("/api/v1/chat/messages", json={"text": "hi web", "message_id": "m1"})
    assert again.status_code == 202

    async def replies() -> list[str]:
        return [r["text"] for r in (await api.get("/api/v1/chat/messages")).json()["replies"]]

    await eventually(lambda: _has(replies(), "echo: hi web"))
    await asyncio.sleep(0.3)
    assert (await replies()).count("echo: hi web") == 1, "a message posted twice was answered twice"


async def test_channels_usage_and_metrics(minibot: Running, api: httpx.AsyncClient) -> None:
    channels = {c["name"]: c for c in (await api.get("/api/v1/channels")).json()["channels"]}
    assert channels["telegram"]["state"] == "ready"
    assert channels["telegram"]["received"] >= 1 and channels["telegram"]["sent"] >= 1
    assert "web" in channels
    usage = (await api.get("/api/v1/usage", params={"owner": f"telegram:{OWNER}"})).json()
    assert usage["usage"] and usage["usage"][0]["model"] == "fake-model"
    assert usage["usage"][0]["requests"] >= 1
    metrics = await api.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")


async def test_notes_are_listed_and_forgotten(minibot: Running, api: httpx.AsyncClient) -> None:
    minibot.llm.script(
        Script.tool_call("save_note", json.dumps({"title": "locker", "content": "4711"})),
        Script.reply("Saved."),
    )
    minibot.telegram.enqueue_text(OWNER, OWNER, "remember my locker code 4711")
    owner = {"owner": f"telegram:{OWNER}"}

    async def titles() -> list[str]:
        listed = (await api.get("/api/v1/notes", params=owner)).json()
        return [n["title"] for n in listed["notes"]]

    await eventually(lambda: _has(titles(), "locker"))
    [note] = (await api.get("/api/v1/notes", params=owner)).json()["notes"]
    deleted = await api.delete(f"/api/v1/notes/{note['id']}")
    assert deleted.status_code == 200
    assert await titles() == []


async def _has(values: Awaitable[list[str]], wanted: str) -> bool:
    return wanted in await values


@pytest.mark.parametrize(
    "page",
    ["/", "/events", "/tasks", "/tasks?owner=telegram:42", "/conversations",
     "/conversations/telegram:42", "/notes", "/notes?owner=telegram:42", "/usage", "/settings",
     "/chat", "/mcp"],
)  # fmt: skip
async def test_every_dashboard_page_renders_without_leaking_secrets(
    minibot: Running, api: httpx.AsyncClient, page: str
) -> None:
    response = await api.get(page)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    body = response.text
    assert '<script src="/static/htmx.min.js">' in body
    for secret in (
        minibot.settings.control_plane.token.get_secret_value(),
        minibot.settings.llm.api_key.get_secret_value(),
        minibot.settings.channels.telegram.bot_token.get_secret_value(),
    ):
        assert secret not in body, f"a secret is shown on {page}"
    if page == "/settings":
        assert "**********" in body and "listen_port" in body


async def test_the_vendored_script_is_the_recorded_htmx(api: httpx.AsyncClient) -> None:
    import hashlib
    from pathlib import Path

    response = await api.get("/static/htmx.min.js")
    digest = hashlib.sha256(response.content).hexdigest()
    doc = (Path(__file__).parents[4] / "docs" / "control_plane.md").read_text()
    assert digest in doc, "docs/control_plane.md records another sha256 than the file served"
