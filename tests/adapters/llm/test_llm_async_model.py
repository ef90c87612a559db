"""LlmAsyncModel answers through llm-async's real HTTP path against the fake OpenAI server."""

from __future__ import annotations

import json

import pytest

from minibot.core.conversation import ChatMessage, Role, ToolCall
from minibot.core.errors import LLMError
from minibot.core.llm import ToolSpec
from tests.adapters.llm.conftest import MakeModel
from tests.fakes.openai_server import FakeOpenAIServer, Script

CONVERSATION = [
    ChatMessage(Role.SYSTEM, "You are terse."),
    ChatMessage(Role.USER, "what time is it in Paris"),
]
CLOCK_TOOL = ToolSpec(
    "get_time",
    "Current time in a timezone",
    {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
)


class Collected:
    def __init__(self) -> None:
        self.pieces: list[str] = []

    async def __call__(self, text: str) -> None:
        self.pieces.append(text)


@pytest.mark.parametrize("provider", ["openai", "openrouter", "openai_responses"])
async def test_plain_reply_carries_the_reported_usage(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, provider: str
) -> None:
    model = await make_model(provider=provider)
    completion = await model.complete(CONVERSATION)
    answer = fake_openai.answers[-1]
    assert completion.text == "echo: what time is it in Paris"
    assert completion.tool_calls == ()
    assert completion.model == "fake-model"
    assert completion.usage is not None and not completion.usage.estimated
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        answer.prompt_tokens,
        answer.completion_tokens,
    )


async def test_request_carries_key_model_and_params(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    model = await make_model(temperature=0.2, max_tokens=64)
    await model.complete(CONVERSATION)
    request = fake_openai.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.body["model"] == "fake-model"
    assert request.body["temperature"] == 0.2
    assert request.body["max_tokens"] == 64
    assert request.body["messages"][0] == {"role": "system", "content": "You are terse."}


async def test_missing_usage_is_estimated(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Script(text="twelve chars", report_usage=False))
    completion = await (await make_model()).complete(CONVERSATION)
    assert completion.usage is not None and completion.usage.estimated
    assert completion.usage.completion_tokens == 3
    assert completion.usage.prompt_tokens > 0


@pytest.mark.parametrize("provider", ["openai", "openai_responses"])
async def test_streamed_deltas_concatenate_to_the_full_text(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, provider: str
) -> None:
    model = await make_model(provider=provider, stream=True)
    sink = Collected()
    completion = await model.complete(CONVERSATION, on_text=sink)
    assert len(sink.pieces) > 1, "the answer arrived in several pieces"
    assert "".join(sink.pieces) == completion.text == "echo: what time is it in Paris"
    assert fake_openai.requests[-1].body["stream"] is True
    assert completion.usage is not None and not completion.usage.estimated
    assert completion.usage.completion_tokens == fake_openai.answers[-1].completion_tokens


async def test_without_a_sink_a_streaming_model_asks_for_a_whole_answer(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    completion = await (await make_model(stream=True)).complete(CONVERSATION)
    assert completion.text.startswith("echo:")
    assert fake_openai.requests[-1].body["stream"] is False


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", ["openai", "openai_responses"])
async def test_tool_calls_are_parsed(
    make_model: MakeModel, fake_openai: FakeOpenAIServer, provider: str, stream: bool
) -> None:
    arguments = json.dumps({"tz": "Europe/Paris", "format": "24h, with seconds please"})
    fake_openai.script(Script.tool_call("get_time", arguments, ("get_date", "{}")))
    model = await make_model(provider=provider, stream=stream)
    completion = await model.complete(CONVERSATION, tools=[CLOCK_TOOL], on_text=Collected())
    assert completion.tool_calls == (
        ToolCall("call_0", "get_time", arguments),
        ToolCall("call_1", "get_date", "{}"),
    )
    offered = fake_openai.requests[-1].body["tools"]
    assert "get_time" in json.dumps(offered)


async def test_tool_round_trip_is_sent_in_the_openai_shape(
    make_model: MakeModel, fake_openai: FakeOpenAIServer
) -> None:
    history = [
        *CONVERSATION,
        ChatMessage(Role.ASSISTANT, "", tool_calls=(ToolCall("call_9", "get_time", "{}"),)),
        ChatMessage(Role.TOOL, "12:00", tool_call_id="call_9"),
    ]
    await (await make_model()).complete(history, tools=[CLOCK_TOOL])
    sent = fake_openai.requests[-1].body["messages"]
    # Some local servers reject `content: null` on an assistant message: always a string.
    assert sent[2]["content"] == ""
    assert sent[2]["tool_calls"][0]["function"] == {"name": "get_time", "arguments": "{}"}
    assert sent[3] == {"role": "tool", "tool_call_id": "call_9", "content": "12:00"}


async def test_complete_before_start_is_an_error(make_model: MakeModel) -> None:
    model = await make_model()
    await model.stop()
    await model.stop()  # safe twice
    with pytest.raises(LLMError):
        await model.complete(CONVERSATION)
