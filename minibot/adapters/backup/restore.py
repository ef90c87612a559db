"""`minibot restore DIR`: checks a backup whole, then puts each part back in place."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import filelock

from minibot.adapters.backup.job_store_files import install_store
from minibot.adapters.backup.manifest import Manifest, load_manifest, verify
from minibot.adapters.backup.parts import Part, parts_of
from minibot.adapters.backup.sqlite_files import in_use, install_database
from minibot.adapters.config.schema import Settings
from minibot.core.errors import BackupRefused


@dataclass(frozen=True, slots=True)
class Restored:
    manifest: Manifest
    kept: tuple[Path, ...]  # what the restore replaced, kept as `*.pre-restore`


async def restore_backup(settings: Settings, directory: Path) -> Restored:
    """Verifies the manifest and every file, and that no daemon has the stores open,
    before changing anything; then restores each part (written beside its target,
    then renamed over it)."""
    manifest = await asyncio.to_thread(load_manifest, directory)
    await asyncio.to_thread(verify, directory, manifest)
    parts = _matching_parts(settings, manifest)
    store = next((part.location for part in parts if part.kind == "job-store"), None)
    lock = _lock_store(store) if store is not None else None
    try:
        for part in parts:
            if part.kind == "sqlite" and in_use(part.location):
                raise BackupRefused(
                    f"{part.location} is open in another process: a minibot is running; "
                    "stop it first",
                    path=str(part.location),
                )
        kept = [await asyncio.to_thread(_install, part, directory, manifest) for part in parts]
    finally:
        if lock is not None:
            lock.release()
    return Restored(manifest, tuple(path for path in kept if path is not None))


def _lock_store(store: Path) -> filelock.BaseFileLock:
    """The file job store's lock, held through the restore: a daemon starting meanwhile
    waits for it, then fails."""
    store.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(store / "lock", thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise BackupRefused(
            f"job store {store} is locked: a minibot is running; stop it first", path=str(store)
        ) from None
    return lock


def _matching_parts(settings: Settings, manifest: Manifest) -> list[Part]:
    """The configured parts, which must be the backup's (restoring a backup with notes
    in the memory database into a configuration with a separate notes database would
    leave the notes behind)."""
    parts = parts_of(settings)
    configured: dict[str, str] = {part.name: part.kind for part in parts}
    if configured != manifest.parts:
        raise BackupRefused(
            f"the backup holds {_names(manifest.parts)}, this configuration "
            f"{_names(configured)}; restore with the configuration it was taken with"
        )
    listed = {entry.path for entry in manifest.files}
    for part in parts:
        if part.kind == "sqlite" and f"{part.name}.db" not in listed:
            raise BackupRefused(f"{part.name}.db: not in the manifest", path=f"{part.name}.db")
    return parts


def _names(parts: dict[str, str]) -> str:
    return ", ".join(sorted(parts))


def _install(part: Part, directory: Path, manifest: Manifest) -> Path | None:
    if part.kind == "sqlite":
        return install_database(directory / f"{part.name}.db", part.location)
    prefix = f"{part.name}/"
    names = [f.path.removeprefix(prefix) for f in manifest.files if f.part == part.name]
    return install_store(directory / part.name, names, part.location)
