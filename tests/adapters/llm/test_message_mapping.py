"""Our conversation in each provider's shape, and streamed events of each provider assembled."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from minibot.adapters.config.schema import LLMSettings
from minibot.adapters.llm.completion_parsing import hit_length_limit
from minibot.adapters.llm.message_mapping import build_request
from minibot.adapters.llm.provider_factory import Protocol
from minibot.adapters.llm.stream_assembly import StreamAssembler
from minibot.core.conversation import ChatMessage, Role, ToolCall
from minibot.core.llm import ToolSpec
from minibot.core.media import ImagePart

HISTORY = [
    ChatMessage(Role.SYSTEM, "Be brief."),
    ChatMessage(Role.USER, "time in Paris and Tokyo?"),
    ChatMessage(
        Role.ASSISTANT,
        "",
        tool_calls=(
            ToolCall("t1", "get_time", '{"tz": "Europe/Paris"}'),
            ToolCall("t2", "get_time", '{"tz": "Asia/Tokyo"}'),
        ),
    ),
    ChatMessage(Role.TOOL, "12:00", tool_call_id="t1"),
    ChatMessage(Role.TOOL, "20:00", tool_call_id="t2"),
]
TOOL = ToolSpec("get_time", "time", {"type": "object"})
SETTINGS = LLMSettings(temperature=0.5, max_tokens=100)


def test_claude_gets_tool_use_blocks_and_one_user_message_of_results() -> None:
    request = build_request(Protocol.CLAUDE, SETTINGS, HISTORY, [TOOL], stream=False)
    system, _question, assistant, results = request.messages
    assert system == {"role": "system", "content": "Be brief."}
    assert assistant["content"][0] == {
        "type": "tool_use",
        "id": "t1",
        "name": "get_time",
        "input": {"tz": "Europe/Paris"},
    }
    assert results["role"] == "user"
    assert [b["tool_use_id"] for b in results["content"]] == ["t1", "t2"]
    assert request.options == {"max_tokens": 100}
    assert request.tools is not None and request.tools[0].input_schema == {"type": "object"}


def test_google_gets_object_arguments_and_named_results() -> None:
    request = build_request(Protocol.GOOGLE, SETTINGS, HISTORY, [TOOL], stream=False)
    assistant, results = request.messages[2], request.messages[3]
    assert assistant["tool_calls"][1]["function"]["arguments"] == {"tz": "Asia/Tokyo"}
    assert [b["name"] for b in results["content"]] == ["get_time", "get_time"]
    assert request.options == {"generationConfig": {"temperature": 0.5, "maxOutputTokens": 100}}


def test_responses_takes_the_system_prompt_as_instructions() -> None:
    request = build_request(Protocol.RESPONSES, SETTINGS, HISTORY, [], stream=True)
    assert request.options["instructions"] == "Be brief."
    assert request.options["max_output_tokens"] == 100
    assert request.messages[-1] == {
        "type": "function_call_output",
        "call_id": "t2",
        "output": "20:00",
    }
    assert all(m.get("role") != "system" for m in request.messages)


def test_chat_streams_ask_for_usage() -> None:
    request = build_request(Protocol.CHAT, SETTINGS, HISTORY, [], stream=True)
    assert request.options["stream_options"] == {"include_usage": True}


def test_claude_stream_events_assemble_text_tool_calls_and_usage() -> None:
    assembler = StreamAssembler(Protocol.CLAUDE)
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 11}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "tu1", "name": "get_time"},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"tz": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '"UTC"}'},
        },
        {"type": "message_delta", "usage": {"output_tokens": 7}},
    ]
    deltas = [assembler.feed(e) for e in events]
    answer = assembler.result()
    assert "".join(deltas) == answer.text == "Hi"
    assert answer.tool_calls == (ToolCall("tu1", "get_time", '{"tz": "UTC"}'),)
    assert (answer.usage, answer.model) == ((11, 7), "claude-x")


def test_google_stream_events_assemble_text_tool_calls_and_usage() -> None:
    assembler = StreamAssembler(Protocol.GOOGLE)
    assembler.feed({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]})
    assembler.feed(
        {
            "candidates": [
                {
                    "content": {
                        "parts": [{"text": "lo"}, {"functionCall": {"name": "f", "args": {}}}]
                    }
                }
            ],
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2},
        }
    )
    answer = assembler.result()
    assert answer.text == "Hello"
    assert answer.tool_calls == (ToolCall("call_0", "f", "{}"),)
    assert answer.usage == (4, 2)


@pytest.mark.parametrize(
    "raw",
    [
        {"choices": [{"finish_reason": "length"}]},
        {"stop_reason": "max_tokens"},
        {"candidates": [{"finishReason": "MAX_TOKENS"}]},
        {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}},
    ],
)
def test_each_api_s_length_stop_is_recognised(raw: dict[str, object]) -> None:
    assert hit_length_limit(raw)


def test_a_normal_stop_is_not_a_cut() -> None:
    assert not hit_length_limit({"choices": [{"finish_reason": "stop"}], "stop_reason": None})


PHOTO = ImagePart("image/png", b"\x89PNG fake", "photo:f1")
LOOK = [
    ChatMessage(Role.SYSTEM, "Be brief."),
    ChatMessage(Role.USER, "what is this?", images=(PHOTO,)),
]
PHOTO_B64 = base64.b64encode(PHOTO.data).decode()


def test_an_image_is_a_content_part_in_each_providers_shape() -> None:
    chat = build_request(Protocol.CHAT, SETTINGS, LOOK, [], stream=False).messages[-1]
    assert chat == {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PHOTO_B64}"}},
        ],
    }
    claude = build_request(Protocol.CLAUDE, SETTINGS, LOOK, [], stream=False).messages[-1]
    assert claude["content"][0] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PHOTO_B64},
    }
    assert claude["content"][1] == {"type": "text", "text": "what is this?"}
    google = build_request(Protocol.GOOGLE, SETTINGS, LOOK, [], stream=False).messages[-1]
    assert google["parts"][1] == {"inline_data": {"mime_type": "image/png", "data": PHOTO_B64}}
    responses = build_request(Protocol.RESPONSES, SETTINGS, LOOK, [], stream=False).messages[-1]
    assert responses["content"][1] == {
        "type": "input_image",
        "image_url": f"data:image/png;base64,{PHOTO_B64}",
    }


def test_a_message_without_images_stays_plain_text() -> None:
    plain = [ChatMessage(Role.USER, "hi")]
    assert build_request(Protocol.CHAT, SETTINGS, plain, [], stream=False).messages == [
        {"role": "user", "content": "hi"}
    ]
