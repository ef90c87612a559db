"""The daemon: starts services in order, supervises their loops, stops them in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from minibot.core.backoff import Backoff
from minibot.core.health import Health, HealthState
from minibot.shared.correlation import in_component

log = logging.getLogger(__name__)

# (young, middle, old) thresholds of the cyclic garbage collector once started.
_GC_THRESHOLDS = (20_000, 50, 20)

# Each service has at least this long to close its resources, however late in the stop.
_MIN_STOP_SECONDS = 1.0


class Service(Protocol):
    """A part of the daemon with a lifecycle. `start` acquires what it needs (and returns
    once the service can be used), `stop` releases it and is safe to call twice or after
    a failed start. A service with a loop also has `run` (see `Looping`); one that can
    say how it is doing has `health` (see `Reporting`)."""

    @property
    def name(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class Looping(Protocol):
    """A service with a long-running loop, supervised (and restarted) by the daemon.
    The daemon starts `run` right after `start` and lets it run until the service's
    `stop` has returned (which should end it), cancelling it then if it still runs."""

    @property
    def name(self) -> str: ...

    async def run(self) -> None: ...


@runtime_checkable
class Reporting(Protocol):
    """A service that says whether it is ready or degraded, and why."""

    @property
    def health(self) -> Health: ...


@runtime_checkable
class Draining(Protocol):
    """A service that can wait until the work it holds is done."""

    async def join(self) -> None: ...


@runtime_checkable
class Opening(Protocol):
    """A service that takes work from outside only once every service has started."""

    async def open_intake(self) -> None: ...


@runtime_checkable
class Intake(Protocol):
    """A service that receives work from outside and can stop doing so first."""

    async def close_intake(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How the daemon treats a service: a crash of a `critical` loop stops the daemon
    with exit code 1; a loop whose service is `ends_daemon` stops it cleanly when it
    returns (the console at end of input)."""

    service: Any
    critical: bool = False
    ends_daemon: bool = False


@dataclass(frozen=True, slots=True)
class DaemonHealth:
    """The daemon's health: the worst of its services', and each service's own."""

    state: HealthState
    services: dict[str, Health]


_SEVERITY = {
    HealthState.READY: 0,
    HealthState.STARTING: 1,
    HealthState.DEGRADED: 2,
    HealthState.STOPPED: 3,
}


