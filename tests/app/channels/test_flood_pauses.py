"""The rule that turns 429s into pauses of a chat or of the whole bot."""

from __future__ import annotations

from minibot.app.channels.flood_pauses import FloodPauses


def test_a_429_pauses_only_its_chat() -> None:
    pauses = FloodPauses()
    assert not pauses.limited("1", 3, now=100.0)
    assert pauses.resume_at("1") == 103.0
    assert pauses.resume_at("2") == 0.0


def test_a_later_429_lengthens_a_pause_and_never_shortens_it() -> None:
    pauses = FloodPauses()
    pauses.limited("1", 30, now=100.0)
    pauses.limited("1", 1, now=100.5)
    assert pauses.resume_at("1") == 130.0


def test_429s_in_three_chats_within_a_second_pause_every_chat() -> None:
    pauses = FloodPauses()
    assert not pauses.limited("1", 2, now=100.0)
    assert not pauses.limited("2", 3, now=100.4)
    assert pauses.limited("3", 1, now=100.9)
    assert pauses.resume_at("4") == 101.9
    assert pauses.resume_at("2") == 103.4, "a chat's own longer pause still holds"


def test_429s_in_three_chats_spread_out_stay_per_chat() -> None:
    pauses = FloodPauses()
    pauses.limited("1", 1, now=100.0)
    pauses.limited("2", 1, now=101.5)
    assert not pauses.limited("3", 1, now=103.0)
    assert pauses.resume_at("4") == 0.0


def test_a_429_for_a_call_without_a_chat_pauses_every_chat() -> None:
    pauses = FloodPauses()
    assert pauses.limited("", 5, now=100.0)
    assert pauses.resume_at("7") == 105.0
