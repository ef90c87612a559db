"""A backup's `manifest.json`: each file's size and sha256, and what the backup is of."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from minibot.adapters.backup.durable import fsync_directory
from minibot.core.errors import BackupRefused

MANIFEST = "manifest.json"
FORMAT = "minibot-backup/1"
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # relative to the backup directory, with `/`
    part: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """Holds names, sizes, digests and times only: never a URL, path or setting, so no
    secret can reach it."""

    created_at: datetime
    minibot_version: str | None
    schema_revision: str | None
    parts: dict[str, str]  # part name -> kind
    files: tuple[FileEntry, ...]

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "minibot_version": self.minibot_version,
            "created_at": self.created_at.isoformat(),
            "schema_revision": self.schema_revision,
            "parts": self.parts,
            "files": [
                {"path": f.path, "part": f.part, "size": f.size, "sha256": f.sha256}
                for f in self.files
            ],
        }
        return json.dumps(data, indent=1) + "\n"


def describe(directory: Path, relative: str, part: str) -> FileEntry:
    path = directory / relative
    return FileEntry(relative, part, path.stat().st_size, sha256_of(path))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Written last and renamed into place: a directory without it is a partial backup."""
    staging = directory / f".{MANIFEST}.partial"
    with staging.open("w", encoding="utf-8") as file:
        file.write(manifest.to_json())
        file.flush()
        os.fsync(file.fileno())
    os.replace(staging, directory / MANIFEST)
    fsync_directory(directory)


def load_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupRefused(
            f"{path}: missing; not a backup, or one that did not finish", path=MANIFEST
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupRefused(f"{path}: unreadable ({exc})", path=MANIFEST) from None
    try:
        return _parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupRefused(
            f"{path}: not a minibot backup manifest ({exc})", path=MANIFEST
        ) from None


def _parse(data: Any) -> Manifest:
    if data["format"] != FORMAT:
        raise ValueError(f"format {data['format']!r}, expected {FORMAT!r}")
    files = tuple(
        FileEntry(str(f["path"]), str(f["part"]), int(f["size"]), str(f["sha256"]))
        for f in data["files"]
    )
    parts = {str(name): str(kind) for name, kind in dict(data["parts"]).items()}
    for entry in files:
        relative = PurePosixPath(entry.path)
        # A manifest names files inside its own directory, nothing else.
        if relative.is_absolute() or ".." in relative.parts or entry.part not in parts:
            raise ValueError(f"file entry {entry.path!r}")
    return Manifest(
        created_at=datetime.fromisoformat(data["created_at"]),
        minibot_version=data["minibot_version"],
        schema_revision=data["schema_revision"],
        parts=parts,
        files=files,
    )


def verify(directory: Path, manifest: Manifest) -> None:
    """Every file present with its size and sha256; raises naming the first that is not."""
    for entry in manifest.files:
        path = directory / entry.path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise BackupRefused(f"{entry.path}: missing from the backup", path=entry.path) from None
        if size != entry.size:
            raise BackupRefused(
                f"{entry.path}: {size} bytes, the manifest says {entry.size} "
                "(truncated or changed)",
                path=entry.path,
            )
        if sha256_of(path) != entry.sha256:
            raise BackupRefused(
                f"{entry.path}: sha256 does not match the manifest (corrupt)", path=entry.path
            )
