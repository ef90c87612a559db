"""fast_json: the same JSON as the standard library, also where orjson refuses."""

from __future__ import annotations

import json

import pytest

from minibot.shared import fast_json


@pytest.mark.parametrize(
    "value",
    [
        {"update_id": 1, "message": {"text": "héllo ✓", "chat": {"id": -100123}}},
        [1, 2.5, None, True, "x"],
        {"big": 2**70, "negative": -(2**65)},  # past 64 bits: orjson refuses these
    ],
)
def test_dumps_and_loads_agree_with_the_standard_library(value: object) -> None:
    text = fast_json.dumps(value)

    assert text == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert fast_json.loads(text) == value
    assert fast_json.loads(text.encode()) == value


def test_invalid_json_is_still_an_error() -> None:
    with pytest.raises(ValueError):
        fast_json.loads("{not json")
