"""The alert hook on a real bus: facts in, one message per change out to every sender."""

from __future__ import annotations

from datetime import UTC, datetime

from minibot.app.alert_hook import AlertHook, alert_text
from minibot.app.event_bus import EventBus
from minibot.core.alerting import AlertChange, AlertRules
from minibot.core.events import JobCompleted, JobFailed
from minibot.core.health import Health, HealthState


async def test_job_and_service_alerts_reach_every_sender_even_when_one_fails() -> None:
    bus = EventBus()
    got: list[AlertChange] = []

    async def broken(change: AlertChange) -> None:
        raise RuntimeError("webhook down")

    async def record(change: AlertChange) -> None:
        got.append(change)

    hook = AlertHook(
        bus,
        AlertRules(model_failures=3, window_seconds=60),
        [broken, record],
        health_check_seconds=3600,
    )
    health = {"telegram": Health(HealthState.DEGRADED, "token refused")}
    hook.services_health = lambda: health
    await bus.start()
    try:
        when = datetime.now(UTC)
        await bus.publish(JobFailed("j1", when, "LLM unavailable"))
        await bus.publish(JobFailed("j1", when, "LLM unavailable"))
        await bus.publish(JobCompleted("j1", when))
        await bus.join()
        await hook.check_health()
        health["telegram"] = Health(HealthState.READY)
        await hook.check_health()
        await hook.check_health()
    finally:
        await bus.stop()
    assert [(c.key, c.firing) for c in got] == [
        ("job:j1", True),
        ("job:j1", False),
        ("service:telegram", True),
        ("service:telegram", False),
    ]
    assert alert_text(got[0]) == "ALERT (minibot): scheduled job j1 failed: LLM unavailable"
    assert alert_text(got[3]).startswith("RESOLVED (minibot): service telegram is ready")
