"""`minibot backup` and `minibot restore` as subprocesses, against stores held open by
this process the way a running daemon holds them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.database import SqlDatabase
from minibot.core.conversation import ChatMessage, ConversationKey, Role
from tests.adapters.files.builders import reminder
from tests.process import run_minibot, write_config

BOT_TOKEN = "123456789:AAE-backup-test-token-abcdefghijklmnop"
API_KEY = "sk-test-key-0123456789abcdef"  # the key tests/process.write_config sets
CHAT = ConversationKey("telegram", "1")


def _config(tmp_path: Path) -> Path:
    extra = f'\n[channels.telegram]\nenabled = false\nbot_token = "{BOT_TOKEN}"\n'
    return write_config(tmp_path, "http://127.0.0.1:9/v1", extra)


class Daemon:
    """The stores as a running daemon has them: the database open (WAL) with its writer,
    the job store's lock held."""

    def __init__(self, tmp_path: Path) -> None:
        self.database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path}/minibot.db")
        self.memory = SqlConversationMemory(self.database)
        self.jobs = FileJobStore(tmp_path / "tasks")

    async def start(self) -> None:
        await self.memory.start()
        await self.jobs.start()

    async def stop(self) -> None:
        await self.jobs.stop()
        await self.memory.stop()
        await self.database.stop()


def _message(n: int) -> ChatMessage:
    # Long enough that the database grows by pages while the backup copies it.
    return ChatMessage(Role.USER, f"message {n} " + "x" * 2000)


def _stored(db: Path) -> tuple[str, list[str]]:
    conn = sqlite3.connect(db)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = conn.execute("SELECT content FROM minibot_messages ORDER BY id").fetchall()
    finally:
        conn.close()
    return check, [row[0].split(" x")[0] for row in rows]


