"""HTML to readable text with Beautiful Soup (imported when the first page is read)."""

from __future__ import annotations

import re

_DROPPED = ("script", "style", "noscript", "template", "svg", "iframe", "head", "title")
_BLANKS = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"[ \t\f\v\r]+")


def html_to_text(html: str) -> tuple[str, str]:
    """The page's title and its visible text, one block per line."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROPPED):
        tag.decompose()
    text = soup.get_text("\n")
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return title, _BLANKS.sub("\n\n", "\n".join(line for line in lines if line)).strip()
