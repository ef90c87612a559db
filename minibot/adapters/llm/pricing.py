"""What one LLM request cost in US dollars, from the configured price list."""

from __future__ import annotations

from collections.abc import Mapping

from minibot.adapters.config.schema import ModelPrice
from minibot.core.llm import TokenUsage
from minibot.core.usage import UsageKind


def cost_usd(prices: Mapping[str, ModelPrice], model: str, usage: TokenUsage) -> float:
    """Prices are per million tokens; a model missing from the list costs 0.0."""
    price = prices.get(model)
    if price is None:
        return 0.0
    return (
        usage.prompt_tokens * price.prompt_per_million
        + usage.completion_tokens * price.completion_per_million
    ) / 1_000_000


def quantity_cost_usd(
    prices: Mapping[str, ModelPrice], model: str, kind: UsageKind, quantity: float
) -> float:
    """An image costs `per_image`; transcription and speech `per_minute` of audio
    (`quantity` in seconds). A model missing from the list costs 0.0."""
    price = prices.get(model)
    if price is None:
        return 0.0
    if kind is UsageKind.IMAGE:
        return quantity * price.per_image
    return quantity / 60 * price.per_minute
