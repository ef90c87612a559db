"""The alert hook: turns facts on the bus and the services' health into alerts sent once
when they start and once when they resolve (for operators who run no Prometheus)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from minibot.core.alerting import AlertChange, AlertRules
from minibot.core.commands import SendReply
from minibot.core.conversation import ConversationKey
from minibot.core.events import JobCompleted, JobFailed, JobMissed, TurnFinished
from minibot.core.health import Health
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Bus, Publish

log = logging.getLogger(__name__)

AlertSender = Callable[[AlertChange], Awaitable[None]]
HealthOf = Callable[[], Mapping[str, Health]]


class AlertHook:
    """Feeds `AlertRules` from the bus (turns, job runs) and, every
    `health_check_seconds`, from `services_health` (the daemon's services, set once the daemon
    exists); every change goes to each sender. A sender that fails is logged; the
    others still get it. Its own subscriptions are queued, so sending never holds up
    the publisher."""

    name = "alerts"

    def __init__(
        self,
        bus: Bus,
        rules: AlertRules,
        senders: Sequence[AlertSender],
        *,
        health_check_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rules = rules
        self._senders = tuple(senders)
        self._interval = health_check_seconds
        self._monotonic = monotonic
        self.services_health: HealthOf | None = None
        bus.subscribe(TurnFinished, self._on_turn, name="alerts-turns")
        bus.subscribe(JobFailed, self._on_job_failed, name="alerts-job-fails")
        bus.subscribe(JobMissed, self._on_job_missed, name="alerts-job-misses")
        bus.subscribe(JobCompleted, self._on_job_done, name="alerts-jobs")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check_health()

    async def check_health(self) -> None:
        if self.services_health is None:
            return
        # The hook does not alert about itself.
        services = {name: h for name, h in self.services_health().items() if name != self.name}
        for change in self._rules.services(services):
            await self._send(change)

    async def _on_turn(self, event: TurnFinished) -> None:
        await self._send(self._rules.turn(event.ok, self._monotonic()))

    async def _on_job_failed(self, event: JobFailed) -> None:
        await self._send(self._rules.job_failed(event.job_id, event.reason))

    async def _on_job_missed(self, event: JobMissed) -> None:
        await self._send(self._rules.job_failed(event.job_id, event.reason, missed=True))

    async def _on_job_done(self, event: JobCompleted) -> None:
        await self._send(self._rules.job_delivered(event.job_id))

    async def _send(self, change: AlertChange | None) -> None:
        if change is None:
            return
        log.warning(
            "alert firing" if change.firing else "alert resolved",
            extra={"alert": change.key, "summary": change.summary},
        )
        for sender in self._senders:
            try:
                await sender(change)
            except Exception as exc:
                log.error("alert not sent", extra={"alert": change.key, "error": repr(exc)})


def alert_text(change: AlertChange) -> str:
    """The message a person reads."""
    if change.firing:
        return f"ALERT (minibot): {change.summary}"
    return f"RESOLVED (minibot): {change.summary}"


def chat_sender(publish: Publish, conversation: ConversationKey) -> AlertSender:
    """Sends alerts to a chat as replies (split, rate-limited and ledgered like any)."""

    async def send(change: AlertChange) -> None:
        # A turn id of its own per message: the delivery ledger must not take a later
        # alert for one already sent.
        turn_id = f"alert-{secrets.token_hex(8)}"
        await publish(SendReply(OutgoingMessage(conversation, alert_text(change), turn_id)))

    return send
