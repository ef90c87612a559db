"""Budget rules: which limits apply, when a request crosses one, when each resets; prices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from minibot.core.budgets import (
    BudgetLimits,
    BudgetPolicy,
    Spending,
    breach_text,
    find_breach,
    next_day,
    next_month,
)
from minibot.core.conversation import ChatMessage, Role
from minibot.core.history_window import split_overflow
from minibot.core.prices import Price, PriceList

NOW = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)


def test_reaching_a_limit_exactly_is_allowed_crossing_it_is_not() -> None:
    limits = BudgetLimits(daily_usd=1.0)
    assert find_breach(limits, Spending(0.75, 0.75), 0.25, NOW) is None
    breach = find_breach(limits, Spending(0.75, 0.75), 0.26, NOW)
    assert breach is not None and breach.period == "daily"
    assert breach.resets_at == datetime(2027, 1, 1, tzinfo=UTC)


def test_the_month_resets_on_the_first_and_across_the_year() -> None:
    assert next_month(NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_month(datetime(2026, 2, 14, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)
    assert next_day(datetime(2026, 2, 28, 23, 59, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_the_per_run_limit_counts_only_inside_a_run() -> None:
    limits = BudgetLimits(per_run_usd=0.01)
    assert find_breach(limits, Spending(5.0, 5.0, None), 1.0, NOW) is None
    breach = find_breach(limits, Spending(0.0, 0.0, 0.0), 0.02, NOW)
    assert breach is not None and breach.period == "per-run" and breach.resets_at is None
    assert "next run starts afresh" in breach_text(breach)


def test_owners_have_their_own_limits_and_exempt_owners_none() -> None:
    policy = BudgetPolicy(
        BudgetLimits(daily_usd=1.0),
        {"boss": BudgetLimits(daily_usd=10.0)},
        frozenset({"root"}),
    )
    assert policy.limits_for("anyone") == BudgetLimits(daily_usd=1.0)
    assert policy.limits_for("boss") == BudgetLimits(daily_usd=10.0)
    assert policy.limits_for("root") is None
    assert not BudgetPolicy().enabled


def test_an_unpriced_model_costs_as_much_as_the_dearest_known() -> None:
    prices = PriceList({"small": Price(0.1, 0.2), "big": Price(5.0, 15.0)})
    assert prices.cost_usd("mystery", 1_000_000, 1_000_000) == pytest.approx(20.0)
    assert prices.cost_usd("small", 1_000_000, 0) == pytest.approx(0.1)
    assert PriceList({}).cost_usd("mystery", 10, 10) == 0.0


def test_the_overflow_is_what_no_summary_covers_in_front_of_the_window() -> None:
    stored = [
        ChatMessage(role, f"m{n}", token_estimate=10, meta={"message_id": str(n)})
        for n, role in enumerate([Role.USER, Role.ASSISTANT] * 3, start=1)
    ]
    older, window = split_overflow(stored, summarized_through_id=0, max_messages=10, max_tokens=20)
    assert [m.content for m in window] == ["m5", "m6"]
    assert [m.content for m in older] == ["m1", "m2", "m3", "m4"]
    older, _ = split_overflow(stored, summarized_through_id=2, max_messages=10, max_tokens=20)
    assert [m.content for m in older] == ["m3", "m4"], "what a summary covers is not re-read"


def test_a_dated_model_name_is_priced_as_the_name_it_extends() -> None:
    prices = PriceList({"gpt-4o": Price(2.5, 10.0), "gpt-4o-mini": Price(0.15, 0.6)})
    assert prices.price("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6)
    assert prices.price("gpt-4o-2024-08-06") == Price(2.5, 10.0)
    assert prices.known("gpt-4o-mini-2024-07-18") and not prices.known("gpt-4omni")
