"""What web tools return: a fetched page as text, a search result."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WebRules:
    """Where a fetch may go and how much it may take (`[tools.web]`)."""

    allowed_hosts: tuple[str, ...] = ()
    blocked_hosts: tuple[str, ...] = ()
    max_response_bytes: int = 2_000_000
    timeout_seconds: float = 15.0
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class FetchedBody:
    """The raw answer of the last hop. `truncated`: the body passed the byte cap."""

    final_url: str
    status: int
    content_type: str
    body: bytes
    truncated: bool
    charset: str | None = None


@dataclass(frozen=True, slots=True)
class WebPage:
    """A page as readable text; `truncated` says the byte cap (in `cap_bytes`) cut it."""

    final_url: str
    status: int
    title: str
    text: str
    truncated: bool
    cap_bytes: int


@dataclass(frozen=True, slots=True)
class SearchResult:
    title: str
    url: str
    snippet: str
