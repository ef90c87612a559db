"""Pressable buttons in the web chat, over real HTTP: a tool under `confirm` shows Approve
and Deny on the chat page, and a press goes through the inbox, answered once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.adapters.http.control_plane.daemon_harness import Running, running_daemon
from tests.fakes.openai_server import Script

pytestmark = [pytest.mark.timeout(90), pytest.mark.asyncio(loop_scope="module")]

NOTE = json.dumps({"title": "milk", "content": "2L"})


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def minibot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    tmp_path: Path = tmp_path_factory.mktemp("chat-buttons")
    tools = {"permissions": {"save_note": "confirm"}}
    async with running_daemon(tmp_path, tools=tools) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def api(minibot: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with minibot.client() as client:
        yield client


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not (found := await check()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return found


async def _replies(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = (await api.get("/api/v1/chat/messages")).json()["replies"]
    return replies


async def _notes(api: httpx.AsyncClient) -> list[str]:
    body = (await api.get("/api/v1/notes", params={"owner": "web:owner"})).json()
    return [note["title"] for note in body["notes"]]


async def _ask_to_save(minibot: Running, api: httpx.AsyncClient, said: str) -> dict[str, Any]:
    """Says something the model answers with a save_note call; returns the confirm reply."""
    minibot.llm.script(Script.tool_call("save_note", NOTE))
    posted = await api.post("/api/v1/chat/messages", json={"text": said, "message_id": said})
    assert posted.status_code == 202

    async def asked() -> dict[str, Any] | None:
        return next(
            (r for r in await _replies(api) if r["buttons"] and r["message_id"] not in _seen),
            None,
        )

    reply: dict[str, Any] = await eventually(asked)
    _seen.add(reply["message_id"])
    return reply


_seen: set[str] = set()


async def _press(api: httpx.AsyncClient, reply: dict[str, Any], label: str) -> httpx.Response:
    action = next(b["action"] for b in reply["buttons"] if b["label"] == label)
    return await api.post(
        "/api/v1/chat/press", json={"message_id": reply["message_id"], "action": action}
    )


async def test_a_confirm_tool_waits_for_approve_and_a_repeated_press_counts_once(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    reply = await _ask_to_save(minibot, api, "save-1")
    assert [b["label"] for b in reply["buttons"]] == ["Approve", "Deny"]
    assert "save_note" in reply["text"] and "[Approve]" not in reply["text"]
    await asyncio.sleep(0.3)
    assert await _notes(api) == [], "nothing is saved before the press"

    minibot.llm.script(Script.reply("Saved."))
    asked_before = len(minibot.llm.requests)
    first = await _press(api, reply, "Approve")
    assert first.status_code == 202, first.text
    again = await _press(api, reply, "Approve")
    assert again.status_code == 202, again.text

    await eventually(lambda: _has_text(api, "Saved."))
    await asyncio.sleep(0.5)
    assert await _notes(api) == ["milk"]
    texts = [r["text"] for r in await _replies(api)]
    assert texts.count("Saved.") == 1
    assert len(minibot.llm.requests) == asked_before + 1, "a repeated press was handled twice"


async def test_a_confirm_tool_does_nothing_after_deny(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    before = await _notes(api)
    reply = await _ask_to_save(minibot, api, "save-2")
    minibot.llm.script(Script.reply("Not saved."))
    pressed = await _press(api, reply, "Deny")
    assert pressed.status_code == 202, pressed.text
    await eventually(lambda: _has_text(api, "Not saved."))
    assert await _notes(api) == before
    last = minibot.llm.requests[-1].body["messages"][-1]
    assert "denied" in str(last["content"])


async def test_a_press_on_no_shown_button_is_refused(api: httpx.AsyncClient) -> None:
    pressed = await api.post("/api/v1/chat/press", json={"message_id": "999", "action": "x"})
    assert pressed.status_code == 404
    assert pressed.json()["error"] == "no_such_button"
    bad = await api.post("/api/v1/chat/press", json={"message_id": "1"})
    assert bad.status_code == 422 and "action" in bad.text


async def test_the_chat_page_renders_the_buttons(api: httpx.AsyncClient) -> None:
    page = await api.get("/chat")
    assert page.status_code == 200
    assert 'class="press"' in page.text and ">Approve</button>" in page.text
    document = (await api.get("/api/v1/openapi.json")).json()
    assert "/api/v1/chat/press" in document["paths"]
    assert "ChatPress" in document["components"]["schemas"]


async def _has_text(api: httpx.AsyncClient, text: str) -> bool:
    return any(r["text"] == text for r in await _replies(api))
