"""The daemon's lifecycle: order of start and stop, restarts with backoff, critical failures."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import pytest

from minibot.app.daemon import Daemon, ServiceSpec
from minibot.core.health import Health, HealthBoard, HealthState


@dataclass
class Recorder:
    events: list[str] = field(default_factory=list)


@dataclass
class Plain:
    name: str
    recorder: Recorder

    async def start(self) -> None:
        self.recorder.events.append(f"start {self.name}")

    async def stop(self) -> None:
        self.recorder.events.append(f"stop {self.name}")


@dataclass
class Crashing(Plain):
    crashes: int = 0
    runs: int = 0

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= self.crashes:
            raise RuntimeError(f"crash {self.runs}")
        await asyncio.Event().wait()


@dataclass
class Intaking(Plain):
    async def close_intake(self) -> None:
        self.recorder.events.append(f"close intake {self.name}")


@dataclass
class Opening(Plain):
    async def open_intake(self) -> None:
        self.recorder.events.append(f"open intake {self.name}")


def daemon(*specs: ServiceSpec, max_restarts: int = 3) -> Daemon:
    return Daemon(
        specs,
        shutdown_timeout_seconds=2,
        restart_initial_delay_seconds=0.01,
        restart_max_delay_seconds=0.02,
        max_restarts=max_restarts,
    )


async def test_services_start_in_order_and_stop_in_reverse_after_intake_closes() -> None:
    r = Recorder()
    d = daemon(
        ServiceSpec(Plain("storage", r)),
        ServiceSpec(Plain("bus", r)),
        ServiceSpec(Intaking("channel", r)),
    )
    task = asyncio.create_task(d.run())
    await asyncio.sleep(0.05)
    d.request_stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert r.events == [
        "start storage",
        "start bus",
        "start channel",
        "close intake channel",
        "stop channel",
        "stop bus",
        "stop storage",
    ]


async def test_a_bus_takes_work_only_once_every_service_has_started() -> None:
    # A replica's bus must not hand it a reply before its channel is up.
    r = Recorder()
    d = daemon(
        ServiceSpec(Plain("storage", r)),
        ServiceSpec(Opening("bus", r)),
        ServiceSpec(Plain("channel", r)),
    )
    task = asyncio.create_task(d.run())
    await asyncio.sleep(0.05)
    d.request_stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert r.events[:4] == ["start storage", "start bus", "start channel", "open intake bus"]


async def test_a_crashing_service_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    r = Recorder()
    flaky = Crashing("flaky", r, crashes=2)
    d = daemon(ServiceSpec(flaky))
    task = asyncio.create_task(d.run())
    for _ in range(200):
        if flaky.runs == 3:
            break
        await asyncio.sleep(0.01)
    assert flaky.runs == 3
    d.request_stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert caplog.text.count("service crashed") == 2
    assert "RuntimeError: crash 1" in caplog.text


async def test_a_critical_crash_stops_the_daemon_with_exit_1() -> None:
    r = Recorder()
    d = daemon(
        ServiceSpec(Plain("storage", r)), ServiceSpec(Crashing("core", r, crashes=1), critical=True)
    )
    code = await asyncio.wait_for(d.run(), 5)
    assert code == 1
    assert r.events[-2:] == ["stop core", "stop storage"]


async def test_too_many_restarts_stop_the_daemon() -> None:
    r = Recorder()
    d = daemon(ServiceSpec(Crashing("flaky", r, crashes=100)), max_restarts=2)
    assert await asyncio.wait_for(d.run(), 5) == 1


async def test_a_failed_start_stops_what_already_started(caplog: pytest.LogCaptureFixture) -> None:
    r = Recorder()

    @dataclass
    class Broken(Plain):
        async def start(self) -> None:
            raise OSError("port in use")

    d = daemon(ServiceSpec(Plain("storage", r)), ServiceSpec(Broken("web", r)))
    with caplog.at_level(logging.ERROR):
        assert await asyncio.wait_for(d.run(), 5) == 1
    assert r.events == ["start storage", "stop storage"]
    assert "port in use" in caplog.text


async def test_a_service_that_ends_the_daemon_stops_it_cleanly() -> None:
    r = Recorder()

    @dataclass
    class Finite(Plain):
        async def run(self) -> None:
            await asyncio.sleep(0.01)

    d = daemon(
        ServiceSpec(Plain("storage", r)), ServiceSpec(Finite("console", r), ends_daemon=True)
    )
    assert await asyncio.wait_for(d.run(), 5) == 0
    assert r.events[-1] == "stop storage"


@dataclass
class Stuck(Plain):
    """Never idle, and slow to stop: the worst case for the shutdown budget."""

    busy: bool = True

    async def join(self) -> None:
        await asyncio.Event().wait()

    async def stop(self) -> None:
        self.recorder.events.append(f"stop {self.name}")
        await asyncio.Event().wait()


async def test_a_stuck_drain_and_stuck_stops_keep_to_one_shutdown_budget() -> None:
    r = Recorder()
    d = Daemon(
        [ServiceSpec(Plain("storage", r)), ServiceSpec(Stuck("lanes", r))],
        shutdown_timeout_seconds=2,
    )
    task = asyncio.create_task(d.run())
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    began = loop.time()
    d.request_stop()

    assert await asyncio.wait_for(task, 10) == 0
    # The drain spends the whole budget; the stuck stop then gets only the minimum
    # second (not a budget of its own); the storage still stops after it.
    assert loop.time() - began < 2 + 1 + 0.5
    assert r.events[-2:] == ["stop lanes", "stop storage"]


@dataclass
class Writer(Plain):
    """A loop the services started after it depend on, like the database's writer."""

    looping: bool = False

    async def run(self) -> None:
        self.looping = True
        try:
            await asyncio.Event().wait()
        finally:
            self.looping = False


