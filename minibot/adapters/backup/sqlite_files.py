"""SQLite database files in a backup: copied online, checked for other users, put back."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
from pathlib import Path

from minibot.adapters.backup.durable import fsync_directory, fsync_file
from minibot.core.errors import BackupRefused

# In WAL mode every connection holds a shared lock on this byte of the `-shm` file for as
# long as it is open (SQLite's unix VFS: the "DMS" slot after the eight WAL locks).
_SHM_DMS_BYTE = 128
_BUSY_TIMEOUT_SECONDS = 30.0


def backup_database(source: Path, target: Path) -> None:
    """A consistent copy of `source` while others write to it: SQLite's online backup
    copies every page in one step, inside one read transaction (WAL lets the writer go
    on meanwhile). The copy is a single file (rollback journal), fsync'd."""
    if not source.is_file():
        raise BackupRefused(f"no database at {source}", path=str(source))
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            reader.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        reader.close()
    fsync_file(target)


def schema_revision(database: Path) -> str | None:
    """The alembic revision stamped in `database`, None before migrations exist."""
    conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return str(row[0]) if row else None


def in_use(database: Path) -> bool:
    """True while another process has `database` open (the daemon keeps its connections
    for its whole life, idle or not)."""
    try:
        fd = os.open(f"{database}-shm", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
        return False
    finally:
        os.close(fd)


def install_database(copy: Path, target: Path) -> Path | None:
    """Puts `copy` at `target`: written next to it first, then renamed over it. The
    database it replaces (its log folded in) is kept as `<name>.pre-restore`, whose path
    is returned."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f"{target.name}.restoring")
    shutil.copyfile(copy, staging)
    fsync_file(staging)
    kept: Path | None = None
    if target.exists():
        _fold_log(target)
        kept = target.with_name(f"{target.name}.pre-restore")
        os.replace(target, kept)
    # A log or shared-memory file left from the old database would be read as the new one's.
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{target}{suffix}")
    os.replace(staging, target)
    fsync_directory(target.parent)
    return kept


def _fold_log(database: Path) -> None:
    """Checkpoints the WAL into the file, so the database kept aside is whole on its own."""
    conn = sqlite3.connect(database, timeout=_BUSY_TIMEOUT_SECONDS)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
