"""`minibot backup DIR`: a consistent snapshot of every store, taken while the daemon runs."""

from __future__ import annotations

import asyncio
import importlib.metadata
from datetime import UTC, datetime
from pathlib import Path

from minibot.adapters.backup.job_store_files import backup_store
from minibot.adapters.backup.manifest import FileEntry, Manifest, describe, write_manifest
from minibot.adapters.backup.parts import Part, parts_of
from minibot.adapters.backup.sqlite_files import backup_database, schema_revision
from minibot.adapters.config.schema import Settings
from minibot.core.errors import BackupRefused


async def take_backup(settings: Settings, directory: Path) -> Manifest:
    """Writes each part into `directory` (new or empty), then `manifest.json` last.

    Each SQLite database is one consistent snapshot of itself, and the job store one of
    itself; the parts are taken one after the other, not at one instant (a job created
    between two of them may be in one and not the other)."""
    parts = parts_of(settings)
    _prepare(directory)
    files: list[FileEntry] = []
    revision: str | None = None
    for part in parts:
        files += await _take(part, directory)
        if part.name == "memory":
            revision = await asyncio.to_thread(schema_revision, directory / "memory.db")
    manifest = Manifest(
        created_at=datetime.now(UTC),
        minibot_version=_version(),
        schema_revision=revision,
        parts={part.name: part.kind for part in parts},
        files=tuple(files),
    )
    await asyncio.to_thread(write_manifest, directory, manifest)
    return manifest


async def _take(part: Part, directory: Path) -> list[FileEntry]:
    if part.kind == "sqlite":
        name = f"{part.name}.db"
        await asyncio.to_thread(backup_database, part.location, directory / name)
        return [await asyncio.to_thread(describe, directory, name, part.name)]
    names = await backup_store(part.location, directory / part.name)
    return [
        await asyncio.to_thread(describe, directory, f"{part.name}/{name}", part.name)
        for name in names
    ]


def _prepare(directory: Path) -> None:
    """A backup never writes over anything: its directory must be new or empty."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupRefused(f"{directory} is not an empty directory; choose a new one")
    directory.mkdir(parents=True, exist_ok=True)


def _version() -> str | None:
    try:
        return importlib.metadata.version("minibot")
    except importlib.metadata.PackageNotFoundError:
        return None
