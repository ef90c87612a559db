"""A request given up on (our timeout) never leaves its answer behind for the next one."""

from __future__ import annotations

import pytest

from minibot.core.conversation import ChatMessage, Role
from minibot.core.errors import LLMUnavailable
from tests.adapters.llm.conftest import MakeModel
from tests.fakes.openai_server import FakeOpenAIServer, Script


@pytest.mark.parametrize("stream", [False, True])
async def test_a_timed_out_request_on_a_kept_connection_does_not_answer_the_next(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, stream: bool
) -> None:
    # One pooled connection: the first answer leaves it open for reuse; the second
    # question times out on it while the server is still working on the answer.
    model = await make_model(max_connections=1, request_timeout_seconds=0.3, max_attempts=1,
                             stream=stream)  # fmt: skip
    first = await model.complete([ChatMessage(Role.USER, "first")])
    assert first.text == "echo: first"
    fake_openai.script(Script.slow(0.6))
    with pytest.raises(LLMUnavailable, match="timed out"):
        await model.complete([ChatMessage(Role.USER, "second")])

    third = await model.complete([ChatMessage(Role.USER, "third")])

    assert third.text == "echo: third"
