"""An in-memory LanguageModel for app-layer tests: scripted completions, recorded calls."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from minibot.core.conversation import ChatMessage, ToolCall
from minibot.core.errors import LLMError, LLMRejected, LLMUnavailable, StreamInterrupted
from minibot.core.llm import Completion, TokenUsage, ToolSpec
from minibot.core.ports.language_model import TextSink
from minibot.core.tokens import estimate_tokens

# The statuses a provider sends for a passing condition (as the HTTP adapter sorts them):
# 408 and 409 are 4xx but transient by definition, 429 is rate limiting, 5xx the server's.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class _Cut:
    """A streamed answer that breaks after its first `after_pieces` pieces."""

    completion: Completion
    after_pieces: int


class ScriptedLanguageModel:
    """Answers from a script (completions or failures), else `echo: <last user text>`.

    It keeps the `LanguageModel` promises the HTTP adapter keeps (the contract suite in
    tests/core/ports runs over both): every completion names the model and carries a
    usage (estimated when the script gave none); with `on_text` the text is streamed as
    words whose concatenation is the whole; a scripted failure is the final one, as if
    the adapter's retries had run out; it answers only between `start()` and `stop()`.
    `gate` (when set) makes every call wait on it, so tests can hold a turn in flight.
    """

    def __init__(self, model: str = "fake-model") -> None:
        self._model = model
        self.script: deque[Completion | Exception | _Cut] = deque()
        self.calls: list[tuple[list[ChatMessage], tuple[ToolSpec, ...]]] = []
        self.gate: asyncio.Event | None = None
        self._started = False

    @property
    def model(self) -> str:
        return self._model

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    def then_text(self, text: str, prompt_tokens: int = 10, completion_tokens: int = 5) -> None:
        self.script.append(Completion(text, usage=TokenUsage(prompt_tokens, completion_tokens)))

    def then_tool(self, name: str, arguments: str, call_id: str = "call-1") -> None:
        self.script.append(
            Completion("", tool_calls=(ToolCall(call_id, name, arguments),), usage=TokenUsage(5, 5))
        )

    def then_tool_calls(self, *calls: tuple[str, str], text: str = "") -> None:
        """One answer asking for several tools, each (name, arguments as JSON text), with
        `text` before them (a model may say what it is about to do)."""
        tool_calls = tuple(
            ToolCall(f"call-{n}", name, arguments) for n, (name, arguments) in enumerate(calls, 1)
        )
        self.script.append(Completion(text, tool_calls=tool_calls, usage=TokenUsage(5, 5)))

    def then_fail(self, error: Exception) -> None:
        self.script.append(error)

    def then_status(self, status: int, *, retry_after_seconds: float | None = None) -> None:
        """The provider answers `status` on every attempt: the error the adapter ends with."""
        message = f"LLM request failed: HTTP {status}"
        if status >= 500 or status in TRANSIENT_CLIENT_STATUSES:
            self.then_fail(
                LLMUnavailable(message, status=status, retry_after_seconds=retry_after_seconds)
            )
        else:
            self.then_fail(LLMRejected(message, status=status))

    def then_timeout(self) -> None:
        self.then_fail(LLMUnavailable("LLM request failed: request timed out"))

    def then_drop(self) -> None:
        self.then_fail(LLMUnavailable("LLM request failed: connection dropped"))

    def then_cut(self, text: str, after_pieces: int) -> None:
        """A streamed answer whose connection breaks after `after_pieces` pieces of `text`;
        asked without `on_text`, the answer comes whole (nothing streams to break)."""
        self.script.append(_Cut(Completion(text), after_pieces))

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        on_text: TextSink | None = None,
    ) -> Completion:
        if not self._started:
            raise LLMError("the language model is not started")
        self.calls.append((list(messages), tuple(tools)))
        if self.gate is not None:
            await self.gate.wait()
        step = self.script.popleft() if self.script else None
        if isinstance(step, Exception):
            raise step
        if isinstance(step, _Cut):
            if on_text is not None:
                shown = pieces(step.completion.text)[: step.after_pieces]
                for piece in shown:
                    await on_text(piece)
                raise StreamInterrupted(
                    "LLM stream broke: connection dropped", partial_text="".join(shown)
                )
            step = step.completion
        completion = self._finish(messages, step)
        if on_text is not None:
            for piece in pieces(completion.text):
                await on_text(piece)
        return completion

    def _finish(self, messages: Sequence[ChatMessage], step: Completion | None) -> Completion:
        if step is None:
            step = Completion(f"echo: {messages[-1].content}")
        usage = step.usage or TokenUsage(
            estimate_tokens("".join(m.content for m in messages)),
            estimate_tokens(step.text + "".join(c.name + c.arguments for c in step.tool_calls)),
            estimated=True,
        )
        return replace(step, usage=usage, model=step.model or self._model)


def pieces(text: str) -> list[str]:
    """Split the way models stream: each word with the space after it."""
    words = text.split(" ")
    return [piece for piece in [word + " " for word in words[:-1]] + [words[-1]] if piece]
