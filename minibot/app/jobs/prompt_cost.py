"""What a recurring scheduled prompt will cost a month, shown when it is created."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from minibot.core.prices import Price
from minibot.core.schedule import Schedule, occurrences
from minibot.core.tokens import estimate_tokens

_MONTH = timedelta(days=30)
_MAX_RUNS_COUNTED = 50_000


@dataclass(frozen=True, slots=True)
class MonthlyCost:
    runs: int
    usd: float

    def text(self) -> str:
        return f"about ${self.usd:.2f} a month ({self.runs} runs at the current model's prices)"


@dataclass(frozen=True, slots=True)
class PromptCostEstimate:
    """One run is estimated as a full turn: the system prompt, a full history window,
    the prompt, and an answer of `completion_tokens`, at the default model's price."""

    price: Price
    system_prompt_tokens: int
    history_tokens: int
    completion_tokens: int

    def per_run_usd(self, prompt: str) -> float:
        prompt_tokens = self.system_prompt_tokens + self.history_tokens + estimate_tokens(prompt)
        return self.price.cost_usd(prompt_tokens, self.completion_tokens)

    def monthly(self, schedule: Schedule, prompt: str, now: datetime) -> MonthlyCost:
        runs = len(occurrences(schedule, now, now + _MONTH, limit=_MAX_RUNS_COUNTED))
        return MonthlyCost(runs, runs * self.per_run_usd(prompt))
