"""LLM-flavoured Markdown to Slack mrkdwn, and the split into chunks Slack takes."""

from __future__ import annotations

import re

from minibot.shared.markdown_split import split_markdown
from minibot.shared.markdown_syntax import BULLET, FENCE, HEADING, INLINE, QUOTE

_SAFE_URL = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)


def split(markdown: str, limit: int) -> list[str]:
    """Chunks of at most `limit` characters on paragraph, line and word boundaries."""
    return split_markdown(markdown, limit, measure=len)


def escape(text: str) -> str:
    """Slack reads `&`, `<` and `>` as its own markup: everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_mrkdwn(markdown: str) -> str:
    """Markdown as Slack mrkdwn: bold, italics, strikethrough, code, code blocks, links,
    headings (bold), bullets and quotes; anything else escaped, so Slack shows it as
    written."""
    out: list[str] = []
    lines = markdown.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if fence:
            body: list[str] = []
            index += 1
            while index < len(lines) and not _closes(lines[index], fence.group(1)):
                body.append(lines[index])
                index += 1
            out.append("```\n" + escape("\n".join(body)) + "\n```")
            index += 1
            continue
        if quote := QUOTE.match(line):
            out.append("> " + render_inline(quote.group(1)))
        elif heading := HEADING.match(line):
            out.append(f"*{render_inline(heading.group(1))}*")
        elif bullet := BULLET.match(line):
            out.append(f"{bullet.group(1)}• {render_inline(bullet.group(2))}")
        else:
            out.append(render_inline(line))
        index += 1
    return "\n".join(out)


def _closes(line: str, opener: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(opener[0] * 3) and set(stripped) == {opener[0]}


def render_inline(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in INLINE.finditer(text):
        out.append(escape(text[pos : match.start()]))
        out.append(_inline(match))
        pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def _inline(match: re.Match[str]) -> str:
    groups = match.groupdict()
    if groups["code"] is not None:
        return f"`{escape(groups['code'])}`"
    if groups["label"] is not None:
        url = groups["url"]
        if not _SAFE_URL.match(url) or "|" in url:
            return escape(match.group(0))
        return f"<{escape(url)}|{escape(groups['label'])}>"
    for name, mark in (("b1", "*"), ("b2", "*"), ("s", "~"), ("i1", "_"), ("i2", "_")):
        if groups[name] is not None:
            return f"{mark}{render_inline(groups[name])}{mark}"
    return escape(match.group(0))
