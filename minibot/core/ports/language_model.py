"""Port: a language model that answers a conversation, optionally calling tools."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from minibot.core.conversation import ChatMessage
from minibot.core.llm import Completion, ToolSpec

TextSink = Callable[[str], Awaitable[None]]


class LanguageModel(Protocol):
    """Answers one request.

    When the adapter streams and `on_text` is given, each new piece of text is passed to
    it as it arrives (deltas, in order). Transient failures are retried inside the
    adapter while nothing has been passed to `on_text`; after that a broken stream
    raises `StreamInterrupted`. Final failures raise `LLMUnavailable` or `LLMRejected`.
    """

    @property
    def model(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        on_text: TextSink | None = None,
    ) -> Completion: ...
