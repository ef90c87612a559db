"""Who spoke in a conversation's history, and what of it a speaker's turn may use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from minibot.core.conversation import ChatMessage, Role

# The meta key of a group message: the owner id of the person whose turn it belongs to.
SPEAKER = "speaker"


@dataclass(frozen=True, slots=True)
class SpeakerView:
    """A turn's history as its speaker may use it.

    `in_group`: several people share the conversation (said by the channel, or seen in
    the history's speaker marks). `others_spoke`: the history holds text that is not
    the speaker's own (a group message without a speaker mark counts as someone
    else's), so it must not steer tools that touch the speaker's data.
    """

    history: list[ChatMessage]
    in_group: bool
    others_spoke: bool


def view_for(speaker: str, history: Sequence[ChatMessage], *, in_group: bool) -> SpeakerView:
    """In a group, other people's tool calls and results are left out (they hold their
    data, never shown to the group as such); their words and the answers to them stay,
    but mark the turn as one where others spoke. A one-on-one chat is used as it is."""
    in_group = in_group or any(SPEAKER in m.meta for m in history)
    if not in_group:
        return SpeakerView(list(history), in_group=False, others_spoke=False)
    visible = [m for m in history if m.meta.get(SPEAKER) == speaker or not _tool_exchange(m)]
    others = any(m.meta.get(SPEAKER) != speaker for m in visible)
    return SpeakerView(visible, in_group=True, others_spoke=others)


def _tool_exchange(message: ChatMessage) -> bool:
    return message.role is Role.TOOL or bool(message.tool_calls)
