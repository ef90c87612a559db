"""Reads a whole (non-streamed) llm-async answer: text, tool calls, reported usage, model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llm_async.models import Response  # type: ignore[import-untyped]
from llm_async.models.tool_call import ToolCall as LibraryToolCall  # type: ignore[import-untyped]

from minibot.adapters.llm.provider_factory import Protocol
from minibot.core.conversation import ToolCall


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """An answer before usage estimation; `usage` is (prompt, completion) when reported."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: tuple[int, int] | None
    model: str
    truncated: bool = False  # the answer stopped at the length limit (max_tokens)


def parse_whole(protocol: Protocol, response: Response) -> ParsedAnswer:
    message = response.main_response
    raw = response.original if isinstance(response.original, dict) else {}
    text = message.content if message is not None and isinstance(message.content, str) else ""
    calls = tuple(
        _tool_call(c, index)
        for index, c in enumerate((message.tool_calls if message is not None else None) or [])
    )
    model = str(raw.get("model") or raw.get("modelVersion") or "")
    return ParsedAnswer(text, calls, reported_usage(protocol, raw), model, hit_length_limit(raw))


# How each API says an answer stopped at its length limit.
_LENGTH_STOPS = frozenset({"length", "max_tokens", "MAX_TOKENS"})


def hit_length_limit(raw: dict[str, Any]) -> bool:
    """Chat: a choice's finish_reason; Claude: stop_reason; Google: a candidate's
    finishReason; Responses: an incomplete status for max_output_tokens."""
    if raw.get("stop_reason") in _LENGTH_STOPS:
        return True
    for choice in raw.get("choices") or raw.get("candidates") or []:
        if isinstance(choice, dict):
            reason = choice.get("finish_reason") or choice.get("finishReason")
            if reason in _LENGTH_STOPS:
                return True
    details = raw.get("incomplete_details")
    return isinstance(details, dict) and details.get("reason") == "max_output_tokens"


def reported_usage(protocol: Protocol, raw: dict[str, Any]) -> tuple[int, int] | None:
    """Each API names its counters differently; a missing block means 'not reported'."""
    if protocol is Protocol.GOOGLE:
        meta = raw.get("usageMetadata")
        if isinstance(meta, dict) and "promptTokenCount" in meta:
            return int(meta["promptTokenCount"]), int(meta.get("candidatesTokenCount", 0))
        return None
    usage = raw.get("usage")
    if not isinstance(usage, dict):
        return None
    if protocol is Protocol.CHAT:
        if "prompt_tokens" not in usage:
            return None
        return int(usage["prompt_tokens"]), int(usage.get("completion_tokens") or 0)
    if "input_tokens" not in usage:
        return None
    return int(usage["input_tokens"]), int(usage.get("output_tokens") or 0)


def arguments_text(arguments: Any) -> str:
    """Our ToolCall keeps arguments as JSON text; Claude and Gemini hand over objects."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {})


def _tool_call(call: LibraryToolCall, index: int) -> ToolCall:
    function = call.function or {}
    if call.type == "tool_use":  # Claude
        return ToolCall(call.id, call.name or "", arguments_text(call.input))
    # The Responses API answers a tool result by `call_id`, not by the item id.
    call_id = (call.input or {}).get("call_id") if isinstance(call.input, dict) else None
    name = function.get("name") or call.name or ""
    return ToolCall(
        str(call_id or call.id or f"call_{index}"), name, arguments_text(function.get("arguments"))
    )
