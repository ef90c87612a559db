"""The file job store in a backup: taken from a private copy, put back by a directory swap."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from minibot.adapters.backup.durable import fsync_directory, fsync_file
from minibot.adapters.files.store_copy import opened_copy


async def backup_store(directory: Path, target: Path) -> list[str]:
    """Copies the store in `directory` (a running daemon's too: it is read from a private
    copy, never locked) into `target`; returns the names of the files written. The copy
    is opened before it is kept, which drops a record torn by an append in flight."""
    async with opened_copy(directory) as store:
        copy = store.directory if store is not None else None
        return await asyncio.to_thread(_keep, copy, target)


def _keep(copy: Path | None, target: Path) -> list[str]:
    target.mkdir()
    names: list[str] = []
    for path in sorted(copy.glob("*.jsonl")) if copy is not None else []:
        shutil.copyfile(path, target / path.name)
        fsync_file(target / path.name)
        names.append(path.name)
    fsync_directory(target)
    return names


def install_store(source: Path, names: list[str], target: Path) -> Path | None:
    """Puts the store files `names` from `source` at `target`: written into a directory
    beside it, then swapped in by two renames. The store it replaces is kept as
    `<name>.pre-restore`, whose path is returned."""
    staging = target.with_name(f"{target.name}.restoring")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in names:
        shutil.copyfile(source / name, staging / name)
        fsync_file(staging / name)
    fsync_directory(staging)
    kept: Path | None = None
    if target.exists():
        kept = target.with_name(f"{target.name}.pre-restore")
        shutil.rmtree(kept, ignore_errors=True)
        os.replace(target, kept)
    os.replace(staging, target)
    fsync_directory(target.parent)
    return kept
