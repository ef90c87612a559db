"""`minibot backup`, `restore` and `export` with `[scheduler] store = "sql"`: the jobs are
in a database part, never a job store folder."""

from __future__ import annotations

import json
from pathlib import Path

from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.core.jobs import RunRecord
from tests.adapters.files.builders import T0, reminder
from tests.process import run_minibot, write_config


async def _save_job(url: str, owner_id: str = "telegram:1") -> None:
    database = SqlDatabase(url)
    try:
        await SqlConversationMemory(database).start()  # the memory tables, as a daemon has
        store = SqlJobStore(database)
        await store.start()
        job = reminder("1", owner_id=owner_id, text="water the plants", at=T0)
        await store.save(job.start(T0), [RunRecord.started(job.start(T0), T0)])
        await store.set_timezone(owner_id, "Europe/Berlin")
    finally:
        await database.stop()


async def _job_ids(url: str) -> list[str]:
    database = SqlDatabase(url)
    try:
        store = SqlJobStore(database)
        await store.start()
        return [job.id for job in await store.all_jobs()]
    finally:
        await database.stop()


async def test_a_sql_job_store_in_its_own_sqlite_file_is_its_own_database_part(
    tmp_path: Path,
) -> None:
    jobs_url = f"sqlite+aiosqlite:///{tmp_path}/jobs.db"
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", f'store = "sql"\nurl = "{jobs_url}"\n')
    memory = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path}/minibot.db")
    await SqlConversationMemory(memory).start()
    await memory.stop()
    await _save_job(jobs_url)

    backup = tmp_path / "backup"
    result = await run_minibot("backup", str(backup), "--config", str(config))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["parts"] == {"memory": "sqlite", "jobs": "sqlite"}
    assert (backup / "jobs.db").is_file() and not (backup / "jobs").exists()

    (tmp_path / "jobs.db").unlink()
    result = await run_minibot("restore", str(backup), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert await _job_ids(jobs_url) == ["1"]
    assert not (tmp_path / "tasks").exists(), "no file job store was made"


async def test_a_sql_job_store_in_the_memory_database_is_backed_up_with_it(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", 'store = "sql"\n')
    await _save_job(f"sqlite+aiosqlite:///{tmp_path}/minibot.db")
    backup = tmp_path / "backup"
    result = await run_minibot("backup", str(backup), "--config", str(config))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["parts"] == {"memory": "sqlite"}
    assert await _job_ids(f"sqlite+aiosqlite:///{backup}/memory.db") == ["1"]


async def test_an_export_reads_the_jobs_of_a_sql_job_store(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", 'store = "sql"\n')
    await _save_job(f"sqlite+aiosqlite:///{tmp_path}/minibot.db", owner_id="telegram:7")
    result = await run_minibot("export", "--user", "telegram:7", "--config", str(config))
    assert result.returncode == 0, result.stderr
    export = json.loads(result.stdout)
    assert [job["action"]["text"] for job in export["jobs"]] == ["water the plants"]
    assert [run["occurrence"] for run in export["jobs"][0]["runs"]] == [T0.isoformat()]
    assert export["timezone"] == "Europe/Berlin"
    other = await run_minibot("export", "--user", "telegram:8", "--config", str(config))
    assert json.loads(other.stdout)["jobs"] == []
