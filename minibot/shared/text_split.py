"""Split text into chunks under a length limit at paragraph, line, then word boundaries."""

from __future__ import annotations

from collections.abc import Callable

Measure = Callable[[str], int]


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts its limits in."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, *, measure: Measure = len) -> list[str]:
    """Cut `text` into chunks each at most `limit` long (by `measure`, which must add up
    over characters). Cuts prefer the last paragraph break inside the limit, then the last
    line break, then the last space; a word longer than the limit is cut where it must.
    The whitespace at a cut is dropped; blank chunks are left out."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    chunks: list[str] = []
    rest = text
    while rest and measure(rest) > limit:
        window = rest[: _fit(rest, limit, measure)]
        cut, skip = _cut(window)
        chunk = rest[:cut].rstrip()
        if chunk:
            chunks.append(chunk)
        rest = _drop_separator(rest[cut:], skip)
    if rest.strip():
        chunks.append(rest.rstrip())
    return chunks


def _fit(text: str, limit: int, measure: Measure) -> int:
    """The length of the longest prefix of `text` that measures at most `limit`."""
    if measure is len:
        return limit
    used = 0
    for index, char in enumerate(text):
        used += measure(char)
        if used > limit:
            return max(index, 1)
    return len(text)


def _cut(window: str) -> tuple[int, str]:
    """Where to cut inside `window`, and which separator characters to drop after it."""
    # A boundary in the first third would make a tiny chunk: prefer a weaker boundary
    # further on, and only then accept an early one.
    for floor in (len(window) // 3, 1):
        for separator, drop in (("\n\n", "\n"), ("\n", "\n"), (" ", " ")):
            at = window.rfind(separator)
            if at >= floor and window[:at].strip():
                return at, drop
    return len(window), ""


def _drop_separator(rest: str, separator: str) -> str:
    if separator == " ":
        return rest.lstrip(" ")
    if separator == "\n":
        # Drop the line breaks and blank lines at the cut, but keep the next line's
        # indentation, which may carry meaning (code, nested lists).
        stripped = rest.lstrip(" \t\n")
        lead = rest[: len(rest) - len(stripped)]
        return lead[lead.rfind("\n") + 1 :] + stripped
    return rest