async def test_a_backup_taken_during_a_burst_of_writes_restores_everything_committed_before_it(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    daemon = Daemon(tmp_path)
    await daemon.start()
    await daemon.jobs.save(reminder("1", owner_id="telegram:1", text="water the plants"))
    committed = 0
    writing = True
    warmed_up = asyncio.Event()

    async def writer() -> None:
        nonlocal committed
        while writing:
            await daemon.memory.append(CHAT, [_message(committed)])
            committed += 1
            if committed == 300:
                warmed_up.set()

    task = asyncio.create_task(writer())
    try:
        await asyncio.wait_for(warmed_up.wait(), 30)
        before = committed
        backup = await run_minibot("backup", str(tmp_path / "b"), "--config", str(config))
        during = committed - before
        # Restoring under the daemon's feet is refused: first by the job store's lock...
        locked = await run_minibot("restore", str(tmp_path / "b"), "--config", str(config))
        await daemon.jobs.stop()
        # ... then, the job store let go, by the database it still has open.
        db_open = await run_minibot("restore", str(tmp_path / "b"), "--config", str(config))
    finally:
        writing = False
        await task
        await daemon.stop()
    assert backup.returncode == 0, backup.stderr
    assert during > 0, "the writer went on while the backup ran"
    assert locked.returncode == 1 and "locked" in locked.stderr, locked.stderr
    assert db_open.returncode == 1 and "minibot.db is open" in db_open.stderr, db_open.stderr
    assert len(db_open.stderr.strip().splitlines()) == 1

    restored = await run_minibot("restore", str(tmp_path / "b"), "--config", str(config))
    assert restored.returncode == 0, restored.stderr
    check, contents = _stored(tmp_path / "minibot.db")
    assert check == "ok"
    assert len(contents) >= before, "every message committed before the backup is back"
    assert contents == [f"message {n}" for n in range(len(contents))]
    assert len(contents) < committed, "what came after the backup is not"
    assert (tmp_path / "minibot.db.pre-restore").exists(), "the replaced database is kept"
    schema = await run_minibot("db", "check", "--config", str(config))
    assert schema.returncode == 0, schema.stderr  # the restored schema matches the code
    jobs = FileJobStore(tmp_path / "tasks")
    await jobs.start()
    try:
        [job] = await jobs.list_jobs("telegram:1")
    finally:
        await jobs.stop()
    assert job.action.text == "water the plants"

    manifest = (tmp_path / "b" / "manifest.json").read_text()
    for text in (manifest, backup.stdout, backup.stderr, restored.stdout, restored.stderr):
        assert BOT_TOKEN not in text and API_KEY not in text
        assert "123456789:" not in text and "sk-test" not in text
    files = {entry["path"] for entry in json.loads(manifest)["files"]}
    assert "memory.db" in files and any(path.startswith("jobs/") for path in files)


async def _backed_up(tmp_path: Path) -> tuple[Path, Path]:
    """A backup of a small store, then more written to the live store."""
    config = _config(tmp_path)
    daemon = Daemon(tmp_path)
    await daemon.start()
    await daemon.memory.append(CHAT, [_message(0)])
    await daemon.jobs.save(reminder("1", owner_id="telegram:1"))
    await daemon.stop()
    backup = await run_minibot("backup", str(tmp_path / "b"), "--config", str(config))
    assert backup.returncode == 0, backup.stderr
    daemon = Daemon(tmp_path)
    await daemon.start()
    await daemon.memory.append(CHAT, [_message(1)])
    await daemon.jobs.save(reminder("2", owner_id="telegram:1"))
    await daemon.stop()
    return config, tmp_path / "b"


def _live_state(tmp_path: Path) -> dict[str, str]:
    """Every file of the live stores (not the backups) and its sha256."""
    return {
        str(path.relative_to(tmp_path)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(tmp_path.rglob("*"))
        if path.is_file() and not path.relative_to(tmp_path).parts[0].startswith(("b", "config"))
    }


async def test_a_truncated_a_corrupt_or_a_partial_backup_is_refused_and_nothing_is_touched(
    tmp_path: Path,
) -> None:
    config, backup = await _backed_up(tmp_path)
    files = json.loads((backup / "manifest.json").read_text())["files"]
    job_file = next(entry["path"] for entry in files if entry["path"].startswith("jobs/"))
    before = _live_state(tmp_path)

    def damaged(name: str, harm: str) -> Path:
        copy = tmp_path / f"bad-{name}"
        shutil.copytree(backup, copy)
        if harm == "truncate":
            data = (copy / "memory.db").read_bytes()
            (copy / "memory.db").write_bytes(data[: len(data) // 2])
        elif harm == "flip":
            data = bytearray((copy / "memory.db").read_bytes())
            data[-1] ^= 0xFF
            (copy / "memory.db").write_bytes(bytes(data))
        elif harm == "missing":
            (copy / job_file).unlink()
        else:
            (copy / "manifest.json").unlink()
        return copy

    expected = {
        "truncate": "memory.db: ",
        "flip": "memory.db: sha256",
        "missing": f"{job_file}: missing",
        "no-manifest": "manifest.json: missing",
    }
    for harm, says in expected.items():
        result = await run_minibot("restore", str(damaged(harm, harm)), "--config", str(config))
        assert result.returncode == 1, (harm, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], (harm, result.stderr)
        assert result.stdout == ""
        assert _live_state(tmp_path) == before, f"{harm}: the live stores are untouched"


async def test_a_backup_never_writes_over_a_directory_in_use(tmp_path: Path) -> None:
    config, backup = await _backed_up(tmp_path)
    again = await run_minibot("backup", str(backup), "--config", str(config))
    assert again.returncode == 1 and "not an empty directory" in again.stderr


async def test_a_postgresql_database_is_refused_with_the_tool_to_use_and_no_password(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    text = config.read_text().replace(
        f"sqlite+aiosqlite:///{tmp_path}/minibot.db",
        "postgresql+asyncpg://minibot:hunter2-password@127.0.0.1:5432/test",
    )
    config.write_text(text)
    result = await run_minibot("backup", str(tmp_path / "b"), "--config", str(config))
    assert result.returncode == 1
    assert "pg_dump" in result.stderr and "hunter2" not in result.stderr
    assert not (tmp_path / "b").exists()
