"""An in-memory LanguageModel for app-layer tests: scripted completions, recorded calls."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from minibot.core.conversation import ChatMessage, ToolCall
from minibot.core.llm import Completion, TokenUsage, ToolSpec
from minibot.core.ports.language_model import TextSink


class ScriptedLanguageModel:
    """Answers from a script (completions or exceptions), else `echo: <last user text>`.

    `gate` (when set) makes every call wait on it, so tests can hold a turn in flight.
    """

    def __init__(self, model: str = "fake-model") -> None:
        self._model = model
        self.script: deque[Completion | Exception] = deque()
        self.calls: list[tuple[list[ChatMessage], tuple[ToolSpec, ...]]] = []
        self.gate: asyncio.Event | None = None

    @property
    def model(self) -> str:
        return self._model

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def then_text(self, text: str, prompt_tokens: int = 10, completion_tokens: int = 5) -> None:
        self.script.append(Completion(text, usage=TokenUsage(prompt_tokens, completion_tokens)))

    def then_tool(self, name: str, arguments: str, call_id: str = "call-1") -> None:
        self.script.append(
            Completion("", tool_calls=(ToolCall(call_id, name, arguments),), usage=TokenUsage(5, 5))
        )

    def then_fail(self, error: Exception) -> None:
        self.script.append(error)

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        on_text: TextSink | None = None,
    ) -> Completion:
        self.calls.append((list(messages), tuple(tools)))
        if self.gate is not None:
            await self.gate.wait()
        if self.script:
            step = self.script.popleft()
            if isinstance(step, Exception):
                raise step
            completion = step
        else:
            completion = Completion(f"echo: {messages[-1].content}", model=self._model)
        if on_text is not None and completion.text:
            for word in completion.text.split(" "):
                await on_text(word + " ")
        return completion
