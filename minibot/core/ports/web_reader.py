"""Port: a web page as readable text, fetched under the address rules."""

from __future__ import annotations

from typing import Protocol

from minibot.core.web import SearchResult, WebPage


class WebReader(Protocol):
    """`read` GETs `url` and returns its readable text. It raises AddressRefused, without
    connecting, for a URL (or a redirect) that leads anywhere the address rules forbid,
    and ToolError for a network failure or a cap passed (time, redirects); a body past
    the byte cap is cut and marked `truncated`, never an error."""

    async def read(self, url: str) -> WebPage: ...


class SearchProvider(Protocol):
    """`search` returns at most `limit` results, best first; ToolError when the provider
    fails or refuses."""

    name: str

    async def search(self, query: str, limit: int) -> list[SearchResult]: ...
