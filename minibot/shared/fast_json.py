"""JSON through orjson where it can, the standard library where orjson cannot.

orjson is several times faster, but narrower. It refuses a lone UTF-16 surrogate
(`"\\ud800"`, which Telegram can send) and, worse, reads an integer past 64 bits as a
float without a word, so an id of 2**64 would come back rounded. Text from outside (an
update, an API answer) must load exactly and dump to text that any store can encode, so
each call falls back to `json` when orjson would fail or be inexact.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Every ASCII digit to "0" and every other byte to a space: a run of 19 zeros then marks
# a number that may not fit in 64 bits (2**63 has 19 digits), found at the speed of a copy.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"0" * 19
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(text: str | bytes) -> Any:
    if _may_hold_a_big_int(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (like `ensure_ascii=False`), except lone
    surrogates, written as `\\u` escapes: the text then encodes as UTF-8 and reads back
    to the same value."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return _LONE_SURROGATE.sub(_escape, text)


def _may_hold_a_big_int(text: str | bytes) -> bool:
    # A lone surrogate cannot be encoded strictly; it is only looked past here.
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    # Digits inside strings count too: a false alarm only costs the slower parser.
    return _LONG_NUMBER in data.translate(_DIGITS_AS_ZEROS)


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"
