"""Retries, timeouts and broken streams, exercised over real HTTP against the fake server."""

from __future__ import annotations

import pytest

from minibot.core.conversation import ChatMessage, Role
from minibot.core.errors import LLMRejected, LLMUnavailable, StreamInterrupted
from tests.adapters.llm.conftest import FakeTime, MakeModel
from tests.fakes.openai_server import FakeOpenAIServer, Script

QUESTION = [ChatMessage(Role.USER, "tell me a story about a fox")]


class Collected:
    def __init__(self) -> None:
        self.pieces: list[str] = []

    async def __call__(self, text: str) -> None:
        self.pieces.append(text)


async def test_429_is_retried_after_the_retry_after_delay(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, fake_time: FakeTime
) -> None:
    fake_openai.script(Script.error(429, retry_after="7"))
    completion = await (await make_model()).complete(QUESTION)
    assert completion.text.startswith("echo:")
    assert len(fake_openai.requests) == 2
    assert fake_time.sleeps == [7.0]


async def test_500_is_retried_with_backoff(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, fake_time: FakeTime
) -> None:
    fake_openai.script(Script.error(500), Script.error(503))
    model = await make_model(retry_initial_delay_seconds=1.0, retry_max_delay_seconds=10.0)
    completion = await model.complete(QUESTION)
    assert completion.text.startswith("echo:")
    assert len(fake_openai.requests) == 3
    assert len(fake_time.sleeps) == 2
    assert 0 <= fake_time.sleeps[0] <= 1.0 and 0 <= fake_time.sleeps[1] <= 2.0


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_rejections_are_not_retried(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, status: int
) -> None:
    fake_openai.script(Script.error(status))
    with pytest.raises(LLMRejected) as caught:
        await (await make_model()).complete(QUESTION)
    assert caught.value.status == status
    assert len(fake_openai.requests) == 1
    assert "sk-test" not in str(caught.value)


async def test_persistent_failure_ends_unavailable_after_max_attempts(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(*[Script.error(429, retry_after="1")] * 3)
    with pytest.raises(LLMUnavailable) as caught:
        await (await make_model(max_attempts=3)).complete(QUESTION)
    assert (caught.value.status, caught.value.retry_after_seconds) == (429, 1.0)
    assert len(fake_openai.requests) == 3


async def test_deadline_stops_retries(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, fake_time: FakeTime
) -> None:
    fake_openai.script(*[Script.error(502, retry_after="1.5")] * 5)
    model = await make_model(max_attempts=10, total_deadline_seconds=2.0)
    with pytest.raises(LLMUnavailable) as caught:
        await model.complete(QUESTION)
    assert caught.value.status == 502
    assert len(fake_openai.requests) == 2, "a third attempt would start past the deadline"
    assert fake_time.sleeps == [1.5]


@pytest.mark.parametrize("stream", [False, True])
async def test_timeout_is_retried(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, stream: bool
) -> None:
    fake_openai.script(Script.slow(5.0))
    model = await make_model(request_timeout_seconds=0.2, stream=stream)
    completion = await model.complete(QUESTION, on_text=Collected())
    assert completion.text.startswith("echo:")
    assert len(fake_openai.requests) == 2


@pytest.mark.parametrize("stream", [False, True])
async def test_dropped_connection_is_retried(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, stream: bool
) -> None:
    fake_openai.script(Script.drop())
    completion = await (await make_model(stream=stream)).complete(QUESTION, on_text=Collected())
    assert completion.text.startswith("echo:")
    assert len(fake_openai.requests) == 2


async def test_stream_cut_before_any_text_is_retried_from_the_start(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Script.cut_stream(after_chunks=1))  # only the role chunk, no text
    sink = Collected()
    completion = await (await make_model(stream=True)).complete(QUESTION, on_text=sink)
    assert "".join(sink.pieces) == completion.text == "echo: tell me a story about a fox"
    assert len(fake_openai.requests) == 2


async def test_stream_cut_after_text_raises_with_the_partial_text(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Script.cut_stream(after_chunks=3))
    sink = Collected()
    with pytest.raises(StreamInterrupted) as caught:
        await (await make_model(stream=True)).complete(QUESTION, on_text=sink)
    assert caught.value.partial_text == "".join(sink.pieces) == "echo: tell "
    assert len(fake_openai.requests) == 1, "text already shown must not be repeated"


async def test_an_error_in_the_sink_reaches_the_caller_unchanged(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    async def broken_sink(text: str) -> None:
        raise ConnectionError("chat went away")

    with pytest.raises(ConnectionError, match="chat went away"):
        await (await make_model(stream=True)).complete(QUESTION, on_text=broken_sink)
    assert len(fake_openai.requests) == 1
