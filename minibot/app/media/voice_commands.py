"""/voice: whether this conversation's answers are spoken."""

from __future__ import annotations

from minibot.app.commands import CommandReply, CommandRequest, CommandRouter
from minibot.core.media import VoiceMode
from minibot.core.ports.media import VoicePreferences

_SAID = {
    VoiceMode.OFF: "Voice is off: I answer in text.",
    VoiceMode.ON: "Voice is on: I answer with voice notes (long answers come as text too).",
    VoiceMode.AUTO: "Voice is auto: I answer voice notes with voice, and text with text.",
}


class VoiceCommands:
    """`/voice off | on | auto` sets the mode; `/voice` alone says it."""

    def __init__(self, voices: VoicePreferences) -> None:
        self._voices = voices

    def register(self, router: CommandRouter) -> None:
        router.register("voice", "answer with voice notes: /voice off | on | auto", self.voice)

    async def voice(self, request: CommandRequest) -> CommandReply:
        conversation = request.message.conversation
        wanted = request.args.strip().lower()
        if not wanted:
            return CommandReply(_SAID[await self._voices.mode(conversation)])
        if wanted not in VoiceMode._value2member_map_:
            return CommandReply("Use /voice off, /voice on or /voice auto.")
        mode = VoiceMode(wanted)
        await self._voices.set_mode(conversation, mode)
        return CommandReply(_SAID[mode])
