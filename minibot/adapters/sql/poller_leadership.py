"""Leadership among replicas through a PostgreSQL session advisory lock, held on a
dedicated connection (asyncpg) with `idle_session_timeout` and a heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from typing import Any

from minibot.core.backoff import Backoff
from minibot.core.health import HealthBoard

log = logging.getLogger(__name__)

# The health condition degraded while the lock's database cannot be reached.
LEADERSHIP = "leadership"


def lock_key(name: str) -> int:
    """A stable 32-bit advisory lock key for `name` (say, the Telegram bot's id)."""
    return zlib.crc32(f"minibot:{name}".encode())


def asyncpg_dsn(url: str) -> str:
    """SQLAlchemy's `postgresql+asyncpg://` URL as asyncpg's own DSN."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgresql"):
        raise ValueError("the leadership lock needs a postgresql:// URL")
    return f"postgresql://{rest}"


class PostgresLeadership:
    """The `Leadership` port on a PostgreSQL session advisory lock.

    The lock lives as long as its session. A holder that crashes closes its socket, so
    the server ends the session and frees the lock at once; a holder that hangs (stopped,
    frozen) stops sending its heartbeat, and the server ends its idle session after
    `timeout_seconds` (`idle_session_timeout`). The heartbeat runs every fifth of that;
    `held` is True only while the last heartbeat answered less than half of it ago, so a
    hung holder stops believing it leads well before the server frees the lock to
    another replica. A contender tries the lock every `retry_seconds`."""

    def __init__(
        self,
        dsn: str,
        key: int,
        *,
        timeout_seconds: float = 5.0,
        retry_seconds: float = 0.1,
        health: HealthBoard | None = None,
        name: str = "telegram poller",
    ) -> None:
        self._dsn = dsn
        self._key = key
        self._timeout_seconds = timeout_seconds
        self._heartbeat_seconds = timeout_seconds / 5
        self._valid_seconds = timeout_seconds / 2
        self._retry_seconds = retry_seconds
        self._backoff = Backoff(retry_seconds, 5.0, jitter=0.5)
        self._health = health or HealthBoard()
        self._name = name
        # An asyncpg connection (asyncpg ships no type information).
        self._connection: Any = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._last_proof = float("-inf")
        self._lost = asyncio.Event()
        self._lost.set()

    @property
    def held(self) -> bool:
        return (
            self._connection is not None
            and not self._lost.is_set()
            and time.monotonic() - self._last_proof < self._valid_seconds
        )

    async def lost(self) -> None:
        while self.held:
            remaining = self._valid_seconds - (time.monotonic() - self._last_proof)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), max(remaining, 0.001))

    async def acquire(self) -> None:
        failures = 0
        while not self.held:
            try:
                if await self._try_lock():
                    break
                failures = 0
                await asyncio.sleep(self._retry_seconds)
            except (OSError, TimeoutError, _postgres_errors()) as exc:
                failures += 1
                await self._drop()
                self._health.degrade(LEADERSHIP, "the database holding the leadership lock is away")
                delay = self._backoff.delay(failures)
                log.warning(
                    "leadership lock unreachable; trying again",
                    extra={"lock": self._name, "error": repr(exc), "delay_seconds": delay},
                )
                await asyncio.sleep(delay)
        self._health.recover(LEADERSHIP)
        self._lost.clear()
        self._heartbeat = asyncio.create_task(self._beat(), name=f"leadership:{self._name}")
        log.info("leadership taken", extra={"lock": self._name})

    async def _try_lock(self) -> bool:
        if self._connection is None or self._connection.is_closed():
            await self._drop()
            self._connection = await self._connect()
        started = time.monotonic()
        taken = await self._connection.fetchval(
            "SELECT pg_try_advisory_lock($1)", self._key, timeout=self._valid_seconds
        )
        if taken:
            self._last_proof = started
        return bool(taken)

    async def _connect(self) -> Any:
        import asyncpg  # type: ignore[import-untyped]

        return await asyncpg.connect(
            self._dsn,
            timeout=self._valid_seconds,
            server_settings={
                "idle_session_timeout": str(int(self._timeout_seconds * 1000)),
                "application_name": f"minibot {self._name}",
            },
        )

    async def _beat(self) -> None:
        """Proves the lock every heartbeat: the session is alive, so its lock is held."""
        try:
            while True:
                await asyncio.sleep(self._heartbeat_seconds)
                connection = self._connection
                if connection is None:
                    break
                started = time.monotonic()
                await connection.fetchval("SELECT 1", timeout=self._heartbeat_seconds)
                if time.monotonic() - started >= self._valid_seconds:
                    break  # answered too late to prove anything: the server may have let go
                self._last_proof = started
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "leadership heartbeat failed", extra={"lock": self._name, "error": repr(exc)}
            )
        self._lost.set()
        log.warning("leadership lost", extra={"lock": self._name})
        await self._drop()

    async def release(self) -> None:
        self._lost.set()
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None and heartbeat is not asyncio.current_task():
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._drop()

    async def _drop(self) -> None:
        """Closes the session, which frees the lock if it was held."""
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        try:
            await asyncio.wait_for(connection.close(), self._valid_seconds)
        except Exception:
            connection.terminate()


def _postgres_errors() -> type[Exception]:
    import asyncpg

    error: type[Exception] = asyncpg.PostgresError
    return error
