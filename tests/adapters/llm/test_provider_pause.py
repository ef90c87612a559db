"""A 429 or 503 with Retry-After pauses every conversation's requests to the provider, over
real HTTP against the fake server; a turn that cannot wait that long fails at once."""

from __future__ import annotations

import asyncio

import pytest

from minibot.adapters.config.schema import LLMSettings
from minibot.adapters.llm import LlmAsyncModel
from minibot.core.conversation import ChatMessage, Role
from minibot.core.errors import LLMUnavailable
from tests.adapters.llm.conftest import FakeTime, MakeModel
from tests.fakes.openai_server import FakeOpenAIServer, Script


def question(n: int) -> list[ChatMessage]:
    return [ChatMessage(Role.USER, f"question {n}")]


@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_holds_every_conversation_until_it_passes(
    fake_openai: FakeOpenAIServer, status: int
) -> None:
    conversations = 8
    paused = asyncio.Event()
    received_by_pause_end: list[int] = []

    async def sleep(seconds: float) -> None:
        first = not paused.is_set()
        paused.set()
        await asyncio.sleep(seconds)
        if first:
            received_by_pause_end.append(len(fake_openai.requests))

    fake_openai.script(Script.error(status, retry_after="1"))
    settings = LLMSettings(
        base_url=fake_openai.base_url,
        api_key="sk-test",
        model="fake-model",
        total_deadline_seconds=30,
    )
    model = LlmAsyncModel(settings, sleep=sleep)
    await model.start()
    try:
        refused = asyncio.create_task(model.complete(question(0)))
        await asyncio.wait_for(paused.wait(), 10)
        # The others arrive while the provider's pause runs.
        others = [asyncio.create_task(model.complete(question(n))) for n in range(1, conversations)]
        answers = await asyncio.wait_for(asyncio.gather(refused, *others), 30)
    finally:
        await model.stop()
    assert received_by_pause_end == [1], "only the refused request reached the provider"
    assert [a.text for a in answers] == [f"echo: question {n}" for n in range(conversations)]
    assert len(fake_openai.requests) == conversations + 1


async def test_a_turn_whose_deadline_ends_within_the_pause_fails_without_a_request(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, fake_time: FakeTime
) -> None:
    fake_openai.script(Script.error(429, retry_after="30"))
    model = await make_model(total_deadline_seconds=5.0)
    with pytest.raises(LLMUnavailable):
        await model.complete(question(1))
    fake_time.now += 10  # another conversation, later, still inside the pause
    with pytest.raises(LLMUnavailable) as caught:
        await model.complete(question(2))
    assert (caught.value.status, caught.value.retry_after_seconds) == (429, 20.0)
    assert len(fake_openai.requests) == 1, "nothing was sent during the pause"
    assert fake_time.sleeps == [], "the turn failed at once rather than sleep past its deadline"


async def test_a_turn_within_its_deadline_waits_out_the_pause_then_asks(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, fake_time: FakeTime
) -> None:
    fake_openai.script(Script.error(503, retry_after="3"))
    model = await make_model(max_attempts=1, total_deadline_seconds=60.0)
    with pytest.raises(LLMUnavailable):
        await model.complete(question(1))
    completion = await model.complete(question(2))
    assert completion.text == "echo: question 2"
    assert fake_time.sleeps == [3.0]
    assert len(fake_openai.requests) == 2


@pytest.mark.parametrize(("status", "retry_after"), [(429, None), (500, "3"), (502, "3")], ids=str)
async def test_other_failures_pause_only_their_own_turn(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,
    fake_time: FakeTime,
    status: int,
    retry_after: str | None,
) -> None:
    fake_openai.script(Script.error(status, retry_after=retry_after))
    model = await make_model(max_attempts=1)
    with pytest.raises(LLMUnavailable):
        await model.complete(question(1))
    assert (await model.complete(question(2))).text == "echo: question 2"
    assert fake_time.sleeps == []
