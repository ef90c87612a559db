"""Turns our conversation, tools and settings into the arguments of an llm-async request."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llm_async.models import Tool  # type: ignore[import-untyped]

from minibot.adapters.config.schema import LLMSettings
from minibot.adapters.llm.provider_factory import Protocol
from minibot.core.conversation import ChatMessage, Role
from minibot.core.llm import ToolSpec


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """Everything passed to `provider.acomplete` besides the model name."""

    messages: list[dict[str, Any]]
    tools: list[Tool] | None
    options: dict[str, Any]


def build_request(
    protocol: Protocol,
    settings: LLMSettings,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec],
    *,
    stream: bool,
) -> ProviderRequest:
    system = "\n\n".join(m.content for m in messages if m.role is Role.SYSTEM)
    rest = [m for m in messages if m.role is not Role.SYSTEM]
    options = _options(protocol, settings, stream)
    if protocol is Protocol.RESPONSES:
        # llm-async's Responses provider drops system messages; the API takes `instructions`.
        if system:
            options["instructions"] = system
        mapped = [_responses_message(m) for m in rest]
    else:
        head = [{"role": "system", "content": system}] if system else []
        mapped = head + _merge_tool_results([_message(protocol, m, rest) for m in rest])
    llm_tools = [
        Tool(t.name, t.description, parameters=dict(t.parameters), input_schema=dict(t.parameters))
        for t in tools
    ]
    return ProviderRequest(mapped, llm_tools or None, options)


def _options(protocol: Protocol, settings: LLMSettings, stream: bool) -> dict[str, Any]:
    temperature, max_tokens = settings.temperature, settings.max_tokens
    options: dict[str, Any] = {}
    if protocol is Protocol.GOOGLE:
        config: dict[str, Any] = {}
        if temperature is not None:
            config["temperature"] = temperature
        if max_tokens is not None:
            config["maxOutputTokens"] = max_tokens
        return {"generationConfig": config} if config else {}
    if temperature is not None and protocol is not Protocol.CLAUDE:
        # llm-async 0.5.3's Claude provider forwards max_tokens only, so temperature is skipped.
        options["temperature"] = temperature
    if max_tokens is not None:
        key = "max_output_tokens" if protocol is Protocol.RESPONSES else "max_tokens"
        options[key] = max_tokens
    if stream and protocol is Protocol.CHAT:
        options["stream_options"] = {"include_usage": True}
    return options


def _arguments_object(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_name(call_id: str | None, history: Sequence[ChatMessage]) -> str:
    for message in history:
        for call in message.tool_calls:
            if call.id == call_id:
                return call.name
    return call_id or ""


def _message(protocol: Protocol, m: ChatMessage, history: Sequence[ChatMessage]) -> dict[str, Any]:
    # Content is always a string: some local servers reject an assistant `content: null`.
    if m.role is Role.TOOL:
        if protocol is Protocol.CHAT:
            return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
        if protocol is Protocol.CLAUDE:
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
        else:
            name = _tool_name(m.tool_call_id, history)
            block = {"type": "tool_result", "name": name, "content": m.content}
        return {"role": "user", "content": [block]}
    if m.role is Role.ASSISTANT and m.tool_calls:
        if protocol is Protocol.CLAUDE:
            blocks: list[dict[str, Any]] = (
                [{"type": "text", "text": m.content}] if m.content else []
            )
            blocks += [
                {
                    "type": "tool_use",
                    "id": c.id,
                    "name": c.name,
                    "input": _arguments_object(c.arguments),
                }
                for c in m.tool_calls
            ]
            return {"role": "assistant", "content": blocks}
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.name,
                    # Gemini wants the arguments as an object, OpenAI as JSON text.
                    "arguments": _arguments_object(c.arguments)
                    if protocol is Protocol.GOOGLE
                    else c.arguments,
                },
            }
            for c in m.tool_calls
        ]
        return {"role": "assistant", "content": m.content, "tool_calls": calls}
    if m.images:
        return _with_images(protocol, m)
    return {"role": m.role.value, "content": m.content}


def _with_images(protocol: Protocol, m: ChatMessage) -> dict[str, Any]:
    """A message with images: llm-async passes content parts through as given, each
    provider in its own shape (Gemini's as `parts`)."""
    encoded = [
        (image.mime_type, base64.b64encode(image.data).decode("ascii")) for image in m.images
    ]
    if protocol is Protocol.CLAUDE:
        blocks: list[dict[str, Any]] = [
            {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
            for mime, data in encoded
        ]
        return {"role": m.role.value, "content": [*blocks, {"type": "text", "text": m.content}]}
    if protocol is Protocol.GOOGLE:
        parts: list[dict[str, Any]] = [
            {"inline_data": {"mime_type": mime, "data": data}} for mime, data in encoded
        ]
        return {"role": m.role.value, "parts": [{"text": m.content}, *parts]}
    if protocol is Protocol.RESPONSES:
        items: list[dict[str, Any]] = [
            {"type": "input_image", "image_url": f"data:{mime};base64,{data}"}
            for mime, data in encoded
        ]
        return {
            "role": m.role.value,
            "content": [{"type": "input_text", "text": m.content}, *items],
        }
    urls: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}
        for mime, data in encoded
    ]
    return {"role": m.role.value, "content": [{"type": "text", "text": m.content}, *urls]}


def _merge_tool_results(mapped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claude and Gemini take the results of one turn's tool calls in one user message."""
    merged: list[dict[str, Any]] = []
    for message in mapped:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and message["role"] == previous["role"] == "user"
            and _is_tool_result(message)
            and _is_tool_result(previous)
        ):
            previous["content"] = [*previous["content"], *message["content"]]
        else:
            merged.append(message)
    return merged


def _is_tool_result(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and all(b.get("type") == "tool_result" for b in content)


def _responses_message(m: ChatMessage) -> dict[str, Any]:
    if m.role is Role.TOOL:
        return {"type": "function_call_output", "call_id": m.tool_call_id, "output": m.content}
    if m.role is Role.ASSISTANT and m.tool_calls:
        calls = [
            {
                "id": c.id,
                "type": "function",
                "input": {"call_id": c.id},
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in m.tool_calls
        ]
        return {"role": "assistant", "content": m.content, "tool_calls": calls}
    if m.images:
        return _with_images(Protocol.RESPONSES, m)
    return {"role": m.role.value, "content": m.content}
