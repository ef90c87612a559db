"""fetch_url's answer: readable text, title and final URL, and every cap said in the result."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from minibot.adapters.web.pinned_fetcher import PinnedFetcher
from minibot.adapters.web.web_reader import PinnedWebReader
from minibot.app.tools.registry import ToolContext, ToolRegistry
from minibot.app.tools.web_tools import WebTools
from minibot.core.conversation import ConversationKey, ToolCall
from minibot.core.web import WebRules
from tests.fakes.web_server import LoopbackSite, ScriptedResolver

ARTICLE = (
    b"<html><head><title>News</title><style>p{}</style><script>alert(1)</script></head>"
    b"<body><h1>Headline</h1><p>First   paragraph.</p><p>Second.</p></body></html>"
)


@pytest.fixture
async def site() -> AsyncIterator[LoopbackSite]:
    s = LoopbackSite(
        {
            "/article": (200, {"Content-Type": "text/html; charset=utf-8"}, ARTICLE),
            "/moved": (301, {"Location": "/article"}, b""),
            "/big": (200, {"Content-Type": "text/plain"}, b"a" * 1_000_000),
            "/image": (200, {"Content-Type": "image/png"}, b"\x89PNG" + b"\x00" * 100),
        }
    )
    await s.start()
    yield s
    await s.stop()


async def fetch(site: LoopbackSite, path: str, **rules: object) -> dict[str, object]:
    web_rules = WebRules(allowed_hosts=(f"127.0.0.1:{site.port}",), **rules)  # type: ignore[arg-type]
    reader = PinnedWebReader(PinnedFetcher(ScriptedResolver(), web_rules))
    registry = ToolRegistry(WebTools(reader=reader, search=None, max_text_chars=5000).tools())
    text = await registry.run(
        ToolCall("c1", "fetch_url", json.dumps({"url": site.url + path})),
        ToolContext("test:1", ConversationKey("test", "1")),
    )
    # A result is fenced as untrusted data; an error (minibot's own words) is not.
    body = text.split("\n", 1)[1].rsplit("\n", 1)[0] if text.startswith("<<") else text
    result: dict[str, object] = json.loads(body)
    return result


async def test_a_page_comes_back_as_title_text_and_final_url(site: LoopbackSite) -> None:
    result = await fetch(site, "/moved")
    assert result["ok"] is True
    page = result["result"]
    assert isinstance(page, dict)
    assert page["title"] == "News"
    assert page["text"] == "Headline\nFirst paragraph.\nSecond."
    assert page["final_url"] == f"{site.url}/article"
    assert "truncated" not in page


async def test_the_byte_cap_and_the_text_cap_are_said_in_the_result(site: LoopbackSite) -> None:
    result = await fetch(site, "/big", max_response_bytes=100_000)
    page = result["result"]
    assert isinstance(page, dict)
    assert "100000-byte cap" in str(page["truncated"])
    assert "only the first 5000" in str(page["truncated"])
    assert page["text"] == "a" * 5000


async def test_the_time_cap_ends_a_slow_page(site: LoopbackSite) -> None:
    site.delays["/article"] = 5
    result = await fetch(site, "/article", timeout_seconds=0.5)
    assert result == {"ok": False, "error": f"{site.url}/article: no answer within 0.5 s"}


async def test_binary_content_is_named_not_shown(site: LoopbackSite) -> None:
    page = (await fetch(site, "/image"))["result"]
    assert isinstance(page, dict)
    assert page["text"] == "[104 bytes of image/png, not shown as text]"
