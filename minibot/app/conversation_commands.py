"""/model, /busy and /context: what a conversation runs on, and what the model reads."""

from __future__ import annotations

import dataclasses

from minibot.app.commands import CommandReply, CommandRequest, CommandRouter
from minibot.app.conversation_service import ConversationService
from minibot.app.model_lineup import ModelOption
from minibot.core.conversation_settings import BusyPolicy
from minibot.core.ports.conversation_settings_store import ConversationSettingsStore

_CONTEXT_PREVIEW_CHARS = 600


class ConversationCommands:
    """Registers the per-conversation commands; choices are kept in the settings store,
    so they survive restarts."""

    def __init__(
        self,
        *,
        conversation: ConversationService,
        settings: ConversationSettingsStore,
        default_busy_policy: BusyPolicy,
    ) -> None:
        self._conversation = conversation
        self._settings = settings
        self._default_busy = default_busy_policy

    def register(self, router: CommandRouter) -> None:
        router.register("model", "list the models, or switch: /model <alias>", self.model)
        router.register("busy", "while I answer: /busy queue | steer | interrupt", self.busy)
        router.register("context", "what the model reads: summary, messages, tokens", self.context)

    async def model(self, request: CommandRequest) -> CommandReply:
        lineup = self._conversation.lineup
        conversation = request.message.conversation
        chosen = await self._settings.get(conversation)
        current = lineup.get(chosen.model_alias) or lineup.default
        alias = request.args.strip()
        if not alias:
            lines = ["Models (prices per million tokens, in / out):"]
            for option in lineup.options:
                mark = " <- this conversation" if option is current else ""
                lines.append(f"{_describe(option)}{mark}")
            lines.append("Switch with /model <alias>.")
            return CommandReply("\n".join(lines))
        picked = lineup.get(alias)
        if picked is None:
            known = ", ".join(o.alias for o in lineup.options)
            return CommandReply(f"I have no model called {alias!r}. Known: {known}.")
        stored = None if picked.alias == lineup.default_alias else picked.alias
        await self._settings.put(conversation, dataclasses.replace(chosen, model_alias=stored))
        return CommandReply(f"This conversation now uses {picked.alias} ({picked.model.model}).")

    async def busy(self, request: CommandRequest) -> CommandReply:
        conversation = request.message.conversation
        chosen = await self._settings.get(conversation)
        name = request.args.strip().lower()
        if not name:
            policy = chosen.busy_policy or self._default_busy
            return CommandReply(
                f"While I answer, a new message here will {policy}. "
                "Change with /busy queue | steer | interrupt."
            )
        try:
            policy = BusyPolicy(name)
        except ValueError:
            return CommandReply("Use /busy queue, /busy steer or /busy interrupt.")
        await self._settings.put(conversation, dataclasses.replace(chosen, busy_policy=policy))
        return CommandReply(f"Done: while I answer, a new message here will {policy}.")

    async def context(self, request: CommandRequest) -> CommandReply:
        view = await self._conversation.context_view(request.message.conversation, request.owner_id)
        lines = [
            f"Model: {view.model_alias} ({view.model})",
            f"Messages sent: {view.messages}, about {view.tokens} tokens "
            f"(history budget {view.token_budget})",
        ]
        if view.summary:
            summary = view.summary
            if len(summary) > _CONTEXT_PREVIEW_CHARS:
                summary = summary[:_CONTEXT_PREVIEW_CHARS] + "…"
            lines.append(f"Summary of earlier messages: {summary}")
        else:
            lines.append("Summary: none")
        if view.unsummarized:
            lines.append(f"{view.unsummarized} older messages will be summarized on the next turn.")
        return CommandReply("\n".join(lines))


def _describe(option: ModelOption) -> str:
    price = option.price
    cost = (
        f"${price.prompt_per_million:g} / ${price.completion_per_million:g}"
        if option.priced
        else "price unknown (counted as the dearest)"
    )
    extras = []
    if option.vision:
        extras.append("vision")
    if option.context_window:
        extras.append(f"{option.context_window} tokens context")
    more = f", {', '.join(extras)}" if extras else ""
    return f"{option.alias}: {option.model.model}, {cost}{more}"
