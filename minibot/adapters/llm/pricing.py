"""The price list of the configured models, and what one LLM request cost in US dollars."""

from __future__ import annotations

from collections.abc import Mapping

from minibot.adapters.config.schema import LLMSettings, ModelPrice
from minibot.core.llm import TokenUsage
from minibot.core.prices import Price, PriceList
from minibot.core.usage import UsageKind


def price_list(llm: LLMSettings) -> PriceList:
    """Prices by model name: `[llm] prices`, and each `[llm.models.<alias>]` that sets
    both of its prices."""
    prices = {
        model: Price(p.prompt_per_million, p.completion_per_million)
        for model, p in llm.prices.items()
    }
    for named in llm.models.values():
        if named.prompt_per_million is not None and named.completion_per_million is not None:
            prices[named.model] = Price(named.prompt_per_million, named.completion_per_million)
    return PriceList(prices)


def cost_usd(prices: Mapping[str, ModelPrice], model: str, usage: TokenUsage) -> float:
    """Prices are per million tokens; a model missing from the list costs as much as the
    most expensive one listed (nothing only when the list is empty)."""
    listed = {m: Price(p.prompt_per_million, p.completion_per_million) for m, p in prices.items()}
    return PriceList(listed).cost_usd(model, usage.prompt_tokens, usage.completion_tokens)


def quantity_cost_usd(
    prices: Mapping[str, ModelPrice], model: str, kind: UsageKind, quantity: float
) -> float:
    """An image costs `per_image`; transcription and speech `per_minute` of audio
    (`quantity` in seconds). A model missing from the list costs as much as the dearest
    one listed for that kind (nothing only when none is), never silently nothing."""
    price = prices.get(model)
    if kind is UsageKind.IMAGE:
        per_image = (
            price.per_image if price else max((p.per_image for p in prices.values()), default=0.0)
        )
        return quantity * per_image
    per_minute = (
        price.per_minute if price else max((p.per_minute for p in prices.values()), default=0.0)
    )
    return quantity / 60 * per_minute
