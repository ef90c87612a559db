from minibot.core.health import Health, HealthBoard, HealthState


def test_a_service_is_degraded_while_any_condition_lasts() -> None:
    board = HealthBoard()
    assert board.health == Health(HealthState.STARTING)
    board.started()
    board.degrade("auth", "the bot token was revoked")
    board.degrade("disk", "the database is full")
    assert board.health.state is HealthState.DEGRADED
    assert "revoked" in (board.health.reason or "") and "full" in (board.health.reason or "")
    board.recover("auth")
    assert board.health == Health(HealthState.DEGRADED, "the database is full")
    board.recover("disk")
    assert board.health == Health(HealthState.READY)
    board.stopped()
    assert board.health == Health(HealthState.STOPPED)
