"""Every LanguageModel implementation behind one scripting interface, for the contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from minibot.adapters.config.schema import LLMSettings
from minibot.adapters.llm import LlmAsyncModel
from minibot.core.ports.language_model import LanguageModel
from tests.adapters.llm.conftest import FakeTime
from tests.fakes.language_model import ScriptedLanguageModel
from tests.fakes.openai_server import FakeOpenAIServer, Script

API_KEY = "sk-contract-secret"
BACKENDS = ["scripted", "llm-async/openai", "llm-async/openai_responses"]


@dataclass(frozen=True, slots=True)
class Failure:
    """How the provider fails, on every attempt: an HTTP status, a timeout or a drop."""

    kind: str  # "status", "timeout" or "drop"
    status: int | None = None
    retry_after_seconds: float | None = None

    @classmethod
    def http(cls, status: int, retry_after_seconds: float | None = None) -> Failure:
        return cls("status", status, retry_after_seconds)

    def __str__(self) -> str:
        if self.kind == "status":
            return f"http-{self.status}" + ("-retry-after" if self.retry_after_seconds else "")
        return self.kind


TIMEOUT = Failure("timeout")
DROP = Failure("drop")


class ModelDriver(Protocol):
    """Scripts the next answer of a started model, and reports what the model was sent."""

    model: LanguageModel

    def answer_text(self, text: str) -> None: ...

    def answer_tool_calls(self, *calls: tuple[str, str], text: str = "") -> None: ...

    def fail(self, failure: Failure) -> None: ...

    def cut_stream(self, text: str, after_pieces: int) -> None: ...

    def sent(self) -> tuple[str, list[str]]:
        """The last request's last user text and the names of the tools it offered."""
        ...


class ScriptedDriver:
    def __init__(self) -> None:
        self.fake = ScriptedLanguageModel("contract-model")
        self.model: LanguageModel = self.fake

    def answer_text(self, text: str) -> None:
        self.fake.then_text(text)

    def answer_tool_calls(self, *calls: tuple[str, str], text: str = "") -> None:
        self.fake.then_tool_calls(*calls, text=text)

    def fail(self, failure: Failure) -> None:
        if failure.kind == "timeout":
            self.fake.then_timeout()
        elif failure.kind == "drop":
            self.fake.then_drop()
        else:
            assert failure.status is not None
            self.fake.then_status(failure.status, retry_after_seconds=failure.retry_after_seconds)

    def cut_stream(self, text: str, after_pieces: int) -> None:
        self.fake.then_cut(text, after_pieces)

    def sent(self) -> tuple[str, list[str]]:
        messages, tools = self.fake.calls[-1]
        return messages[-1].content, [tool.name for tool in tools]


class HttpDriver:
    """LlmAsyncModel over real HTTP to the loopback OpenAI fake, retrying on a fake time.

    A failure is scripted for every attempt the model makes, so what the caller sees is
    the adapter's final answer once its retries are spent, as with the scripted fake.
    """

    MAX_ATTEMPTS = 2
    # Short, because a timeout test waits it out for real on every attempt; a healthy
    # loopback answer takes milliseconds, and a slow one under load is simply retried.
    REQUEST_TIMEOUT_SECONDS = 0.5

    def __init__(self, server: FakeOpenAIServer, model: LlmAsyncModel) -> None:
        self.server = server
        self.model: LanguageModel = model

    def answer_text(self, text: str) -> None:
        self.server.script(Script.reply(text))

    def answer_tool_calls(self, *calls: tuple[str, str], text: str = "") -> None:
        self.server.script(Script(text=text, tool_calls=calls))

    def fail(self, failure: Failure) -> None:
        if failure.kind == "timeout":
            step = Script.slow(30.0)
        elif failure.kind == "drop":
            step = Script.drop()
        else:
            assert failure.status is not None
            retry_after = failure.retry_after_seconds
            step = Script.error(failure.status, retry_after=_header(retry_after))
        self.server.script(*[step] * self.MAX_ATTEMPTS)

    def cut_stream(self, text: str, after_pieces: int) -> None:
        # Both wire formats open a stream with one event before the first text.
        self.server.script(Script.cut_stream(after_chunks=1 + after_pieces, text=text))

    def sent(self) -> tuple[str, list[str]]:
        body = self.server.requests[-1].body
        messages = body.get("messages", body.get("input", []))
        if isinstance(messages, str):  # the responses API takes a lone user text as is
            messages = [{"role": "user", "content": messages}]
        content = [m for m in messages if m.get("role") == "user"][-1]["content"]
        text = content if isinstance(content, str) else "".join(p["text"] for p in content)
        return text, [_tool_name(tool) for tool in body.get("tools", [])]


def _header(seconds: float | None) -> str | None:
    return None if seconds is None else f"{seconds:g}"


def _tool_name(tool: dict[str, Any]) -> str:
    return str(tool["function"]["name"] if "function" in tool else tool["name"])


@asynccontextmanager
async def model_driver(backend: str) -> AsyncIterator[ModelDriver]:
    """A started model of `backend` (one of BACKENDS) with its driver; stopped after."""
    if backend == "scripted":
        scripted = ScriptedDriver()
        await scripted.model.start()
        try:
            yield scripted
        finally:
            await scripted.model.stop()
        return
    server = FakeOpenAIServer()
    await server.start()
    fake_time = FakeTime()
    settings = LLMSettings(
        provider=backend.removeprefix("llm-async/"),  # type: ignore[arg-type]
        base_url=server.base_url,
        api_key=API_KEY,  # type: ignore[arg-type]
        model="contract-model",
        stream=True,
        max_attempts=HttpDriver.MAX_ATTEMPTS,
        request_timeout_seconds=HttpDriver.REQUEST_TIMEOUT_SECONDS,
    )
    model = LlmAsyncModel(settings, sleep=fake_time.sleep, clock=fake_time.clock)
    await model.start()
    try:
        yield HttpDriver(server, model)
    finally:
        await model.stop()
        await server.stop()
