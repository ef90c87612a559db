"""web_search through SearXNG's JSON API and the Brave Search API, both faked on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from minibot.adapters.web.pinned_fetcher import PinnedFetcher
from minibot.adapters.web.search_providers import BraveSearch, SearxngSearch
from minibot.app.tools.registry import ToolContext, ToolRegistry
from minibot.app.tools.web_tools import WebTools
from minibot.core.conversation import ConversationKey, ToolCall
from minibot.core.errors import AddressRefused, ToolError
from minibot.core.web import SearchResult, WebRules
from tests.fakes.web_server import LoopbackSite, ScriptedResolver

SEARXNG = {
    "query": "pancakes",
    "results": [
        {"title": "Pancakes", "url": "https://example.com/p", "content": "Flour, eggs."},
        {"title": "Crêpes", "url": "https://example.org/c", "content": "Thin ones."},
        {"title": "Waffles", "url": "https://example.net/w", "content": "Grid."},
    ],
}
BRAVE = {
    "web": {
        "results": [
            {"title": "Pancakes", "url": "https://example.com/p", "description": "Flour."},
            {"title": "Syrup", "url": "https://example.com/s", "description": "Maple."},
        ]
    }
}


def json_page(data: object, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return (status, {"Content-Type": "application/json"}, json.dumps(data).encode())


@pytest.fixture
async def provider() -> AsyncIterator[LoopbackSite]:
    site = LoopbackSite({"/search": json_page(SEARXNG), "/res/v1/web/search": json_page(BRAVE)})
    await site.start()
    yield site
    await site.stop()


def allowed_fetcher(site: LoopbackSite) -> PinnedFetcher:
    rules = WebRules(allowed_hosts=(f"127.0.0.1:{site.port}",), timeout_seconds=5)
    return PinnedFetcher(ScriptedResolver(), rules)


async def test_searxng_results_are_title_url_and_snippet(provider: LoopbackSite) -> None:
    search = SearxngSearch(allowed_fetcher(provider), provider.url)
    results = await search.search("pancakes & syrup", 2)
    assert results == [
        SearchResult("Pancakes", "https://example.com/p", "Flour, eggs."),
        SearchResult("Crêpes", "https://example.org/c", "Thin ones."),
    ]
    assert provider.requests == ["/search?q=pancakes+%26+syrup&format=json"]


async def test_brave_sends_its_key_and_maps_descriptions(provider: LoopbackSite) -> None:
    search = BraveSearch(allowed_fetcher(provider), provider.url, "brave-key-123")
    results = await search.search("pancakes", 5)
    assert [r.snippet for r in results] == ["Flour.", "Maple."]
    assert provider.requests == ["/res/v1/web/search?q=pancakes&count=5"]
    assert provider.headers[0]["X-Subscription-Token"] == "brave-key-123"


async def test_a_provider_inside_the_network_obeys_the_address_rules(
    provider: LoopbackSite,
) -> None:
    # Not in allowed_hosts: a SearXNG on loopback is refused like any fetch.
    search = SearxngSearch(PinnedFetcher(ScriptedResolver(), WebRules()), provider.url)
    with pytest.raises(AddressRefused):
        await search.search("x", 3)
    assert provider.requests == []


async def test_a_provider_error_is_a_tool_error_without_the_query(provider: LoopbackSite) -> None:
    provider.pages["/res/v1/web/search"] = json_page({"error": "bad key"}, status=401)
    search = BraveSearch(allowed_fetcher(provider), provider.url, "wrong")
    with pytest.raises(ToolError) as failed:
        await search.search("my private question", 3)
    assert "401" in str(failed.value) and "private question" not in str(failed.value)


async def test_the_web_search_tool_returns_fenced_results(provider: LoopbackSite) -> None:
    tools = WebTools(
        reader=None,
        search=SearxngSearch(allowed_fetcher(provider), provider.url),
        max_text_chars=1000,
        max_results=2,
    )
    registry = ToolRegistry(tools.tools())
    result = await registry.run(
        ToolCall("c1", "web_search", json.dumps({"query": "pancakes"})),
        ToolContext("test:1", ConversationKey("test", "1")),
    )
    head, body, tail = result.split("\n")
    assert head.startswith("<<untrusted data from web_search")
    assert tail == "<<end of untrusted data from web_search>>"
    data = json.loads(body)["result"]
    assert data["provider"] == "searxng"
    assert [r["title"] for r in data["results"]] == ["Pancakes", "Crêpes"]
