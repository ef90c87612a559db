"""Search providers for `web_search`: a self-hosted SearXNG, and the Brave Search API."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from minibot.adapters.web.pinned_fetcher import PinnedFetcher
from minibot.core.errors import ToolError
from minibot.core.web import SearchResult


class SearxngSearch:
    """SearXNG's JSON API (`/search?format=json`; the instance must enable the json
    format). Its URL goes through the same address rules as fetch_url: a SearXNG on
    the owner's network must be in `[tools.web] allowed_hosts`."""

    name = "searxng"

    def __init__(self, fetcher: PinnedFetcher, base_url: str) -> None:
        self._fetcher = fetcher
        self._base = base_url.rstrip("/")

    async def search(self, query: str, limit: int) -> list[SearchResult]:
        url = f"{self._base}/search?{urlencode({'q': query, 'format': 'json'})}"
        data = await _json(self._fetcher, url, {"Accept": "application/json"})
        results = data.get("results", [])
        return [
            SearchResult(str(r.get("title", "")), str(r.get("url", "")), str(r.get("content", "")))
            for r in results[:limit]
            if isinstance(r, dict)
        ]


class BraveSearch:
    """The Brave Search API (`/res/v1/web/search`, key in X-Subscription-Token)."""

    name = "brave"

    def __init__(self, fetcher: PinnedFetcher, base_url: str, api_key: str) -> None:
        self._fetcher = fetcher
        self._base = base_url.rstrip("/")
        self._key = api_key

    async def search(self, query: str, limit: int) -> list[SearchResult]:
        url = f"{self._base}/res/v1/web/search?{urlencode({'q': query, 'count': limit})}"
        headers = {"Accept": "application/json", "X-Subscription-Token": self._key}
        data = await _json(self._fetcher, url, headers)
        web = data.get("web", {})
        results = web.get("results", []) if isinstance(web, dict) else []
        return [
            SearchResult(
                str(r.get("title", "")), str(r.get("url", "")), str(r.get("description", ""))
            )
            for r in results[:limit]
            if isinstance(r, dict)
        ]


async def _json(fetcher: PinnedFetcher, url: str, headers: dict[str, str]) -> dict[str, Any]:
    fetched = await fetcher.get(url, headers=headers)
    if fetched.status != 200:
        # The URL is not repeated: a hosted API's query string is the user's query.
        raise ToolError(f"the search provider answered HTTP {fetched.status}")
    if fetched.truncated:
        raise ToolError("the search provider's answer passed the byte cap")
    try:
        data = json.loads(fetched.body)
    except ValueError:
        raise ToolError("the search provider did not answer with JSON") from None
    if not isinstance(data, dict):
        raise ToolError("the search provider's answer is not a JSON object")
    return data
