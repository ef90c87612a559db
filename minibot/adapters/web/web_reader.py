"""Reads a page for `fetch_url`: the pinned fetch, then its readable text."""

from __future__ import annotations

from minibot.adapters.web.html_text import html_to_text
from minibot.adapters.web.pinned_fetcher import PinnedFetcher
from minibot.core.web import FetchedBody, WebPage

_TEXT_TYPES = ("application/json", "application/xml", "application/javascript")


class PinnedWebReader:
    """The `WebReader` over a `PinnedFetcher`: HTML becomes its visible text, other text
    types are returned as they are, and anything else is named, not shown."""

    def __init__(self, fetcher: PinnedFetcher) -> None:
        self._fetcher = fetcher

    async def read(self, url: str) -> WebPage:
        fetched = await self._fetcher.get(url)
        title, text = readable(fetched)
        return WebPage(
            final_url=fetched.final_url,
            status=fetched.status,
            title=title,
            text=text,
            truncated=fetched.truncated,
            cap_bytes=self._fetcher.rules.max_response_bytes,
        )


def readable(fetched: FetchedBody) -> tuple[str, str]:
    kind = fetched.content_type.lower()
    decoded = fetched.body.decode(fetched.charset or "utf-8", errors="replace")
    if kind in ("text/html", "application/xhtml+xml"):
        return html_to_text(decoded)
    if kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith("+json"):
        return "", decoded
    return "", f"[{len(fetched.body)} bytes of {kind or 'unknown type'}, not shown as text]"
