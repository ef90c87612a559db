"""`minibot export --user ID` as a subprocess: one person's rows from every store, and
nobody else's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.sql.approval_store import SqlApprovalStore
from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.conversation_settings_store import SqlConversationSettingsStore
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.note_store import SqlNoteStore
from minibot.adapters.sql.usage_ledger import SqlUsageLedger
from minibot.core.approval import Approval
from minibot.core.conversation import ChatMessage, ConversationKey, Role, ToolCall
from minibot.core.conversation_settings import ConversationSettings, HistorySummary
from minibot.core.notes import NoteProvenance
from minibot.core.speakers import SPEAKER
from minibot.core.usage import UsageRecord
from tests.adapters.files.builders import reminder
from tests.process import run_minibot, write_config

ALICE, BOB = "telegram:1", "telegram:2"
GROUP = ConversationKey("telegram", "-100")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _said(text: str, speaker: str | None = None) -> ChatMessage:
    return ChatMessage(Role.USER, text, meta={SPEAKER: speaker} if speaker else {})


async def _populate(tmp_path: Path) -> None:
    memory_db = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path}/minibot.db")
    notes_db = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path}/notes.db")
    memory, usage = SqlConversationMemory(memory_db), SqlUsageLedger(memory_db)
    approvals, notes = SqlApprovalStore(memory_db), SqlNoteStore(notes_db)
    jobs = FileJobStore(tmp_path / "tasks")
    chats = SqlConversationSettingsStore(memory_db)
    for service in (memory, usage, approvals, notes, jobs, chats):
        await service.start()
    try:
        for owner, chat, word in ((ALICE, "1", "alpaca"), (BOB, "2", "bison")):
            await memory.append(ConversationKey("telegram", chat), [_said(f"hello {word}")])
            await usage.record(
                UsageRecord(
                    owner,
                    ConversationKey("telegram", chat),
                    f"model-{word}",
                    10,
                    5,
                    0.1,
                    False,
                    NOW,
                )
            )
            await notes.save(
                owner,
                f"note {word}",
                f"content {word}",
                provenance=NoteProvenance(f"telegram:{chat}"),
            )
            await jobs.save(reminder(f"job-{word}", owner_id=owner, text=f"remind {word}"))
            summary = HistorySummary(f"summary {word}", 1, 3)
            await chats.put(
                ConversationKey("telegram", chat), ConversationSettings(summary=summary)
            )
        await memory.append(GROUP, [_said("group alpaca", ALICE), _said("group bison", BOB)])
        await approvals.save(
            Approval(
                id="a1",
                conversation=GROUP,
                owner_id=BOB,
                speaker_name="Bob",
                calls=(ToolCall("c1", "save_note", '{"title": "bison approval"}'),),
                message_id=None,
                asked_at=NOW,
                expires_at=NOW,
            )
        )
    finally:
        for service in (memory, usage, approvals, notes, jobs):
            await service.stop()
        await memory_db.stop()
        await notes_db.stop()


async def test_an_export_holds_one_persons_rows_from_every_store_and_nobody_elses(
    tmp_path: Path,
) -> None:
    config = write_config(
        tmp_path,
        "http://127.0.0.1:9/v1",
        f'\n[kv_memory]\nurl = "sqlite+aiosqlite:///{tmp_path}/notes.db"\n',
    )
    await _populate(tmp_path)
    out = tmp_path / "alice.json"
    result = await run_minibot(
        "export", "--user", ALICE, "--out", str(out), "--config", str(config)
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "bison" not in text, "nothing of Bob's, not even in the group they share"
    export = json.loads(text)
    assert export["owner_id"] == ALICE
    assert [m["content"] for m in export["conversations"]["telegram:1"]] == ["hello alpaca"]
    assert [m["content"] for m in export["conversations"]["telegram:-100"]] == ["group alpaca"]
    assert [n["title"] for n in export["notes"]] == ["note alpaca"]
    assert [u["model"] for u in export["usage"]] == ["model-alpaca"]
    assert [j["action"]["text"] for j in export["jobs"]] == ["remind alpaca"]
    assert [i["conversation"] for i in export["inbox"]] == []
    assert export["approvals"] == []
    [settings] = export["conversation_settings"]
    assert settings["conversation"] == "telegram:1" and settings["summary"] == "summary alpaca"

    bob = await run_minibot("export", "--user", BOB, "--config", str(config))
    assert bob.returncode == 0, bob.stderr
    assert "alpaca" not in bob.stdout
    assert [a["calls"][0]["name"] for a in json.loads(bob.stdout)["approvals"]] == ["save_note"]
