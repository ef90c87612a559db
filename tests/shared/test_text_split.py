"""Splitting text at a limit on paragraph, line, then word boundaries."""

from __future__ import annotations

import random
import re

import pytest

from minibot.shared.text_split import split_text, utf16_length

pytestmark = pytest.mark.timeout(10)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_short_text_is_one_chunk() -> None:
    assert split_text("hello", 10) == ["hello"]


def test_blank_text_gives_no_chunks() -> None:
    assert split_text("  \n\n ", 10) == []


def test_paragraph_breaks_are_preferred() -> None:
    text = "first paragraph here\nstill first\n\nsecond paragraph"
    assert split_text(text, 40) == ["first paragraph here\nstill first", "second paragraph"]


def test_lines_come_before_words() -> None:
    assert split_text("one two three\nfour five six", 20) == ["one two three", "four five six"]


def test_words_come_before_a_hard_cut() -> None:
    assert split_text("alpha beta gamma delta", 11) == ["alpha beta", "gamma delta"]


def test_a_word_longer_than_the_limit_is_cut() -> None:
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_an_early_paragraph_break_does_not_make_a_tiny_chunk() -> None:
    text = "Hi.\n\n" + "word " * 30
    first = split_text(text, 60)[0]
    assert len(first) > 30


def test_indentation_of_the_next_line_is_kept() -> None:
    chunks = split_text("def f():\n    return 1\n    pass", 22)
    assert chunks[1].startswith("    ")


def test_emoji_count_double_in_utf16() -> None:
    chunks = split_text("😀" * 10, 8, measure=utf16_length)
    assert chunks == ["😀" * 4, "😀" * 4, "😀" * 2]


@pytest.mark.parametrize("seed", range(20))
def test_random_texts_keep_every_word_and_respect_the_limit(seed: int) -> None:
    rng = random.Random(seed)
    words = ["a", "bb", "ccc", "dddd", "\n", "\n\n", "longer-word", "x" * 70]
    text = " ".join(rng.choice(words) for _ in range(400))
    limit = rng.randint(20, 200)
    chunks = split_text(text, limit)
    assert all(0 < len(chunk) <= limit for chunk in chunks)
    rejoined = "".join(squeeze(c).replace(" ", "") for c in chunks)
    assert rejoined == squeeze(text).replace(" ", "")
