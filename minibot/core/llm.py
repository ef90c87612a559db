"""What the model is asked and what it answers, independent of any provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from minibot.core.conversation import ToolCall


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model: `parameters` is a JSON schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens one request cost; `estimated` when the provider did not report them."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Completion:
    """The model's answer: text, tool calls, or both."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: TokenUsage | None = None
    model: str = ""
    # The answer stopped at the length limit (max_tokens): the person is told it is cut.
    truncated: bool = False
