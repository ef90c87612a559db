"""A private copy of a job store's files, taken without the lock its daemon holds."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.core.errors import StoreError

_COPY_ATTEMPTS = 5


@asynccontextmanager
async def opened_copy(directory: Path) -> AsyncIterator[FileJobStore | None]:
    """The store in `directory` opened from a private copy (None when there is none yet).

    A running daemon holds the store's lock for its whole life, and opening a store may
    cut a torn tail or delete old logs, so readers (`jobs upcoming`, backup, export) open
    a copy instead; the copy's directory is deleted on exit.
    """
    with tempfile.TemporaryDirectory(prefix="minibot-jobs-") as scratch:
        if not await asyncio.to_thread(copy_store, directory, Path(scratch)):
            yield None
            return
        # The copy is thrown away (or copied again by its reader), so it needs no fsync.
        store = FileJobStore(scratch, lock_timeout_seconds=0, fsync=lambda fd: None)
        await store.start()
        try:
            yield store
        finally:
            await store.stop()


def copy_store(directory: Path, scratch: Path) -> bool:
    """Copy the store's `.jsonl` files into `scratch`; False when there is no store yet.

    A compaction between listing and copying changes the listing, and the copy is taken
    again; a record being appended during the copy is a torn tail in the copy, which
    opening the copy skips like an unacknowledged write.
    """
    if not directory.is_dir():
        return False
    for _ in range(_COPY_ATTEMPTS):
        before = _listing(directory)
        try:
            for name in before:
                shutil.copyfile(directory / name, scratch / name)
        except FileNotFoundError:
            pass
        else:
            if _listing(directory) == before:
                return True
        for copied in scratch.iterdir():
            copied.unlink()
        time.sleep(0.05)
    raise StoreError(f"job store {directory} kept changing while being read; try again")


def _listing(directory: Path) -> dict[str, tuple[int, int]]:
    listing = {}
    for path in directory.iterdir():
        if path.name.endswith(".jsonl"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            listing[path.name] = (stat.st_ino, stat.st_mtime_ns if "snapshot" in path.name else 0)
    return listing
