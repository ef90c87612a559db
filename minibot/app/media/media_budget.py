"""Checks a transcription, speech or image request against the owner's budgets first."""

from __future__ import annotations

from collections.abc import Mapping

from minibot.app.budget_guard import BudgetGuard
from minibot.app.media.media_usage import QuantityPrice
from minibot.core.usage import UsageKind


class MediaBudget:
    """Estimates a media request before it is made, at the price it will be recorded
    at: a recording by the length the platform reported, speech by its text's length,
    an image at one image's price. `check` raises `BudgetExceeded` when the request
    would cross one of the owner's limits (none for the owner: never). Made only when
    budgets are on. `models` names the model each kind of request goes to."""

    def __init__(
        self,
        guard: BudgetGuard,
        price: QuantityPrice,
        models: Mapping[UsageKind, str],
    ) -> None:
        self._guard = guard
        self._price = price
        self._models = models

    async def check(self, owner_id: str, kind: UsageKind, quantity: float) -> None:
        estimate = self._price(self._models.get(kind, ""), kind, quantity)
        await self._guard.check_usd(owner_id, estimate)
