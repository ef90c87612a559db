"""Assembles a streamed answer from raw SSE events: text deltas, tool calls, usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from minibot.adapters.llm.completion_parsing import (
    ParsedAnswer,
    arguments_text,
    hit_length_limit,
    reported_usage,
)
from minibot.adapters.llm.provider_factory import Protocol
from minibot.core.conversation import ToolCall


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class StreamAssembler:
    """Feed it each event in order; `feed` returns the new text, if the event carried any."""

    protocol: Protocol
    text: str = ""
    model: str = ""
    usage: tuple[int, int] | None = None
    truncated: bool = False
    _calls: dict[int, _PartialCall] = field(default_factory=dict)

    def feed(self, event: dict[str, Any]) -> str:
        handler = {
            Protocol.CHAT: self._chat,
            Protocol.RESPONSES: self._responses,
            Protocol.CLAUDE: self._claude,
            Protocol.GOOGLE: self._google,
        }[self.protocol]
        # Where the stop reason rides: the event (chat, Google), Claude's message_delta's
        # `delta`, the Responses API's final `response`.
        self.truncated = self.truncated or any(
            isinstance(part, dict) and hit_length_limit(part)
            for part in (event, event.get("delta"), event.get("response"))
        )
        delta = handler(event)
        self.text += delta
        return delta

    def result(self) -> ParsedAnswer:
        calls = tuple(
            ToolCall(c.id or f"call_{i}", c.name, c.arguments or "{}")
            for i, c in sorted(self._calls.items())
        )
        return ParsedAnswer(self.text, calls, self.usage, self.model, self.truncated)

    def _chat(self, event: dict[str, Any]) -> str:
        self.model = event.get("model") or self.model
        self.usage = reported_usage(Protocol.CHAT, event) or self.usage
        choices = event.get("choices") or []
        if not choices:
            return ""
        delta = choices[0].get("delta") or {}
        for fragment in delta.get("tool_calls") or []:
            # The id and name arrive once; the arguments arrive in pieces under the same index.
            call = self._calls.setdefault(int(fragment.get("index", 0)), _PartialCall())
            call.id = fragment.get("id") or call.id
            function = fragment.get("function") or {}
            call.name = function.get("name") or call.name
            call.arguments += function.get("arguments") or ""
        return delta.get("content") or ""

    def _responses(self, event: dict[str, Any]) -> str:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            return str(event.get("delta") or "")
        if kind == "response.output_item.done":
            item = event.get("item") or {}
            if item.get("type") == "function_call":
                call = _PartialCall(
                    item.get("call_id") or item.get("id", ""),
                    item.get("name", ""),
                    arguments_text(item.get("arguments")),
                )
                self._calls[len(self._calls)] = call
        elif kind == "response.completed":
            response = event.get("response") or {}
            self.model = response.get("model") or self.model
            self.usage = reported_usage(Protocol.RESPONSES, response)
        return ""

    def _claude(self, event: dict[str, Any]) -> str:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.model = message.get("model") or self.model
            prompt = (message.get("usage") or {}).get("input_tokens")
            if prompt is not None:
                self.usage = (int(prompt), 0)
        elif kind == "message_delta":
            completion = (event.get("usage") or {}).get("output_tokens")
            if completion is not None:
                self.usage = ((self.usage or (0, 0))[0], int(completion))
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                call = _PartialCall(block.get("id", ""), block.get("name", ""))
                self._calls[int(event.get("index", len(self._calls)))] = call
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "input_json_delta":
                call = self._calls.setdefault(int(event.get("index", 0)), _PartialCall())
                call.arguments += delta.get("partial_json") or ""
            return str(delta.get("text") or "")
        return ""

    def _google(self, event: dict[str, Any]) -> str:
        self.model = event.get("modelVersion") or self.model
        self.usage = reported_usage(Protocol.GOOGLE, event) or self.usage
        candidates = event.get("candidates") or []
        if not candidates:
            return ""
        text = ""
        for part in (candidates[0].get("content") or {}).get("parts") or []:
            if "text" in part:
                text += str(part["text"])
            elif "functionCall" in part:
                function = part["functionCall"]
                index = len(self._calls)
                self._calls[index] = _PartialCall(
                    f"call_{index}", function.get("name", ""), arguments_text(function.get("args"))
                )
        return text
