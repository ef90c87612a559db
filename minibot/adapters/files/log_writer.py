"""The store's one writer thread: appends with group commit, and compacts between batches."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from minibot.adapters.files.replay import SNAPSHOT, log_name
from minibot.core.errors import StoreUnavailable

log = logging.getLogger(__name__)


@dataclass
class _Append:
    data: bytes
    future: asyncio.Future[None]


@dataclass
class _Compact:
    lines: Iterable[bytes]  # the snapshot, serialised in this thread
    generation: int
    future: asyncio.Future[None]


_STOP = object()


class LogWriter:
    """Appends queued while an fsync is in flight go out together in the next write and
    fsync, so many writers share one disk flush. After a failed write or fsync the writer
    is broken for good: the data's fate on disk is unknown (a failed fsync may have dropped
    pages it will never write again), so nothing is retried on that descriptor; the store
    cuts the log back to `good_offset`, the end of the last batch whose fsync succeeded,
    and reopens from it. Failures are `StoreUnavailable`: a full disk, a read-only file
    system, an I/O error."""

    def __init__(
        self,
        directory: Path,
        generation: int,
        fsync: Callable[[int], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.directory = directory
        self.generation = generation
        self.broken: BaseException | None = None
        self.good_offset = 0
        self.batches = 0  # fsyncs of appended data, for tests and the benchmark
        self._fsync = fsync
        self._loop = loop
        self._queue: collections.deque[object] = collections.deque()
        self._ready = threading.Condition()
        self._fd = -1
        self._thread = threading.Thread(target=self._run, name="task-store-writer", daemon=True)

    def start(self) -> None:
        self._fd = self._open_log(self.generation)
        self.good_offset = os.fstat(self._fd).st_size
        self._thread.start()

    def append(self, data: bytes) -> asyncio.Future[None]:
        return self._submit(lambda future: _Append(data, future))

    def compact(self, lines: Iterable[bytes], generation: int) -> asyncio.Future[None]:
        return self._submit(lambda future: _Compact(lines, generation, future))

    def close(self) -> None:
        """Blocking: let queued work finish, then stop the thread and close the log."""
        with self._ready:
            self._queue.append(_STOP)
            self._ready.notify()
        if self._thread.is_alive():
            self._thread.join()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _submit(self, make: Callable[[asyncio.Future[None]], object]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        with self._ready:
            self._queue.append(make(future))
            self._ready.notify()
        return future

    def _open_log(self, generation: int) -> int:
        path = self.directory / log_name(generation)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _take(self) -> list[object]:
        with self._ready:
            while not self._queue:
                self._ready.wait()
            if not isinstance(self._queue[0], _Append):
                return [self._queue.popleft()]
            batch: list[object] = []
            while self._queue and isinstance(self._queue[0], _Append):
                batch.append(self._queue.popleft())
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch[0] is _STOP:
                return
            futures = [item.future for item in batch]  # type: ignore[attr-defined]
            if self.broken is not None:
                self._settle(futures, StoreUnavailable(f"task store is broken: {self.broken}"))
                continue
            try:
                if isinstance(batch[0], _Compact):
                    self._compact(batch[0])
                else:
                    self._write(b"".join(item.data for item in batch))  # type: ignore[attr-defined]
            except BaseException as exc:
                log.exception("task store write failed")
                error = StoreUnavailable(f"task store write failed: {exc}")
                error.__cause__ = exc
                self._settle(futures, error)
            else:
                self._settle(futures, None)

    def _write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            self._fsync(self._fd)
            self.good_offset += len(data)
            self.batches += 1
        except BaseException as exc:
            self.broken = exc
            raise

    def _compact(self, item: _Compact) -> None:
        tmp = self.directory / (SNAPSHOT + ".tmp")
        try:
            with tmp.open("wb") as handle:
                handle.writelines(item.lines)
                handle.flush()
                self._fsync(handle.fileno())
            os.replace(tmp, self.directory / SNAPSHOT)
        except BaseException:
            # The old snapshot and log are intact and still current: keep appending there.
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        try:
            # From the rename on, the new snapshot names the new log as current.
            old_fd, old_generation = self._fd, self.generation
            self._fd, self.generation = self._open_log(item.generation), item.generation
            self.good_offset = os.fstat(self._fd).st_size
            os.close(old_fd)
            self._fsync_directory()
            (self.directory / log_name(old_generation)).unlink(missing_ok=True)
        except BaseException as exc:
            self.broken = exc
            raise

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            self._fsync(fd)
        finally:
            os.close(fd)

    def _settle(self, futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
        def settle() -> None:
            for future in futures:
                if future.done():
                    continue  # the caller was cancelled; the write happened regardless
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

        with contextlib.suppress(RuntimeError):  # the loop closed under us (shutdown)
            self._loop.call_soon_threadsafe(settle)
