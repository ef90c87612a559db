"""The SQL database behind the memory adapters: engines, schema, and serialized writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool, StaticPool

from minibot.adapters.sql.schema_migrations import prepare
from minibot.adapters.sql.write_failure import classified
from minibot.core.errors import StoreError, StoreUnavailable
from minibot.core.health import Health, HealthBoard

if TYPE_CHECKING:
    # The async engine (and the ORM it imports) and the PostgreSQL dialect load only for a
    # server database: a tenth of a second of start-up that SQLite does not need.
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite+aiosqlite:///./data/minibot.db"

T = TypeVar("T")
# An operation is plain synchronous SQLAlchemy Core on a Connection: on SQLite it runs in
# the database's own threads, on a server database through the async engine's run_sync.
Operation = Callable[[Connection], T]
_Queued = tuple[Operation[Any], "asyncio.Future[Any]"]
_Outcome = tuple[bool, Any]
# A passive checkpoint (in its own thread) after this many group commits.
_CHECKPOINT_EVERY_COMMITS = 500
# Past this size (by default) the log is truncated after a checkpoint. Under steady writes a passive
# checkpoint never catches up with the writer, SQLite then never restarts the log from
# its start, and it grows by every commit (~60 kB a message); truncating holds the
# writer off while it copies what came since the passive pass, a few milliseconds.
DEFAULT_MAX_LOG_BYTES = 64 * 1024 * 1024
# How a daemon's connections name themselves to a PostgreSQL server (pg_stat_activity).
APPLICATION_NAME = "minibot"
# How long a write submitted `later` waits for another commit to join before it is
# committed on its own.
_LATER_SECONDS = 0.0005


class SqlDatabase:
    """One database shared by the memory adapters (messages, usage, inbox, deliveries, notes).

    Adapters pass short synchronous operations to `read` and `write`; no connection is held
    between them. On SQLite every write goes through one writer connection (WAL mode),
    because a pool of writers hits "database is locked" under load; writes queued while
    another commits are group-committed in one transaction, and each caller's write is
    durable when its `write` returns. The writer runs on the event loop's thread: a WAL
    commit without fsync costs less than a hop to a thread and back, and a thread would
    wait for the GIL behind the busy loop (milliseconds per write under load). The fsyncs
    of WAL checkpoints run in a thread of their own. Reads run in a small pool of threads
    (`quick` ones inline), in parallel with the writer. On PostgreSQL both use one async
    pool and each write is its own transaction.

    The writer task is created by `start`; `run` watches it for the daemon's supervisor.
    Should it ever end, every queued and later write fails at once with
    `StoreUnavailable` (none waits forever) until a new `run` creates a new writer. A
    write that fails because the store is down (a full disk, a read-only file, an I/O
    error) marks the database degraded until a commit succeeds again.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        schema: str | None = None,
        auto_migrate: bool = True,
        read_pool_size: int = 8,
        max_batch: int = 256,
        busy_timeout_ms: int = 10_000,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        application_name: str = APPLICATION_NAME,
    ) -> None:
        self._url = make_url(url)
        self._application_name = application_name
        self._max_log_bytes = max_log_bytes
        self._schema = schema
        self._auto_migrate = auto_migrate
        self._read_pool_size = read_pool_size
        self._max_batch = max_batch
        self._busy_timeout_ms = busy_timeout_ms
        self._server: AsyncEngine | None = None
        self._writer: Engine | None = None
        self._reader: Engine | None = None
        self._checkpoint_thread: ThreadPoolExecutor | None = None
        self._checkpointing: Any = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._commits = 0
        self._writer_idle = True
        self._committed_now = False
        self._later: list[_Queued] = []
        self._later_timer: asyncio.TimerHandle | None = None
        self._read_threads: ThreadPoolExecutor | None = None
        # Each SQLite thread keeps its connection open: a pool checkout, reset and return
        # per statement would cost more than the statement.
        self._writer_conn: Connection | None = None
        self._local = threading.local()
        self._reader_conns: list[Connection] = []
        self._queue: asyncio.Queue[_Queued | None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        # Why the writer task ended unexpectedly; writes fail fast while it is set.
        self._writer_gone: str | None = None
        self._health = HealthBoard()
        self._disk_trouble = False
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
        """Opens the engines and migrates the schema to the head (with `auto_migrate`
        false, raises `SchemaBehind` when it is not there); a second call does nothing.

        Every adapter sharing this database calls it, possibly concurrently: the lock makes
        each of them wait until the schema exists."""
        async with self._start_lock:
            if self._started:
                return
            await self._open()
            self._started = True
            self._health.started()

    @property
    def health(self) -> Health:
        return self._health.health

    async def run(self) -> None:
        """Watches the SQLite writer for the daemon's supervisor: returns when the
        database stops, raises if the writer ends on its own. A writer that ended before
        this run started (an earlier crash) is replaced first."""
        while self._started and self._queue is not None:
            if self._writer_gone is not None:
                self._spawn_writer()
            writer = self._writer_task
            if writer is None:
                return
            # Waiting, not awaiting: cancelling this run must not cancel the writer.
            await asyncio.wait({writer})
            if not self._started or self._writer_gone is None:
                return
            raise StoreUnavailable(self._writer_gone)

    async def _open(self) -> None:
        try:
            if self.dialect == "sqlite":
                self._start_sqlite_engines()
                self.full_text_search = await self.write(self._prepare_schema)
            else:
                self._start_server_engine()
                assert self._server is not None
                async with self._server.begin() as conn:
                    if self._schema and self.dialect == "postgresql":
                        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"'))
                    self.full_text_search = await conn.run_sync(self._prepare_schema)
        except (SQLAlchemyError, StoreError) as exc:
            await self.stop()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot open the database: {exc}") from exc
        except BaseException:
            await self.stop()
            raise

    def _prepare_schema(self, conn: Connection) -> bool:
        return prepare(conn, migrate=self._auto_migrate)

    def _start_sqlite_engines(self) -> None:
        # The stdlib driver in our own threads: aiosqlite would pay a thread hop (and
        # SQLAlchemy a greenlet switch) for every cursor call of every statement.
        url = self._url.set(drivername="sqlite")
        threads = {"check_same_thread": False}
        if self._in_memory:
            # A private in-memory database lives in one connection: share it for everything.
            self._writer = create_engine(url, poolclass=StaticPool, connect_args=threads)
            self._reader = self._writer
        else:
            Path(self._url.database or "").parent.mkdir(parents=True, exist_ok=True)
            self._writer = create_engine(
                url, poolclass=QueuePool, pool_size=1, max_overflow=0, connect_args=threads
            )
            # Reads are single statements: in autocommit mode no BEGIN/ROLLBACK is paid.
            # Each reader thread keeps its connection, and so does the event loop's thread
            # for quick reads: one more than the threads, or a quick read waits for a
            # connection no thread will give back while all readers are busy.
            self._reader = create_engine(
                url,
                poolclass=QueuePool,
                pool_size=self._read_pool_size + 1,
                max_overflow=0,
                isolation_level="AUTOCOMMIT",
                skip_autocommit_rollback=True,
                pool_reset_on_return=None,
                connect_args=threads,
            )
            self._configure_sqlite(self._reader)
            self._read_threads = ThreadPoolExecutor(
                self._read_pool_size, thread_name_prefix="sqlite-reader"
            )
            self._checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._configure_sqlite(self._writer, checkpoint=self._in_memory)
        self._queue = asyncio.Queue()
        self._spawn_writer()

    def _spawn_writer(self) -> None:
        self._writer_gone = None
        self._health.recover("writer")
        task = asyncio.create_task(self._write_loop(), name="sqlite-writer")
        task.add_done_callback(self._writer_ended)
        self._writer_task = task

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        """Fails what waits for a writer that is gone, and what comes after it."""
        if task is not self._writer_task or self._queue is None:
            return
        if task.cancelled():
            why = "cancelled"
        else:
            error = task.exception()
            if error is None:
                return  # it returns only when `stop` asks it to, having drained the queue
            why = repr(error)
        self._writer_gone = f"the database writer stopped: {why}"
        log.error("sqlite writer stopped", extra={"error": why})
        self._health.degrade("writer", self._writer_gone)
        pending = self._take_later()
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                pending.append(item)
        for _, future in pending:
            _settle(future, error=StoreUnavailable(self._writer_gone))

    def _configure_sqlite(self, engine: Engine, *, checkpoint: bool = True) -> None:
        busy_timeout_ms = self._busy_timeout_ms
        max_log_bytes = self._max_log_bytes

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers run while the writer commits; NORMAL skips an fsync per
            # commit yet survives a process crash (only power loss can drop the tail).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if not checkpoint:
                # The writer never checkpoints (that fsyncs): the checkpoint thread does.
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            # When the log restarts from its start, it is cut back to this size instead
            # of keeping the size of its busiest moment.
            cursor.execute(f"PRAGMA journal_size_limit={int(max_log_bytes)}")
            cursor.close()

    def _start_server_engine(self) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        connect_args: dict[str, Any] = {}
        if self.dialect == "postgresql":
            # The name lets `minibot jobs migrate` see a daemon connected to the database.
            settings = {"application_name": self._application_name}
            if self._schema:
                settings["search_path"] = self._schema
            connect_args["server_settings"] = settings
        self._server = create_async_engine(
            self._url, pool_size=self._read_pool_size, connect_args=connect_args
        )

    async def stop(self) -> None:
        self._started = False
        writer_task = self._writer_task
        if self._queue is not None and writer_task is not None and not writer_task.done():
            self._flush_later()
            self._queue.put_nowait(None)
            # Queued writes were acknowledged to nobody yet, but their callers wait: drain.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(writer_task)
        self._queue, self._writer_task, self._writer_gone = None, None, None
        self._health.stopped()
        if self._checkpoint_thread is not None:
            self._checkpoint_thread.shutdown(wait=True)
        if self._read_threads is not None:
            # Wait for reads in flight (queued ones are dropped): closing a connection
            # while a reader thread still uses it can crash SQLite (seen once, as SIGSEGV).
            self._read_threads.shutdown(wait=True, cancel_futures=True)
        self._read_threads, self._checkpoint_thread, self._checkpointing = None, None, None
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None
        for conn in [*self._reader_conns, self._writer_conn]:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._reader_conns, self._writer_conn = [], None
        self._local = threading.local()
        reader, writer, server = self._reader, self._writer, self._server
        self._reader, self._writer, self._server = None, None, None
        if reader is not None and reader is not writer:
            reader.dispose()
        if writer is not None:
            writer.dispose()
        if server is not None:
            await server.dispose()

    def insert(self, table: Table) -> Any:
        """An INSERT that supports ON CONFLICT on this database's dialect."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        return sqlite.insert(table)

    @property
    def group_commits(self) -> bool:
        """True when writes go through the single writer and `submit` may be used."""
        return self._queue is not None

    def submit(self, operation: Operation[T], *, later: bool = False) -> asyncio.Future[T]:
        """Queues a write for the single writer without waiting (only when `group_commits`);
        the future resolves once the transaction holding it has committed.

        A write submitted `later` (bookkeeping nobody waits on to answer: usage, delivery
        records, done marks) joins the next commit of any other write, or is committed on
        its own after at most `_LATER_SECONDS`: fewer commits, and none of them in the way
        of the write a reply waits for."""
        if self._queue is None:
            raise StoreError("the database has no writer queue (not started, or not SQLite)")
        if self._writer_gone is not None:
            raise StoreUnavailable(self._writer_gone)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if later:
            self._later.append((operation, future))
            if self._later_timer is None:
                self._later_timer = loop.call_later(_LATER_SECONDS, self._flush_later)
            return future
        if self._queue.empty() and self._writer_idle and not self._committed_now:
            # Nothing waits before it: commit now, without a trip through the event loop
            # (a sequential caller, such as an update's intake, pays no loop iteration).
            # Only once per loop iteration: the writes that follow in the same iteration
            # are many callers at once, and they wait to share the next group commit.
            self._committed_now = True
            asyncio.get_running_loop().call_soon(self._end_iteration)
            self._finish([(operation, future)])
            return future
        self._queue.put_nowait((operation, future))
        return future

    async def sync(self) -> None:
        """Makes every commit so far survive a power loss, not only a crash of the process.

        In WAL mode with synchronous=NORMAL, SQLite syncs its log only at checkpoints; this
        fsyncs the log file (off the event loop), which makes the commits in it durable.
        A server database is durable at each commit, and one in memory never is."""
        if self._checkpoint_thread is None:  # only a file-backed SQLite database has one
            return
        wal = f"{self._url.database}-wal"
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._checkpoint_thread, _fsync_file, wal)
        except OSError as exc:
            raise StoreError(f"database log not synced to disk: {exc}") from exc

    async def read(self, operation: Operation[T], *, quick: bool = False) -> T:
        """Runs a read-only operation on a pooled connection and returns its result.

        `quick` marks a read of a few rows through an index (a history window, a
        delivery record): on SQLite it runs at once on the calling thread, which costs
        less than the hop to a reader thread and back. Scans must not be quick."""
        if self._server is not None:
            try:
                async with self._server.connect() as conn:
                    return await conn.run_sync(operation)
            except SQLAlchemyError as exc:
                raise StoreError(f"database read failed: {exc}") from exc
        if self._reader is None or self._queue is None:
            raise StoreError("the database is not started")
        if self._read_threads is None:
            # One shared in-memory connection: reads queue behind writes.
            return await self.write(operation)
        if quick:
            return self._read_now(operation)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_threads, self._read_now, operation)

    def _read_now(self, operation: Operation[T]) -> T:
        """On the calling thread's own reader connection."""
        assert self._reader is not None
        conn: Connection | None = getattr(self._local, "conn", None)
        try:
            if conn is None or conn.closed or conn.invalidated:
                conn = self._local.conn = self._reader.connect()
                self._reader_conns.append(conn)
            return operation(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    async def write(self, operation: Operation[T], *, later: bool = False) -> T:
        """Runs an operation in a write transaction; committed when this returns.

        On SQLite the write still completes if the caller is cancelled after queueing it;
        `later`: see `submit`. A server database commits every write at once; a `later`
        one without waiting for its fsync (`synchronous_commit = off`), as SQLite's WAL
        commits are (synchronous=NORMAL): a crash of the server may lose the last such
        bookkeeping, never what a caller waits on to answer or to confirm an update.
        """
        if self._server is not None:
            try:
                async with self._server.begin() as conn:
                    if later:
                        await conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
                    result = await conn.run_sync(operation)
            except SQLAlchemyError as exc:
                error = StoreError(f"database write failed: {exc}")
                error.__cause__ = exc
                self._note_failures([error])
                raise error from exc
            if self._disk_trouble:
                self._note_success()
            return result
        if self._queue is None:
            raise StoreError("the database is not started")
        return await asyncio.shield(self.submit(operation, later=later))

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
            self._writer_idle = False
            try:
                self._finish(batch)
                # Let the callers just settled (and anything else) run before the next batch.
                await asyncio.sleep(0)
            except BaseException as exc:
                # The writer is dying: its batch's callers must not wait for it.
                for _, future in batch:
                    _settle(future, error=StoreUnavailable(f"the database writer stopped: {exc!r}"))
                raise
            finally:
                self._writer_idle = True

    def _end_iteration(self) -> None:
        self._committed_now = False

    def _take_later(self) -> list[_Queued]:
        if self._later_timer is not None:
            self._later_timer.cancel()
            self._later_timer = None
        taken, self._later = self._later, []
        return taken

    def _flush_later(self) -> None:
        """No other commit came in time: the waiting `later` writes go to the writer."""
        self._later_timer = None
        if self._queue is not None:
            for item in self._take_later():
                self._queue.put_nowait(item)

    def _finish(self, batch: list[_Queued]) -> None:
        if self._later:
            batch = self._take_later() + batch
        outcomes = self._commit_batch([operation for operation, _ in batch])
        failures = []
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                _settle(future, result=value)
            else:
                _settle(future, error=value)
                failures.append(value)
        if failures:
            self._note_failures(failures)
        if self._disk_trouble and len(failures) < len(outcomes):
            self._note_success()
        self._commits += 1
        if self._commits % _CHECKPOINT_EVERY_COMMITS == 0:
            self._checkpoint()

    def _note_failures(self, failures: list[Exception]) -> None:
        """Degraded while the store cannot be written (not for data it refused)."""
        for failure in failures:
            error = classified(failure)
            if isinstance(error, StoreUnavailable):
                if not self._disk_trouble:
                    log.error(
                        "the database cannot be written", extra={"error": _root_cause(failure)}
                    )
                self._disk_trouble = True
                reason = _root_cause(failure)
                self._health.degrade("disk", f"the database cannot be written: {reason}")
                return

    def _note_success(self) -> None:
        log.info("the database can be written again")
        self._disk_trouble = False
        self._health.recover("disk")

    def _checkpoint(self) -> None:
        """Starts a passive WAL checkpoint in its own thread, unless one is running."""
        running = self._checkpointing
        if self._checkpoint_thread is None or (running is not None and not running.done()):
            return
        self._checkpointing = self._checkpoint_thread.submit(self._checkpoint_log)

    def _checkpoint_now(self, mode: str = "PASSIVE") -> bool:
        """True when the checkpoint copied the whole log (and, TRUNCATE, emptied it)."""
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = sqlite3.connect(
                    self._url.database or "",
                    timeout=self._busy_timeout_ms / 1000,
                    check_same_thread=False,
                )
            busy, _, _ = self._checkpoint_conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error:
            # A checkpoint that cannot run now runs next time; the WAL just grows a while.
            return False
        return not busy

    def _checkpoint_log(self) -> None:
        self._checkpoint_now()
        try:
            size = os.path.getsize(f"{self._url.database}-wal")
        except OSError:
            return
        if size > self._max_log_bytes:
            self._checkpoint_now("TRUNCATE")

    async def shrink_log(self) -> bool:
        """Checkpoints the whole WAL and truncates it to zero bytes (SQLite reuses the log
        but never shrinks it, so it would keep the size of its busiest moment). True when
        done; False when readers or the writer kept it busy (it is tried again next time).

        A passive checkpoint first copies the log without blocking anyone; the truncating
        one that follows holds off the writer only while it copies what came since, which
        is little. Nothing to do on a server database or one in memory."""
        if self._checkpoint_thread is None:
            return True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._checkpoint_thread, self._checkpoint_now, "PASSIVE")
        return await loop.run_in_executor(self._checkpoint_thread, self._checkpoint_now, "TRUNCATE")

    def _commit_batch(self, operations: list[Operation[Any]]) -> list[_Outcome]:
        """One transaction for the whole batch, on the writer connection."""
        assert self._writer is not None
        try:
            conn = self._writer_conn
            if conn is None or conn.closed or conn.invalidated:
                conn = self._writer_conn = self._writer.connect()
            with conn.begin():
                return [(True, operation(conn)) for operation in operations]
        except Exception as exc:
            if len(operations) == 1:
                return [(False, _store_error(exc))]
            # One bad write must not fail its neighbours: retry each in its own transaction.
            return [self._commit_batch([operation])[0] for operation in operations]


def _fsync_file(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # no log yet: nothing was committed through it
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _root_cause(error: BaseException) -> str:
    """The driver's or the OS's own words ("database or disk is full"), without the
    statement and parameters SQLAlchemy adds, which may hold what a user wrote."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, sqlite3.Error | OSError):
            return str(seen)
        orig = getattr(seen, "orig", None)
        if isinstance(orig, BaseException):
            return str(orig)
        seen = seen.__cause__
    return type(error).__name__


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
