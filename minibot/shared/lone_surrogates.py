"""Lone UTF-16 surrogates in text, replaced so the text can be encoded and sent anywhere.

Telegram may hand over half of a UTF-16 pair (`"\\ud800"` in its JSON), and a model may
echo it back. It is not a character: no encoder, database or HTTP body takes it. The raw
update keeps it exactly (see `fast_json`); the text people and models read gets U+FFFD,
the replacement character, in its place.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def without_lone_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced; the same object when there is none."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    # A pair left split in a Python string is joined first: it is one character.
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _SURROGATE.sub(REPLACEMENT, joined)
