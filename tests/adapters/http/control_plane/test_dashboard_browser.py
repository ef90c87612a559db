"""The dashboard in headless Chromium (Debian's package, driven by Playwright; never a
browser download): log in, watch a message arrive live, cancel a task, chat on the web page,
press a button there.
Screenshots go to test-artifacts/dashboard/ (MINIBOT_TEST_ARTIFACTS overrides the root)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.adapters.http.control_plane.daemon_harness import (
    OWNER,
    TOKEN,
    Running,
    running_daemon,
)
from tests.fakes.openai_server import Script

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("MINIBOT_TEST_ARTIFACTS", "test-artifacts")) / "dashboard"
WAIT_MS = 20_000

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]


def _chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("MINIBOT_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does)")
        pytest.skip(f"{CHROMIUM} is not installed")
    return CHROMIUM


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def minibot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    tools = {"permissions": {"save_note": "confirm"}}
    async with running_daemon(tmp_path_factory.mktemp("dash"), stream=True, tools=tools) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def page(minibot: Running) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    executable = _chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=FLAGS)
        context = await browser.new_context(viewport={"width": 1200, "height": 800})
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)
        yield page
        await browser.close()


async def shot(page: object, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


async def test_logging_in_shows_the_overview(minibot: Running, page: object) -> None:
    p: object = page
    response = await p.goto(minibot.base_url + "/")  # type: ignore[attr-defined]
    assert response.status == 401
    await p.fill("input[name=token]", "not the token")  # type: ignore[attr-defined]
    await p.click("button:has-text('Log in')")  # type: ignore[attr-defined]
    await p.wait_for_selector("text=That is not the token.")  # type: ignore[attr-defined]
    await p.fill("input[name=token]", TOKEN)  # type: ignore[attr-defined]
    await p.click("button:has-text('Log in')")  # type: ignore[attr-defined]
    await p.wait_for_selector("h1:has-text('Overview')")  # type: ignore[attr-defined]
    body = await p.inner_text("main")  # type: ignore[attr-defined]
    assert "telegram" in body and "control-plane" in body
    await shot(p, "overview")


async def test_a_message_arrives_live_on_the_events_page(minibot: Running, page: object) -> None:
    p: object = page
    await p.goto(minibot.base_url + "/events")  # type: ignore[attr-defined]
    await p.wait_for_selector("body[data-live=open]")  # type: ignore[attr-defined]
    minibot.telegram.enqueue_text(OWNER, OWNER, "a live one")
    await p.wait_for_selector(  # type: ignore[attr-defined]
        f"#feed li:has-text('message_received conversation=telegram:{OWNER}')"
    )
    await p.wait_for_selector("#feed li:has-text('reply_sent')")  # type: ignore[attr-defined]
    assert "a live one" not in await p.inner_text("#feed"), "texts are not shown"  # type: ignore[attr-defined]
    await shot(p, "live-events")


async def test_a_task_cancelled_on_the_tasks_page_is_gone(minibot: Running, page: object) -> None:
    p: object = page
    async with minibot.client() as api:
        created = await api.post(
            "/api/v1/tasks",
            json={"owner": f"telegram:{OWNER}", "text": "call the plumber", "when": "in 2 hours"},
        )
        task_id = created.json()["id"]
    await p.goto(minibot.base_url + "/tasks")  # type: ignore[attr-defined]
    await p.wait_for_selector("td:has-text('call the plumber')")  # type: ignore[attr-defined]
    await shot(p, "tasks")
    await p.click(f"button[data-task='{task_id}']")  # type: ignore[attr-defined]
    await p.wait_for_selector(  # type: ignore[attr-defined]
        "td:has-text('call the plumber')", state="detached"
    )
    async with minibot.client() as api:
        assert (await api.get(f"/api/v1/tasks/{task_id}")).json()["state"] == "cancelled"


async def test_the_web_chat_streams_its_answer_in(minibot: Running, page: object) -> None:
    p: object = page
    answer = "Hello from minibot, streamed to the page one word at a time."
    minibot.llm.script(Script.streamed_slowly(answer, 0.15))
    await p.goto(minibot.base_url + "/chat")  # type: ignore[attr-defined]
    await p.wait_for_selector("body[data-live=open]")  # type: ignore[attr-defined]
    await p.fill("#chat-form input[name=text]", "hello from the browser")  # type: ignore[attr-defined]
    await p.press("#chat-form input[name=text]", "Enter")  # type: ignore[attr-defined]
    await p.wait_for_selector(".me:has-text('hello from the browser')")  # type: ignore[attr-defined]
    draft = await p.wait_for_selector(".bot.draft")  # type: ignore[attr-defined]
    partial = await draft.inner_text()
    assert partial and answer.startswith(partial.strip()) and partial.strip() != answer
    await shot(p, "chat-streaming")
    await p.wait_for_selector(f".bot:not(.draft):has-text('{answer}')")  # type: ignore[attr-defined]
    assert await p.query_selector(".bot.draft") is None  # type: ignore[attr-defined]
    await shot(p, "chat")


async def test_approve_clicked_on_the_web_chat_runs_the_tool(
    minibot: Running, page: object
) -> None:
    p: object = page
    minibot.llm.script(
        Script.tool_call("save_note", json.dumps({"title": "eggs", "content": "a dozen"}))
    )
    await p.goto(minibot.base_url + "/chat")  # type: ignore[attr-defined]
    await p.wait_for_selector("body[data-live=open]")  # type: ignore[attr-defined]
    await p.fill("#chat-form input[name=text]", "remember eggs")  # type: ignore[attr-defined]
    await p.press("#chat-form input[name=text]", "Enter")  # type: ignore[attr-defined]
    approve = await p.wait_for_selector(".bot button.press:has-text('Approve')")  # type: ignore[attr-defined]
    await shot(p, "chat-buttons")
    async with minibot.client() as api:
        notes = (await api.get("/api/v1/notes", params={"owner": "web:owner"})).json()["notes"]
        assert notes == [], "nothing is saved before the click"
        minibot.llm.script(Script.reply("Saved the eggs."))
        await approve.click()
        await p.wait_for_selector(".bot:not(.draft):has-text('Saved the eggs.')")  # type: ignore[attr-defined]
        notes = (await api.get("/api/v1/notes", params={"owner": "web:owner"})).json()["notes"]
        assert [n["title"] for n in notes] == ["eggs"]
    assert await approve.is_disabled(), "a pressed button row is disabled"


async def test_a_photo_attached_on_the_web_chat_reaches_the_model(
    minibot: Running, page: object
) -> None:
    p: object = page
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    await p.goto(minibot.base_url + "/chat")  # type: ignore[attr-defined]
    await p.wait_for_selector("body[data-live=open]")  # type: ignore[attr-defined]
    await p.fill("#chat-form input[name=text]", "what is in this photo?")  # type: ignore[attr-defined]
    await p.set_input_files(  # type: ignore[attr-defined]
        "#chat-file", files=[{"name": "cat.png", "mimeType": "image/png", "buffer": photo}]
    )
    await p.wait_for_selector(".me:has-text('cat.png')")  # type: ignore[attr-defined]
    await p.wait_for_selector(".bot:not(.draft):has-text('echo: what is in this photo?')")  # type: ignore[attr-defined]
    users = [m for m in minibot.llm.requests[-1].body["messages"] if m["role"] == "user"]
    parts = users[-1]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    await shot(p, "chat-photo")

    minibot.llm.script(
        Script.tool_call("generate_image", json.dumps({"prompt": "a red fox"})),
        Script.reply("Here is your fox."),
    )
    await p.fill("#chat-form input[name=text]", "draw a fox")  # type: ignore[attr-defined]
    await p.press("#chat-form input[name=text]", "Enter")  # type: ignore[attr-defined]
    image = await p.wait_for_selector(".bot img.reply-image")  # type: ignore[attr-defined]
    await p.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image)  # type: ignore[attr-defined]
    await shot(p, "chat-image")
