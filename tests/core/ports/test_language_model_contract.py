"""The LanguageModel promises, checked against the scripted fake and the llm-async adapter.

The suite lives beside the port it checks (core/ports/language_model.py) rather than in
either implementation's folder: it runs over both, and the port's docstring is its spec.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from minibot.core.conversation import ChatMessage, Role
from minibot.core.errors import LLMError, LLMRejected, LLMUnavailable, StreamInterrupted
from minibot.core.llm import ToolSpec
from tests.core.ports.language_model_backends import (
    API_KEY,
    BACKENDS,
    DROP,
    TIMEOUT,
    Failure,
    ModelDriver,
    model_driver,
)

QUESTION = [
    ChatMessage(Role.SYSTEM, "You are terse."),
    ChatMessage(Role.USER, "what is the weather like in Lisbon today"),
]
WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
ANSWER = "Sunny and mild in Lisbon, with a light breeze from the sea."
TRANSIENT = [
    Failure.http(429, retry_after_seconds=7.0),
    Failure.http(408),
    Failure.http(500),
    Failure.http(503),
    TIMEOUT,
    DROP,
]
REFUSED = [Failure.http(400), Failure.http(401), Failure.http(403), Failure.http(404)]


@pytest.fixture(params=BACKENDS)
async def llm(request: pytest.FixtureRequest) -> AsyncIterator[ModelDriver]:
    async with model_driver(request.param) as driver:
        yield driver


class Sink:
    """An `on_text` that keeps every piece it is given, in order."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    async def __call__(self, text: str) -> None:
        self.pieces.append(text)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


async def test_a_plain_answer_carries_its_text_model_and_usage(llm: ModelDriver) -> None:
    llm.answer_text(ANSWER)
    completion = await llm.model.complete(QUESTION)
    assert completion.text == ANSWER
    assert completion.tool_calls == ()
    assert completion.model == llm.model.model == "contract-model"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0


async def test_the_model_is_sent_the_conversation_and_the_tools_offered(
    llm: ModelDriver,
) -> None:
    llm.answer_text(ANSWER)
    await llm.model.complete(QUESTION, tools=[WEATHER])
    assert llm.sent() == ("what is the weather like in Lisbon today", ["get_weather"])


async def test_an_unscripted_answer_is_still_a_whole_completion(llm: ModelDriver) -> None:
    completion = await llm.model.complete(QUESTION)
    assert completion.text
    assert completion.model == "contract-model" and completion.usage is not None


async def test_a_streamed_answer_reaches_the_sink_in_order_and_equals_the_whole(
    llm: ModelDriver,
) -> None:
    llm.answer_text(ANSWER)
    sink = Sink()
    completion = await llm.model.complete(QUESTION, on_text=sink)
    assert len(sink.pieces) > 1, "the answer arrived in pieces, as it was produced"
    assert all(sink.pieces), "no empty piece"
    assert sink.text == completion.text == ANSWER
    assert completion.model == "contract-model" and completion.usage is not None


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_tool_calls_come_back_with_id_name_and_arguments(
    llm: ModelDriver, streamed: bool
) -> None:
    weather = json.dumps({"city": "Lisbon, Portugal", "units": "metric, with wind speed"})
    llm.answer_tool_calls(("get_weather", weather), ("get_time", "{}"))
    sink = Sink()
    completion = await llm.model.complete(
        QUESTION, tools=[WEATHER], on_text=sink if streamed else None
    )
    calls = completion.tool_calls
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", weather), ("get_time", "{}")]
    assert all(c.id for c in calls) and len({c.id for c in calls}) == 2, "distinct ids"
    assert sink.text == completion.text == ""
    assert completion.usage is not None


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_an_answer_may_carry_text_and_tool_calls_together(
    llm: ModelDriver, streamed: bool
) -> None:
    llm.answer_tool_calls(("get_weather", '{"city": "Évora"}'), text="Let me look that up 🌦")
    sink = Sink()
    completion = await llm.model.complete(
        QUESTION, tools=[WEATHER], on_text=sink if streamed else None
    )
    assert completion.text == "Let me look that up 🌦"
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("get_weather", '{"city": "Évora"}')
    ]
    assert sink.text == (completion.text if streamed else "")


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("failure", TRANSIENT, ids=str)
async def test_a_transient_failure_ends_unavailable_with_its_retry_hint(
    llm: ModelDriver, failure: Failure, streamed: bool
) -> None:
    llm.fail(failure)
    sink = Sink()
    with pytest.raises(LLMUnavailable) as caught:
        await llm.model.complete(QUESTION, on_text=sink if streamed else None)
    error = caught.value
    assert not isinstance(error, StreamInterrupted), "nothing had been shown"
    assert (error.status, error.retry_after_seconds) == (
        failure.status,
        failure.retry_after_seconds,
    )
    assert sink.pieces == []
    assert API_KEY not in str(error)


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("failure", REFUSED, ids=str)
async def test_a_refusal_ends_rejected_with_its_status(
    llm: ModelDriver, failure: Failure, streamed: bool
) -> None:
    llm.fail(failure)
    sink = Sink()
    with pytest.raises(LLMRejected) as caught:
        await llm.model.complete(QUESTION, on_text=sink if streamed else None)
    assert caught.value.status == failure.status
    assert sink.pieces == []
    assert API_KEY not in str(caught.value)


async def test_a_stream_broken_after_some_text_raises_with_the_text_shown(
    llm: ModelDriver,
) -> None:
    llm.cut_stream(ANSWER, after_pieces=3)
    sink = Sink()
    with pytest.raises(StreamInterrupted) as caught:
        await llm.model.complete(QUESTION, on_text=sink)
    assert caught.value.partial_text == sink.text == "Sunny and mild "
    assert API_KEY not in str(caught.value)


async def test_the_model_answers_again_after_a_failure(llm: ModelDriver) -> None:
    llm.fail(Failure.http(503))
    with pytest.raises(LLMUnavailable):
        await llm.model.complete(QUESTION)
    llm.answer_text(ANSWER)
    assert (await llm.model.complete(QUESTION)).text == ANSWER


async def test_an_error_from_the_sink_reaches_the_caller_unchanged(llm: ModelDriver) -> None:
    class SinkFull(Exception):
        pass

    async def refuse(text: str) -> None:
        raise SinkFull(text)

    llm.answer_text(ANSWER)
    with pytest.raises(SinkFull):
        await llm.model.complete(QUESTION, on_text=refuse)


async def test_a_stopped_model_refuses_to_answer_and_stops_twice_safely(
    llm: ModelDriver,
) -> None:
    await llm.model.stop()
    await llm.model.stop()
    with pytest.raises(LLMError):
        await llm.model.complete(QUESTION)
    await llm.model.start()
    llm.answer_text(ANSWER)
    assert (await llm.model.complete(QUESTION)).text == ANSWER
