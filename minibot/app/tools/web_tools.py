"""The web tools: `fetch_url` (a page as text) and `web_search` (title, URL, snippet)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.app.tools.registry import Tool, ToolAccess, ToolContext, object_spec
from minibot.core.ports.web_reader import SearchProvider, WebReader
from minibot.core.tool_permissions import PermissionLevel

MAX_URL_CHARS = 2000
MAX_QUERY_CHARS = 400


class WebTools:
    """Both tools read the outside world and change nothing: `allow` by default. Their
    output is untrusted: it is fenced as data, and makes later calls with side effects
    in the turn wait for the owner."""

    def __init__(
        self,
        *,
        reader: WebReader | None,
        search: SearchProvider | None,
        max_text_chars: int,
        max_results: int = 5,
        timeout_seconds: float | None = None,
    ) -> None:
        self._reader = reader
        self._search = search
        self._max_text_chars = max_text_chars
        self._max_results = max_results
        # The fetcher ends a fetch at its own time cap; this is a margin above it.
        self._timeout_seconds = timeout_seconds

    def tools(self) -> list[Tool]:
        tools: list[Tool] = []
        if self._reader is not None:
            tools.append(
                Tool(
                    object_spec(
                        "fetch_url",
                        "Fetch a public web page (http or https) and return its title, final "
                        "URL and readable text. Addresses inside private networks are refused.",
                        {"url": {"type": "string", "minLength": 1, "maxLength": MAX_URL_CHARS}},
                        ["url"],
                    ),
                    self.fetch_url,
                    ToolAccess.PUBLIC,
                    PermissionLevel.ALLOW,
                    untrusted_output=True,
                    timeout_seconds=self._timeout_seconds,
                )
            )
        if self._search is not None:
            limit = {"type": "integer", "minimum": 1, "maximum": self._max_results}
            tools.append(
                Tool(
                    object_spec(
                        "web_search",
                        "Search the web; returns results as title, URL and snippet.",
                        {
                            "query": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": MAX_QUERY_CHARS,
                            },
                            "limit": limit,
                        },
                        ["query"],
                    ),
                    self.web_search,
                    ToolAccess.PUBLIC,
                    PermissionLevel.ALLOW,
                    untrusted_output=True,
                    timeout_seconds=self._timeout_seconds,
                )
            )
        return tools

    async def fetch_url(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        assert self._reader is not None
        page = await self._reader.read(args["url"])
        text = page.text
        result: dict[str, Any] = {
            "final_url": page.final_url,
            "status": page.status,
            "title": page.title,
        }
        notes = []
        if page.truncated:
            notes.append(f"the page passed the {page.cap_bytes}-byte cap; only its start was read")
        if len(text) > self._max_text_chars:
            notes.append(
                f"the text was {len(text)} characters; only the first "
                f"{self._max_text_chars} are shown"
            )
            text = text[: self._max_text_chars]
        result["text"] = text
        if notes:
            result["truncated"] = "; ".join(notes)
        return result

    async def web_search(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        assert self._search is not None
        limit = min(args.get("limit", self._max_results), self._max_results)
        results = await self._search.search(args["query"], limit)
        return {
            "provider": self._search.name,
            "results": [{"title": r.title, "url": r.url, "snippet": r.snippet} for r in results],
        }
