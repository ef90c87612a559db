"""The parts of LLM-flavoured Markdown every channel's renderer reads (fences, headings,
bullets, quotes, inline marks); each renderer writes its platform's format from them."""

from __future__ import annotations

import re

FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+#.-]*)\s*$")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
# Code, links, bold (** or __), strikethrough, italics (* or _), tried in that order.
INLINE = re.compile(
    r"""
    (?P<tick>`+)(?P<code>.+?)(?P=tick)
    | \[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)
    | \*\*(?P<b1>(?=\S).+?(?<=\S))\*\*
    | (?<!\w)__(?P<b2>(?=\S).+?(?<=\S))__(?!\w)
    | ~~(?P<s>(?=\S).+?(?<=\S))~~
    | (?<![\w*])\*(?P<i1>(?=[^\s*]).*?(?<=[^\s*]))\*(?![\w*])
    | (?<![\w_])_(?P<i2>(?=[^\s_]).*?(?<=[^\s_]))_(?![\w_])
    """,
    re.VERBOSE,
)