@dataclass
class NeedsWriter(Plain):
    writer: Writer | None = None

    async def start(self) -> None:
        await asyncio.sleep(0)
        assert self.writer is not None
        self.recorder.events.append(f"start {self.name}: writer looping={self.writer.looping}")

    async def stop(self) -> None:
        assert self.writer is not None
        self.recorder.events.append(f"stop {self.name}: writer looping={self.writer.looping}")


async def test_a_loop_runs_from_its_service_start_until_its_service_stops() -> None:
    r = Recorder()
    writer = Writer("database", r)
    d = daemon(ServiceSpec(writer), ServiceSpec(NeedsWriter("channel", r, writer=writer)))
    task = asyncio.create_task(d.run())
    await asyncio.sleep(0.05)
    d.request_stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert "start channel: writer looping=True" in r.events
    assert "stop channel: writer looping=True" in r.events
    assert writer.looping is False


@dataclass
class Reported(Plain):
    board: HealthBoard = field(default_factory=HealthBoard)

    @property
    def health(self) -> Health:
        return self.board.health


async def test_the_daemon_aggregates_each_service_health() -> None:
    r = Recorder()
    channel = Reported("channel", r)
    flaky = Crashing("flaky", r, crashes=1)
    d = Daemon(
        [ServiceSpec(Plain("storage", r)), ServiceSpec(channel), ServiceSpec(flaky)],
        shutdown_timeout_seconds=2,
        restart_initial_delay_seconds=5,
        max_restarts=3,
    )
    assert d.health.state is HealthState.STARTING
    channel.board.started()
    task = asyncio.create_task(d.run())
    for _ in range(200):
        if flaky.runs:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    health = d.health
    assert health.services["storage"] == Health(HealthState.READY)
    # A loop that crashed and waits for its restart is degraded, saying why.
    assert health.services["flaky"].state is HealthState.DEGRADED
    assert "crash 1" in (health.services["flaky"].reason or "")
    channel.board.degrade("auth", "the bot token was revoked")
    assert d.health.services["channel"] == Health(HealthState.DEGRADED, "the bot token was revoked")
    assert d.health.state is HealthState.DEGRADED
    d.request_stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert d.health.state is HealthState.STOPPED
    assert {h.state for h in d.health.services.values()} == {HealthState.STOPPED}
