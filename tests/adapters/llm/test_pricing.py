"""Cost of a request from the configured per-million-token prices."""

from __future__ import annotations

import pytest

from minibot.adapters.config.schema import ModelPrice
from minibot.adapters.llm import cost_usd
from minibot.core.llm import TokenUsage

PRICES = {"gpt-4o-mini": ModelPrice(prompt_per_million=0.15, completion_per_million=0.60)}


def test_cost_sums_prompt_and_completion_prices() -> None:
    usage = TokenUsage(prompt_tokens=1_000_000, completion_tokens=500_000)
    assert cost_usd(PRICES, "gpt-4o-mini", usage) == pytest.approx(0.15 + 0.30)


def test_small_requests_cost_fractions_of_a_cent() -> None:
    usage = TokenUsage(prompt_tokens=1000, completion_tokens=100)
    assert cost_usd(PRICES, "gpt-4o-mini", usage) == pytest.approx(0.000150 + 0.000060)


def test_an_unknown_model_costs_as_much_as_the_dearest_known_one() -> None:
    prices = {**PRICES, "big": ModelPrice(prompt_per_million=10.0, completion_per_million=30.0)}
    usage = TokenUsage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    assert cost_usd(prices, "llama3", usage) == pytest.approx(40.0)


def test_with_no_prices_at_all_nothing_costs() -> None:
    assert cost_usd({}, "llama3", TokenUsage(10, 10)) == 0.0
