"""Splitting Markdown into chunks a messaging platform takes, code blocks kept whole in each."""

from __future__ import annotations

import re
from collections.abc import Callable

from minibot.shared.text_split import split_text, utf16_length

_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+#.-]*)\s*$")
# Room kept free in each chunk for the fence lines added when a code block is cut.
_FENCE_RESERVE = 48


def split_markdown(
    markdown: str, limit: int = 4096, *, measure: Callable[[str], int] = utf16_length
) -> list[str]:
    """Split Markdown source into chunks that each render on their own within `limit`
    characters (`measure`: UTF-16 units by default, as Telegram counts). A code block cut
    in two is closed at the end of one chunk and reopened, with its language, at the
    start of the next."""
    if measure(markdown) <= limit:
        return [markdown] if markdown.strip() else []
    pieces = split_text(markdown, max(limit - _FENCE_RESERVE, 1), measure=measure)
    chunks: list[str] = []
    open_fence: tuple[str, str] | None = None
    for piece in pieces:
        if open_fence is not None:
            piece = f"{open_fence[0]}{open_fence[1]}\n{piece}"
        open_fence = _fence_open_at_end(piece)
        if open_fence is not None:
            piece = f"{piece}\n{open_fence[0]}"
        chunks.append(piece)
    return chunks


def _fence_open_at_end(markdown: str) -> tuple[str, str] | None:
    """The (marker, language) of a code block still open at the end of `markdown`."""
    open_fence: tuple[str, str] | None = None
    for line in markdown.split("\n"):
        if open_fence is None:
            if match := _FENCE.match(line):
                open_fence = (match.group(1), match.group(2))
        elif _closes(line, open_fence[0]):
            open_fence = None
    return open_fence


def _closes(line: str, opener: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(opener[0] * 3) and set(stripped) == {opener[0]}