class Daemon:
    """Runs services: `start()` in the given order, each one's `run()` loop supervised in
    one TaskGroup from right after its start until its stop, and on `request_stop()`
    (SIGINT/SIGTERM, end of console input, or a critical loop that failed) intake closed
    first, work in flight drained, then `stop()` in reverse order, all within
    `shutdown_timeout_seconds`.
    """

    def __init__(
        self,
        services: Sequence[ServiceSpec],
        *,
        shutdown_timeout_seconds: float = 10.0,
        restart_initial_delay_seconds: float = 0.5,
        restart_max_delay_seconds: float = 30.0,
        max_restarts: int = 5,
    ) -> None:
        self._specs = list(services)
        self._shutdown_timeout = shutdown_timeout_seconds
        # Half jitter: services that crashed together do not all restart together.
        self._restart_backoff = Backoff(
            restart_initial_delay_seconds, restart_max_delay_seconds, jitter=0.5
        )
        self._max_restarts = max_restarts
        self._stop_requested = asyncio.Event()
        self._started: list[Any] = []
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._states = {spec.service.name: HealthState.STARTING for spec in self._specs}
        self._crashed: dict[str, str] = {}
        self._exit_code = 0

    def request_stop(self) -> None:
        if not self._stop_requested.is_set():
            log.info("stop requested")
        self._stop_requested.set()

    @property
    def health(self) -> DaemonHealth:
        services: dict[str, Health] = {}
        for spec in self._specs:
            name = spec.service.name
            state = self._states[name]
            if name in self._crashed and state is HealthState.READY:
                services[name] = Health(HealthState.DEGRADED, self._crashed[name])
            elif state is HealthState.READY and isinstance(spec.service, Reporting):
                services[name] = spec.service.health
            else:
                services[name] = Health(state)
        worst = max((h.state for h in services.values()), key=_SEVERITY.__getitem__)
        return DaemonHealth(worst if services else HealthState.READY, services)

    async def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        try:
            async with asyncio.TaskGroup() as group:
                try:
                    await self._start_all(group)
                    await self._open_intake()
                except Exception:
                    log.exception("start-up failed; shutting down")
                    self._exit_code = 1
                else:
                    self._settle_memory()
                    log.info("minibot started", extra={"services": ",".join(self._names())})
                    await self._stop_requested.wait()
                await self._shutdown()
        except* Exception:
            log.exception("the daemon failed; stopping")
            self._exit_code = 1
        log.info("minibot stopped", extra={"exit_code": self._exit_code})
        return self._exit_code

    @staticmethod
    def _settle_memory() -> None:
        # Everything built at start-up (stores, indexes, the scheduler's heap) lives as
        # long as the process: keep it out of the collector's full passes, which would
        # otherwise walk it and stall timers by milliseconds each time.
        gc.freeze()
        # Most garbage is freed by reference counting; the cyclic collector's young
        # passes, every 700 allocations by default, cost more than they find in a busy
        # daemon (measured: ~5% more replies per second with these thresholds).
        gc.set_threshold(*_GC_THRESHOLDS)

    def _names(self) -> list[str]:
        return [spec.service.name for spec in self._specs]

    async def _start_all(self, group: asyncio.TaskGroup) -> None:
        for spec in self._specs:
            service = spec.service
            with in_component(service.name):
                await service.start()
            self._started.append(service)
            self._states[service.name] = HealthState.READY
            # The loop runs from here on, so the services started next can rely on it
            # (the database's writer before the channels re-read their inbox).
            if isinstance(service, Looping):
                self._loops[service.name] = group.create_task(
                    self._supervise(spec), name=f"loop:{service.name}"
                )

    async def _open_intake(self) -> None:
        for service in self._started:
            name = service.name
            if isinstance(service, Opening):
                with in_component(name):
                    await service.open_intake()

    async def _supervise(self, spec: ServiceSpec) -> None:
        service = spec.service
        failures = 0
        with in_component(service.name):
            while True:
                try:
                    await service.run()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    log.exception(
                        "service crashed", extra={"service": service.name, "failures": failures}
                    )
                    self._crashed[service.name] = f"its loop crashed: {exc!r}"
                    if spec.critical or failures > self._max_restarts:
                        log.error(
                            "critical service failed; shutting down",
                            extra={"service": service.name, "error": repr(exc)},
                        )
                        self._exit_code = 1
                        self.request_stop()
                        return
                    await asyncio.sleep(self._restart_backoff.delay(failures))
                    log.info("restarting service", extra={"service": service.name})
                    self._crashed.pop(service.name, None)
                    continue
                if spec.ends_daemon:
                    self.request_stop()
                return

    async def _shutdown(self) -> None:
        started = list(self._started)
        # One budget for the whole stop (a supervisor such as systemd or Docker kills a
        # process that outlives its own): draining uses what it needs of it, and each
        # service then stops within what is left, but never less than a second.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._shutdown_timeout
        try:
            async with asyncio.timeout_at(deadline):
                for service in started:
                    if isinstance(service, Intake):
                        await service.close_intake()
                await self._drain(started)
        except TimeoutError:
            log.warning("shutdown timed out while draining; stopping anyway")
        for service in reversed(started):
            try:
                with in_component(service.name):
                    budget = max(deadline - loop.time(), _MIN_STOP_SECONDS)
                    async with asyncio.timeout(budget):
                        await service.stop()
                        await self._end_loop(service.name)
                log.info("service stopped", extra={"service": service.name})
            except Exception:
                log.exception("service failed to stop", extra={"service": service.name})
            finally:
                await self._end_loop(service.name)
                self._states[service.name] = HealthState.STOPPED
        self._started.clear()

    async def _end_loop(self, name: str) -> None:
        """End a stopped service's loop: its `stop` has done what the loop was for (a
        writer flushed its queue), so what still runs is cancelled."""
        task = self._loops.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    async def _drain(self, services: list[Any]) -> None:
        # Work moves between services (bus → dispatcher → bus → delivery), so drain in
        # passes until one pass finds everything already idle.
        draining = [s for s in services if isinstance(s, Draining)]
        for _ in range(10):
            busy = [s for s in draining if getattr(s, "busy", True)]
            if not busy:
                return
            for service in draining:
                await service.join()
