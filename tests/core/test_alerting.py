"""The alert rules: each alert once when it starts, once when it resolves."""

from __future__ import annotations

from minibot.core.alerting import AlertChange, AlertRules
from minibot.core.health import Health, HealthState


def rules() -> AlertRules:
    return AlertRules(model_failures=3, window_seconds=60)


def test_model_failures_alert_only_when_n_fall_within_the_window() -> None:
    r = rules()
    assert r.turn(False, 0) is None
    assert r.turn(False, 30) is None
    assert r.turn(False, 61) is None, "the first failure has left the window"
    fired = r.turn(False, 80)
    assert fired == AlertChange("model", True, "the model failed 3 turns within 60 seconds")
    assert r.turn(False, 81) is None, "no repeat while it fires"
    resolved = r.turn(True, 90)
    assert resolved is not None and not resolved.firing and resolved.key == "model"
    assert r.turn(True, 91) is None, "resolved once"


def test_a_success_between_failures_starts_the_count_again() -> None:
    r = rules()
    r.turn(False, 0)
    r.turn(False, 1)
    assert r.turn(True, 2) is None, "nothing fired, nothing to resolve"
    assert r.turn(False, 3) is None


def test_a_job_alert_resolves_when_that_job_runs_again() -> None:
    r = rules()
    fired = r.job_failed("j1", "model down")
    assert fired is not None and fired.firing and "j1" in fired.summary
    assert r.job_failed("j1", "again") is None
    missed = r.job_failed("j2", "daemon was down", missed=True)
    assert missed is not None and "missed" in missed.summary
    assert r.job_delivered("j3") is None
    resolved = r.job_delivered("j1")
    assert resolved is not None and not resolved.firing
    assert r.firing == {"job:j2"}


def test_a_service_alert_fires_when_degraded_and_resolves_when_ready() -> None:
    r = rules()
    ready = {"telegram": Health(HealthState.READY), "db": Health(HealthState.READY)}
    assert r.services(ready) == []
    degraded = {**ready, "telegram": Health(HealthState.DEGRADED, "token refused")}
    [fired] = r.services(degraded)
    assert fired.key == "service:telegram" and "token refused" in fired.summary
    assert r.services(degraded) == [], "no repeat"
    [resolved] = r.services(ready)
    assert resolved == AlertChange("service:telegram", False, "service telegram is ready again")
    assert r.services({"db": Health(HealthState.STARTING)}) == []
