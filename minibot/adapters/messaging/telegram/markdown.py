"""LLM-flavoured Markdown to Telegram HTML, and splitting Markdown into sendable chunks."""

from __future__ import annotations

import html
import re

from minibot.shared.markdown_split import split_markdown
from minibot.shared.markdown_syntax import BULLET, FENCE, HEADING, INLINE, QUOTE

__all__ = ["MAX_MESSAGE_CHARS", "render_html", "split_markdown"]

MAX_MESSAGE_CHARS = 4096

_SAFE_URL = re.compile(r"^(https?://|tg://|mailto:)", re.IGNORECASE)


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def render_html(markdown: str) -> str:
    """Render Markdown as Telegram HTML: bold, italic, strikethrough, inline code, code
    blocks, links, headings (bold), bullets and quotes. Everything else is escaped, so
    the result always parses; unmatched markers stay literal text."""
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
            out.append(_code_block("\n".join(body), fence.group(2)))
            index += 1
            continue
        if QUOTE.match(line):
            quoted: list[str] = []
            while index < len(lines) and (match := QUOTE.match(lines[index])):
                quoted.append(render_inline(match.group(1)))
                index += 1
            out.append("<blockquote>" + "\n".join(quoted) + "</blockquote>")
            continue
        out.append(_render_line(line))
        index += 1
    return "\n".join(out)


def _closes(line: str, opener: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(opener[0] * 3) and set(stripped) == {opener[0]}


def _code_block(code: str, language: str) -> str:
    if language:
        return f'<pre><code class="language-{escape(language)}">{escape(code)}</code></pre>'
    return f"<pre>{escape(code)}</pre>"


def _render_line(line: str) -> str:
    if heading := HEADING.match(line):
        return f"<b>{render_inline(heading.group(1))}</b>"
    if bullet := BULLET.match(line):
        return f"{bullet.group(1)}• {render_inline(bullet.group(2))}"
    return render_inline(line)


def render_inline(text: str) -> str:
    """Inline Markdown to HTML. Each match's inside is rendered on its own, so tags
    always nest properly."""
    out: list[str] = []
    pos = 0
    for match in INLINE.finditer(text):
        out.append(escape(text[pos : match.start()]))
        out.append(_inline_tag(match))
        pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def _inline_tag(match: re.Match[str]) -> str:
    groups = match.groupdict()
    if groups["code"] is not None:
        return f"<code>{escape(groups['code'])}</code>"
    if groups["label"] is not None:
        url = groups["url"]
        if not _SAFE_URL.match(url):
            return escape(match.group(0))
        return f'<a href="{html.escape(url, quote=True)}">{render_inline(groups["label"])}</a>'
    for name, tag in (("b1", "b"), ("b2", "b"), ("s", "s"), ("i1", "i"), ("i2", "i")):
        if groups[name] is not None:
            return f"<{tag}>{render_inline(groups[name])}</{tag}>"
    return escape(match.group(0))
