"""The refused-token pause grows by the shared back-off: 1 s doubling to 60 s."""

from __future__ import annotations

from minibot.app.channels.token_gate import TokenGate
from minibot.core.health import HealthBoard, HealthState


def test_each_refused_probe_doubles_the_pause_up_to_a_minute() -> None:
    gate = TokenGate(HealthBoard())
    now = 0.0
    pauses = []
    for _ in range(9):
        gate.token_refused("401", now)
        pauses.append(gate.resume_at - now)
        now = gate.resume_at

    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_once_accepted_a_new_refusal_starts_from_the_first_pause_again() -> None:
    health = HealthBoard()
    health.started()
    gate = TokenGate(health)
    for now in (0.0, 1.0, 3.0):
        gate.token_refused("401", now)
    assert health.health.state is HealthState.DEGRADED

    gate.token_accepted()
    gate.token_refused("401", 100.0)

    assert gate.resume_at == 101.0
