"""JSON through orjson where it can, the standard library where orjson refuses.

orjson is several times faster, but narrower: integers past 64 bits, for one, are
refused. Text from outside (an update, an API answer) must never fail to load or dump
only because of that, so each call falls back to `json`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (like `ensure_ascii=False`)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
