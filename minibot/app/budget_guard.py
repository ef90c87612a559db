"""Checks each request's estimated cost against the owner's budgets before it is made."""

from __future__ import annotations

from collections.abc import Sequence

from minibot.core.budgets import (
    BudgetLimits,
    BudgetPolicy,
    Spending,
    day_start,
    find_breach,
    month_start,
    next_day,
    next_month,
)
from minibot.core.conversation import ChatMessage
from minibot.core.errors import BudgetExceeded
from minibot.core.ports.clock import Clock
from minibot.core.ports.usage_ledger import UsageLedger
from minibot.core.prices import Price
from minibot.core.tokens import message_tokens


class BudgetGuard:
    """Estimates a request from its prompt (token estimate), the answer's cap
    (`completion_tokens`) and the model's price, and refuses it with `BudgetExceeded`
    when that would cross the owner's daily, monthly or per-run limit. What was spent is
    the usage ledger's cost summed over every kind of row, plus what the current turn has
    spent and not yet written."""

    def __init__(
        self,
        *,
        usage: UsageLedger,
        policy: BudgetPolicy,
        clock: Clock,
        completion_tokens: int,
    ) -> None:
        self._usage = usage
        self._policy = policy
        self._clock = clock
        self._completion_tokens = completion_tokens

    @property
    def enabled(self) -> bool:
        return self._policy.enabled

    def limits_for(self, owner_id: str) -> BudgetLimits | None:
        return self._policy.limits_for(owner_id)

    def estimate_usd(self, price: Price, messages: Sequence[ChatMessage]) -> float:
        prompt = sum(message_tokens(m) for m in messages)
        return price.cost_usd(prompt, self._completion_tokens)

    async def check(
        self,
        owner_id: str,
        price: Price,
        messages: Sequence[ChatMessage],
        *,
        unrecorded_usd: float = 0.0,
        in_run: bool = False,
    ) -> None:
        """Raises `BudgetExceeded` when this LLM request may not be made."""
        estimate = self.estimate_usd(price, messages)
        await self.check_usd(owner_id, estimate, unrecorded_usd=unrecorded_usd, in_run=in_run)

    async def check_usd(
        self,
        owner_id: str,
        estimate_usd: float,
        *,
        unrecorded_usd: float = 0.0,
        in_run: bool = False,
    ) -> None:
        """Raises `BudgetExceeded` when a call estimated at `estimate_usd` (an LLM request,
        a transcription, speech, an image) would cross a limit; returns otherwise.
        `unrecorded_usd`: spent by the caller and not yet in the ledger."""
        limits = self._policy.limits_for(owner_id)
        if limits is None:
            return
        now = self._clock.now()
        today = month = 0.0
        if limits.daily_usd is not None:
            today = (await self._usage.totals(owner_id, since=day_start(now))).cost_usd
        if limits.monthly_usd is not None:
            month = (await self._usage.totals(owner_id, since=month_start(now))).cost_usd
        spending = Spending(
            today + unrecorded_usd,
            month + unrecorded_usd,
            unrecorded_usd if in_run else None,
        )
        breach = find_breach(limits, spending, estimate_usd, now)
        if breach is not None:
            raise BudgetExceeded(breach)

    async def status_lines(self, owner_id: str) -> list[str]:
        """What `/usage` shows of the owner's budgets: each limit, what is left, the reset."""
        limits = self._policy.limits_for(owner_id)
        if limits is None:
            return ["Budgets: none apply to you."] if self._policy.enabled else []
        now = self._clock.now()
        lines = ["Budgets:"]
        if limits.daily_usd is not None:
            spent = (await self._usage.totals(owner_id, since=day_start(now))).cost_usd
            lines.append(_line("daily", limits.daily_usd, spent, f"{next_day(now):%Y-%m-%d %H:%M}"))
        if limits.monthly_usd is not None:
            spent = (await self._usage.totals(owner_id, since=month_start(now))).cost_usd
            reset = f"{next_month(now):%Y-%m-%d}"
            lines.append(_line("monthly", limits.monthly_usd, spent, reset))
        if limits.per_run_usd is not None:
            lines.append(f"per scheduled run: ${limits.per_run_usd:.2f}")
        return lines


def _line(period: str, limit: float, spent: float, resets: str) -> str:
    left = max(0.0, limit - spent)
    return f"{period}: ${spent:.4f} of ${limit:.2f} spent, ${left:.4f} left (resets {resets} UTC)"
