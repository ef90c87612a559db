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


@pytest.mark.parametrize("number", [2**64, 2**64 + 1, 10**30 + 7, -(2**63) - 1, -(10**25) - 3])
def test_integers_past_64_bits_load_exactly(number: int) -> None:
    # orjson reads these as floats without a word: 2**64 + 1 would come back as 2**64.
    for text in (f'{{"update_id":{number}}}', f'{{"update_id":{number}}}'.encode()):
        loaded = fast_json.loads(text)["update_id"]

        assert type(loaded) is int
        assert loaded == number


def test_a_lone_surrogate_round_trips_through_text_any_store_can_encode() -> None:
    # Telegram can send "\ud800" (half of a UTF-16 pair) escaped in its JSON.
    value = fast_json.loads('{"text":"a\\ud800b\\udfffc \\ud83d\\ude00"}')
    assert value == {"text": "a\ud800b\udfffc \U0001f600"}

    text = fast_json.dumps(value)

    text.encode("utf-8")  # strict: what SQLite and PostgreSQL need
    assert fast_json.loads(text) == value
