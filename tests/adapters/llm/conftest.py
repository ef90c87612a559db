"""Fixtures for the LLM adapter tests: the fake OpenAI server and models pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from minibot.adapters.config.schema import LLMSettings
from minibot.adapters.llm import LlmAsyncModel
from tests.fakes.openai_server import FakeOpenAIServer


class FakeTime:
    """A clock that only moves when the model sleeps, so retry tests never wait for real."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


MakeModel = Callable[..., Awaitable[LlmAsyncModel]]


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def make_model(
    fake_openai: FakeOpenAIServer, fake_time: FakeTime
) -> AsyncIterator[MakeModel]:
    """Builds and starts a model on the fake; keyword arguments override LLMSettings."""
    started: list[LlmAsyncModel] = []

    async def make(**overrides: Any) -> LlmAsyncModel:
        values: dict[str, Any] = {
            "base_url": fake_openai.base_url,
            "api_key": "sk-test",
            "model": "fake-model",
            "request_timeout_seconds": 5.0,
        }
        values.update(overrides)
        model = LlmAsyncModel(LLMSettings(**values), sleep=fake_time.sleep, clock=fake_time.clock)
        await model.start()
        started.append(model)
        return model

    yield make
    for model in started:
        await model.stop()
