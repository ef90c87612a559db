"""The SQL database behind the memory adapters: engines, schema, and serialized writes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from minibot.adapters.memory.tables import create_schema
from minibot.core.errors import StoreError

DEFAULT_URL = "sqlite+aiosqlite:///./data/minibot.db"

T = TypeVar("T")
Operation = Callable[[AsyncConnection], Awaitable[T]]
_Queued = tuple[Operation[Any], "asyncio.Future[Any]"]


class SqlDatabase:
    """One database shared by the memory adapters (messages, usage, inbox, deliveries, notes).

    Adapters pass short operations to `read` and `write`; no connection is held between
    them. On SQLite every write goes through one writer connection (WAL mode), because a
    pool of writers hits "database is locked" under load; writes queued while another
    commits are group-committed in one transaction, and each caller's write is durable
    when its `write` returns. Reads use their own pool and run in parallel with the writer.
    On PostgreSQL both use one pool and each write is its own transaction.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        schema: str | None = None,
        read_pool_size: int = 8,
        max_batch: int = 256,
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self._url = make_url(url)
        self._schema = schema
        self._read_pool_size = read_pool_size
        self._max_batch = max_batch
        self._busy_timeout_ms = busy_timeout_ms
        self._writer: AsyncEngine | None = None
        self._reader: AsyncEngine | None = None
        self._queue: asyncio.Queue[_Queued | None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self.full_text_search = False
        self._start_lock = asyncio.Lock()
        self._started = False

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql` (the backend name of the URL)."""
        return self._url.get_backend_name()

    @property
    def _in_memory(self) -> bool:
        database = self._url.database or ""
        return database in ("", ":memory:") or "mode=memory" in str(self._url)

    async def start(self) -> None:
        """Opens the engines and creates missing tables; a second call does nothing.

        Every adapter sharing this database calls it, possibly concurrently: the lock makes
        each of them wait until the schema exists."""
        async with self._start_lock:
            if self._started:
                return
            await self._open()
            self._started = True

    async def _open(self) -> None:
        try:
            if self.dialect == "sqlite":
                self._start_sqlite_engines()
            else:
                self._start_server_engine()
            assert self._writer is not None
            async with self._writer.begin() as conn:
                if self._schema and self.dialect == "postgresql":
                    await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"'))
                self.full_text_search = await conn.run_sync(create_schema)
        except SQLAlchemyError as exc:
            await self.stop()
            raise StoreError(f"cannot open the database: {exc}") from exc
        except BaseException:
            await self.stop()
            raise

    def _start_sqlite_engines(self) -> None:
        if self._in_memory:
            # A private in-memory database lives in one connection: share it for everything.
            self._writer = create_async_engine(self._url, poolclass=StaticPool)
            self._reader = self._writer
        else:
            Path(self._url.database or "").parent.mkdir(parents=True, exist_ok=True)
            self._writer = create_async_engine(
                self._url, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0
            )
            # Reads are single statements: in autocommit mode no BEGIN/ROLLBACK round trips
            # to the driver thread are paid per read (half the latency of a window load).
            self._reader = create_async_engine(
                self._url,
                poolclass=AsyncAdaptedQueuePool,
                pool_size=self._read_pool_size,
                max_overflow=0,
                isolation_level="AUTOCOMMIT",
                skip_autocommit_rollback=True,
                pool_reset_on_return=None,
            )
            self._configure_sqlite(self._reader)
        self._configure_sqlite(self._writer)
        self._queue = asyncio.Queue()
        self._writer_task = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    def _configure_sqlite(self, engine: AsyncEngine) -> None:
        busy_timeout_ms = self._busy_timeout_ms

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers run while the writer commits; NORMAL skips an fsync per
            # commit yet survives a process crash (only power loss can drop the tail).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.close()

    def _start_server_engine(self) -> None:
        connect_args: dict[str, Any] = {}
        if self._schema and self.dialect == "postgresql":
            connect_args["server_settings"] = {"search_path": self._schema}
        self._writer = create_async_engine(
            self._url, pool_size=self._read_pool_size, connect_args=connect_args
        )
        self._reader = self._writer

    async def stop(self) -> None:
        self._started = False
        if self._queue is not None and self._writer_task is not None:
            self._queue.put_nowait(None)
            # Queued writes were acknowledged to nobody yet, but their callers wait: drain.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._writer_task)
        self._queue, self._writer_task = None, None
        reader, writer = self._reader, self._writer
        self._reader, self._writer = None, None
        if reader is not None and reader is not writer:
            await reader.dispose()
        if writer is not None:
            await writer.dispose()

    def insert(self, table: Table) -> Any:
        """An INSERT that supports ON CONFLICT on this database's dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @property
    def group_commits(self) -> bool:
        """True when writes go through the single writer and `submit` may be used."""
        return self._queue is not None

    def submit(self, operation: Operation[T]) -> asyncio.Future[T]:
        """Queues a write for the single writer without waiting (only when `group_commits`);
        the future resolves once the transaction holding it has committed."""
        if self._queue is None:
            raise StoreError("the database has no writer queue (not started, or not SQLite)")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((operation, future))
        return future

    async def read(self, operation: Operation[T]) -> T:
        """Runs a read-only operation on a pooled connection and returns its result."""
        if self._reader is None:
            raise StoreError("the database is not started")
        if self._reader is self._writer and self._queue is not None:
            # One shared in-memory connection: reads queue behind writes.
            return await self.write(operation)
        try:
            async with self._reader.connect() as conn:
                return await operation(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    async def write(self, operation: Operation[T]) -> T:
        """Runs an operation in a write transaction; committed when this returns.

        On SQLite the write still completes if the caller is cancelled after queueing it.
        """
        if self._writer is None:
            raise StoreError("the database is not started")
        if self._queue is None:
            try:
                async with self._writer.begin() as conn:
                    return await operation(conn)
            except SQLAlchemyError as exc:
                raise StoreError(f"database write failed: {exc}") from exc
        return await asyncio.shield(self.submit(operation))

    async def _write_loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[_Queued]) -> None:
        assert self._writer is not None
        try:
            async with self._writer.begin() as conn:
                results = [await operation(conn) for operation, _ in batch]
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=_store_error(exc))
                return
            # One bad write must not fail its neighbours: retry each in its own transaction.
            for item in batch:
                await self._commit_batch([item])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _store_error(exc: Exception) -> Exception:
    if isinstance(exc, SQLAlchemyError):
        error = StoreError(f"database write failed: {exc}")
        error.__cause__ = exc
        return error
    return exc


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, error: Exception | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
