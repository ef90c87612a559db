"""The HTTP pool lets many requests be in flight at once (aiosonic's default allows 30)."""

from __future__ import annotations

import asyncio

from minibot.core.conversation import ChatMessage, Role
from tests.adapters.llm.conftest import MakeModel
from tests.fakes.openai_server import FakeOpenAIServer


async def test_sixty_concurrent_requests_are_in_flight_together(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.latency_ms = 300
    model = await make_model(max_connections=128)
    questions = [[ChatMessage(Role.USER, f"question {n}")] for n in range(60)]
    answers = await asyncio.gather(*(model.complete(q) for q in questions))
    assert [a.text for a in answers] == [f"echo: question {n}" for n in range(60)]
    assert fake_openai.max_in_flight >= 50


async def test_max_connections_caps_requests_in_flight(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.latency_ms = 100
    model = await make_model(max_connections=5)
    questions = [[ChatMessage(Role.USER, f"q{n}")] for n in range(20)]
    await asyncio.gather(*(model.complete(q) for q in questions))
    assert fake_openai.max_in_flight <= 5


async def test_a_connection_is_kept_for_thousands_of_requests(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    # aiosonic counts a pooled connection's requests without resetting the count when it
    # reconnects: past its default limit (1,000) every request would open a new TCP (and
    # TLS) connection. The pool is configured without that limit.
    model = await make_model(max_connections=4)
    for n in range(1_100):
        await model.complete([ChatMessage(Role.USER, f"q{n}")])

    assert len(fake_openai.requests) == 1_100
    assert len({r.client for r in fake_openai.requests}) == 1
