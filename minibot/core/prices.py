"""What a model's tokens cost, and how an unpriced model is counted: never as free."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    prompt_per_million: float
    completion_per_million: float

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.prompt_per_million
            + completion_tokens * self.completion_per_million
        ) / 1_000_000


FREE = Price(0.0, 0.0)


class PriceList:
    """Prices by model name; a dated name the provider answers with is priced as the
    name it extends. A model missing from the list is priced as the most expensive
    known one (free only when no price is known at all), so a budget is never spent by a
    model nobody priced."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)
        self._dearest = max(
            self._prices.values(),
            key=lambda p: p.prompt_per_million + p.completion_per_million,
            default=FREE,
        )

    def known(self, model: str) -> bool:
        return self._find(model) is not None

    def price(self, model: str) -> Price:
        return self._find(model) or self._dearest

    def _find(self, model: str) -> Price | None:
        found = self._prices.get(model)
        if found is not None:
            return found
        # Providers answer with a dated name ("gpt-4o-mini-2024-07-18" for "gpt-4o-mini"):
        # the longest listed name it extends is its price.
        extended = [name for name in self._prices if model.startswith(f"{name}-")]
        return self._prices[max(extended, key=len)] if extended else None

    def cost_usd(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        return self.price(model).cost_usd(prompt_tokens, completion_tokens)
