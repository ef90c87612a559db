"""The commands every deployment has: /start, /help, /reset and /usage."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC

from minibot.app.budget_guard import BudgetGuard
from minibot.app.commands import CommandReply, CommandRequest, CommandRouter
from minibot.core.ports.clock import Clock
from minibot.core.ports.conversation_memory import ConversationMemory
from minibot.core.ports.conversation_settings_store import ConversationSettingsStore
from minibot.core.ports.usage_ledger import UsageLedger
from minibot.core.usage import UsageTotals


class BasicCommands:
    """Registers the basic commands on a router; `tool_names` is read when /help runs."""

    def __init__(
        self,
        *,
        memory: ConversationMemory,
        usage: UsageLedger,
        clock: Clock,
        tool_names: Callable[[], tuple[str, ...]],
        budget: BudgetGuard | None = None,
        conversation_settings: ConversationSettingsStore | None = None,
    ) -> None:
        self._budget = budget
        self._chats = conversation_settings
        self._memory = memory
        self._usage = usage
        self._clock = clock
        self._tool_names = tool_names
        self._router: CommandRouter | None = None

    def register(self, router: CommandRouter) -> None:
        self._router = router
        router.register("start", "say hello and show what I can do", self.start)
        router.register("help", "list commands and tools", self.help)
        router.register("reset", "forget this conversation's context", self.reset)
        router.register("usage", "tokens, cost and budgets", self.usage)

    async def start(self, request: CommandRequest) -> CommandReply:
        name = request.message.sender.display_name or "there"
        return CommandReply(
            f"Hi {name}! I am minibot, your personal assistant. Write to me in plain words; "
            "I remember our conversation. Send /help to see what else I can do."
        )

    async def help(self, request: CommandRequest) -> CommandReply:
        assert self._router is not None
        lines = ["Commands:"]
        lines += [f"/{name} - {description}" for name, description in self._router.commands]
        tools = self._tool_names()
        if tools:
            lines += ["", "Tools I can use while we talk: " + ", ".join(tools)]
        return CommandReply("\n".join(lines))

    async def reset(self, request: CommandRequest) -> CommandReply:
        conversation = request.message.conversation
        dropped = await self._memory.clear(conversation)
        if self._chats is not None:
            # The summary is of the forgotten messages: forgotten with them.
            chosen = await self._chats.get(conversation)
            if chosen.summary is not None:
                await self._chats.put(conversation, dataclasses.replace(chosen, summary=None))
        return CommandReply(
            f"Done: I forgot this conversation's context ({dropped} messages). "
            "Notes you asked me to remember are kept (see /memory)."
        )

    async def usage(self, request: CommandRequest) -> CommandReply:
        now = self._clock.now().astimezone(UTC)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        today = await self._usage.totals(request.owner_id, since=day)
        this_month = await self._usage.totals(request.owner_id, since=month)
        total = await self._usage.totals(request.owner_id)
        text = (
            "Your LLM usage (UTC days):\n"
            f"today: {_line(today)}\nthis month: {_line(this_month)}\nin total: {_line(total)}"
        )
        if self._budget is not None:
            budgets = await self._budget.status_lines(request.owner_id)
            if budgets:
                text += "\n\n" + "\n".join(budgets)
        return CommandReply(text)


def _line(totals: UsageTotals) -> str:
    tokens = totals.prompt_tokens + totals.completion_tokens
    return (
        f"{totals.requests} requests, {tokens} tokens "
        f"({totals.prompt_tokens} in, {totals.completion_tokens} out), ${totals.cost_usd:.4f}"
    )
