"""The configured models by alias: the default, the named ones, and the fallback order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from minibot.core.ports.language_model import LanguageModel
from minibot.core.prices import Price


@dataclass(frozen=True, slots=True)
class ModelOption:
    """One model a conversation may use; `price` is what the budget estimates with."""

    alias: str
    model: LanguageModel
    price: Price
    priced: bool = True  # False: no price configured, so the dearest known one is assumed
    context_window: int | None = None
    vision: bool = False


class ModelLineup:
    """Every configured model, started and stopped together. `chain(alias)` is the order
    a request tries them in: the chosen one (the default when the alias is unknown or
    None), then each fallback not already tried."""

    def __init__(
        self, options: Sequence[ModelOption], *, default_alias: str, fallbacks: Sequence[str] = ()
    ) -> None:
        self._options = {option.alias: option for option in options}
        if default_alias not in self._options:
            raise ValueError(f"default model alias {default_alias!r} is not configured")
        self.default_alias = default_alias
        self._fallbacks = [alias for alias in fallbacks if alias in self._options]

    @classmethod
    def single(cls, model: LanguageModel, alias: str = "default") -> ModelLineup:
        return cls([ModelOption(alias, model, Price(0.0, 0.0))], default_alias=alias)

    @property
    def options(self) -> list[ModelOption]:
        return list(self._options.values())

    @property
    def default(self) -> ModelOption:
        return self._options[self.default_alias]

    def get(self, alias: str | None) -> ModelOption | None:
        return self._options.get(alias) if alias is not None else None

    def chain(self, alias: str | None) -> list[ModelOption]:
        first = self.get(alias) or self.default
        chain = [first]
        for name in self._fallbacks:
            option = self._options[name]
            if option not in chain:
                chain.append(option)
        return chain

    async def start(self) -> None:
        await asyncio.gather(*(option.model.start() for option in self._options.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(option.model.stop() for option in self._options.values()))
