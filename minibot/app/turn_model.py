"""One turn's view of the models: budget checked before each request, fallbacks on failure."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from minibot.app.budget_guard import BudgetGuard
from minibot.app.model_lineup import ModelOption
from minibot.core.conversation import ChatMessage
from minibot.core.errors import LLMUnavailable, StreamInterrupted
from minibot.core.llm import Completion, ToolSpec
from minibot.core.ports.language_model import TextSink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FallbackUsed:
    """A request the chosen model could not answer, answered by another."""

    failed: ModelOption
    answered: ModelOption
    reason: str

    def notice(self) -> str:
        model = self.answered.model.model
        return (
            f"(Answered by {self.answered.alias} ({model}): "
            f"{self.failed.alias} is unavailable, {self.reason}.)"
        )


class TurnModel:
    """A LanguageModel for one turn over a chain of models (the chosen one, then the
    fallbacks). Before each request the budget guard may refuse it (`BudgetExceeded`,
    nothing is sent). When a model fails for good on a passing condition (LLMUnavailable:
    429, 5xx, timeout, dropped connection) and nothing was streamed, the next one is
    asked; a refused request (LLMRejected: 400, 401, 403, context too long) is not
    retried elsewhere. Once a fallback answered, the rest of the turn starts there."""

    def __init__(
        self,
        chain: Sequence[ModelOption],
        *,
        owner_id: str,
        guard: BudgetGuard | None,
        unrecorded_usd: Callable[[], float],
        in_run: bool,
    ) -> None:
        self._chain = list(chain)
        self._owner_id = owner_id
        self._guard = guard
        self._unrecorded_usd = unrecorded_usd
        self._in_run = in_run
        self._start = 0
        self.fallback: FallbackUsed | None = None

    @property
    def model(self) -> str:
        return self._chain[self._start].model.model

    @property
    def alias(self) -> str:
        return self._chain[self._start].alias

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        on_text: TextSink | None = None,
    ) -> Completion:
        failure: tuple[ModelOption, LLMUnavailable] | None = None
        for index in range(self._start, len(self._chain)):
            option = self._chain[index]
            if self._guard is not None:
                await self._guard.check(
                    self._owner_id,
                    option.price,
                    messages,
                    unrecorded_usd=self._unrecorded_usd(),
                    in_run=self._in_run,
                )
            try:
                completion = await option.model.complete(messages, tools=tools, on_text=on_text)
            except StreamInterrupted:
                raise  # part of the answer is shown: another model would repeat it
            except LLMUnavailable as exc:
                if index + 1 >= len(self._chain):
                    raise
                log.warning(
                    "model failed; trying the next one",
                    extra={"model": option.alias, "error": str(exc)},
                )
                if failure is None:
                    failure = (option, exc)
                continue
            if failure is not None:
                self._start = index
                if self.fallback is None:
                    failed, error = failure
                    self.fallback = FallbackUsed(failed, option, _reason(error))
            return completion
        raise AssertionError("unreachable: the chain is never empty")


def _reason(exc: LLMUnavailable) -> str:
    if exc.status is not None:
        return f"HTTP {exc.status}"
    text = str(exc)
    return text.rsplit(": ", 1)[-1] if ": " in text else text
