"""Spending limits: which apply to an owner, and whether a request's estimate crosses one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """US dollars; None: no limit of that kind."""

    daily_usd: float | None = None
    monthly_usd: float | None = None
    per_run_usd: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.daily_usd, self.monthly_usd, self.per_run_usd))


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """The default limits, owners' own daily/monthly limits in their place, and owners
    no limit applies to."""

    default: BudgetLimits = BudgetLimits()
    owners: Mapping[str, BudgetLimits] = field(default_factory=dict)
    exempt: frozenset[str] = frozenset()

    @property
    def enabled(self) -> bool:
        return self.default.any or any(limits.any for limits in self.owners.values())

    def limits_for(self, owner_id: str) -> BudgetLimits | None:
        """None when nothing limits this owner."""
        if owner_id in self.exempt:
            return None
        limits = self.owners.get(owner_id, self.default)
        return limits if limits.any else None


@dataclass(frozen=True, slots=True)
class Spending:
    """What an owner spent in the current UTC day and month, and in the current run
    (None outside a scheduled run)."""

    today_usd: float
    month_usd: float
    run_usd: float | None = None


@dataclass(frozen=True, slots=True)
class BudgetBreach:
    period: str  # "daily", "monthly" or "per-run"
    spent_usd: float
    limit_usd: float
    estimate_usd: float
    resets_at: datetime | None  # None for a run's budget: the next run starts afresh


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def next_day(now: datetime) -> datetime:
    return day_start(now) + timedelta(days=1)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def find_breach(
    limits: BudgetLimits, spending: Spending, estimate_usd: float, now: datetime
) -> BudgetBreach | None:
    """The first limit that `estimate_usd` more would cross (run, day, month), or None.
    Reaching a limit exactly is allowed; crossing it is not."""
    checks: list[tuple[str, float | None, float | None, datetime | None]] = [
        ("per-run", limits.per_run_usd, spending.run_usd, None),
        ("daily", limits.daily_usd, spending.today_usd, next_day(now)),
        ("monthly", limits.monthly_usd, spending.month_usd, next_month(now)),
    ]
    for period, limit, spent, resets_at in checks:
        if limit is None or spent is None:
            continue
        if spent + estimate_usd > limit:
            return BudgetBreach(period, spent, limit, estimate_usd, resets_at)
    return None


def breach_text(breach: BudgetBreach) -> str:
    """The one message a person gets when a request is not made."""
    when = (
        f"it resets {breach.resets_at:%Y-%m-%d %H:%M} UTC"
        if breach.resets_at is not None
        else "the next run starts afresh"
    )
    return (
        f"Budget reached: your {breach.period} limit is ${breach.limit_usd:.2f} and "
        f"${breach.spent_usd:.4f} is spent (this request would cost about "
        f"${breach.estimate_usd:.4f}); {when}. I did not ask the model."
    )
