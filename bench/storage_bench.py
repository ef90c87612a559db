"""Benchmark of database growth: bytes per message, and what retention gives back."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.results import write_result
from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.delivery_ledger import SqlDeliveryLedger
from minibot.adapters.sql.inbox import SqlInbox
from minibot.adapters.sql.retention import StorageRetention
from minibot.adapters.sql.tables import deliveries, inbox, messages, usage, usage_days
from minibot.adapters.sql.usage_ledger import SqlUsageLedger
from minibot.core.conversation import ChatMessage, ConversationKey, Role
from minibot.core.usage import UsageRecord

SIZES = {"short": 5_000, "full": 22_000}
CHATS = 20
# A typical exchange: a question of ~80 characters, an answer of ~600.
QUESTION_CHARS = 80
ANSWER_CHARS = 600
TABLES = {
    "inbox": inbox,
    "deliveries": deliveries,
    "usage": usage,
    "usage_days": usage_days,
    "messages": messages,
}


def update_payload(update_id: int, chat: int, text_: str) -> str:
    """The raw update as the Telegram intake stores it."""
    person = {"id": chat, "is_bot": False, "first_name": "Ada", "username": "ada"}
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "from": {**person, "language_code": "en"},
                "chat": {**person, "type": "private"},
                "date": 1_764_000_000 + update_id,
                "text": text_,
            },
        },
        separators=(",", ":"),
    )


def prose(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))))
    return " ".join(words)


async def handle_messages(db: SqlDatabase, count: int, rng: random.Random) -> None:
    """Writes what the daemon writes for each message, through the same adapters."""
    box, memory = SqlInbox(db), SqlConversationMemory(db)
    usage_ledger, ledger = SqlUsageLedger(db), SqlDeliveryLedger(db)
    for n in range(count):
        chat = n % CHATS
        key = ConversationKey("telegram", str(chat))
        question = prose(rng, QUESTION_CHARS)
        item = await box.add("telegram", str(n), str(key), update_payload(n, chat, question))
        assert item is not None
        turn_id = f"{key}#in{item}"
        now = datetime.now(UTC)
        meta = {"turn_id": turn_id}
        await memory.append(
            key,
            [
                ChatMessage(Role.USER, question, created_at=now, meta=meta),
                ChatMessage(Role.ASSISTANT, prose(rng, ANSWER_CHARS), created_at=now, meta=meta),
            ],
        )
        await usage_ledger.record(
            UsageRecord(f"telegram:{chat}", key, "gpt-4o-mini", 900, 150, 0.00022, False, now)
        )
        await ledger.record(turn_id, 0, str(100_000 + n))
        await box.mark_done(item)


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def measure(db: SqlDatabase, path: Path) -> dict[str, Any]:
    wal = Path(f"{path}-wal")
    wal_peak = file_size(wal)
    await db.shrink_log()

    def operation(conn: Connection) -> dict[str, Any]:
        rows = {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in TABLES.items()
        }
        # Bytes per table from SQLite's own page accounting (tables and their indexes).
        pages = conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).fetchall()
        used = {str(name): int(size) for name, size in pages}
        return {"rows": rows, "bytes_by_object": used}

    found = await db.read(operation)
    found["file_bytes"] = file_size(path)
    found["wal_bytes_before_shrink"] = wal_peak
    found["wal_bytes"] = file_size(wal)
    return found


def table_bytes(used: dict[str, int], table: str) -> int:
    return sum(size for name, size in used.items() if table in name)


async def run(mode: str, directory: Path) -> dict[str, Any]:
    count = SIZES[mode]
    path = directory / "growth.db"
    db = SqlDatabase(f"sqlite+aiosqlite:///{path}")
    await db.start()
    try:
        began = time.perf_counter()
        await handle_messages(db, count, random.Random(3))
        elapsed = time.perf_counter() - began
        before = await measure(db, path)
        # A month and a day later: everything but the history is past the retention.
        keeper = StorageRetention(
            db,
            SqlInbox(db),
            SqlDeliveryLedger(db),
            SqlUsageLedger(db),
            retention_days=30,
            interval_seconds=3600,
            now=lambda: datetime.now(UTC) + timedelta(days=31),
        )
        began = time.perf_counter()
        pruned = await keeper.prune()
        prune_seconds = time.perf_counter() - began
        after = await measure(db, path)
    finally:
        await db.stop()
    per_table = {
        name: round(table_bytes(before["bytes_by_object"], f"minibot_{name}") / count)
        for name in ("inbox", "deliveries", "usage", "messages")
    }
    return {
        "mode": mode,
        "messages": count,
        "question_chars": QUESTION_CHARS,
        "answer_chars": ANSWER_CHARS,
        "messages_per_second": round(count / elapsed),
        "file_bytes_per_message": round(before["file_bytes"] / count),
        "bytes_per_message_by_table": per_table,
        "before": before,
        "pruned": {"inbox": pruned.inbox, "deliveries": pruned.deliveries, "usage": pruned.usage},
        "prune_seconds": round(prune_seconds, 3),
        "after": after,
        "live_bytes_per_message_after_prune": round(sum(after["bytes_by_object"].values()) / count),
    }


def print_table(result: dict[str, Any]) -> None:
    count = result["messages"]
    print(
        f"mode={result['mode']}  messages={count:,} ({result['question_chars']}-char question, "
        f"{result['answer_chars']}-char answer)  {result['messages_per_second']:,} msg/s"
    )
    print(f"database file per message: {result['file_bytes_per_message']:,} bytes")
    for name, size in result["bytes_per_message_by_table"].items():
        print(f"  {name:<12}{size:>8,} bytes/message")
    before, after = result["before"], result["after"]
    print(f"{'table':<12}{'rows before':>14}{'rows after':>12}")
    for name in TABLES:
        print(f"{name:<12}{before['rows'][name]:>14,}{after['rows'][name]:>12,}")
    print(
        f"pruned in {result['prune_seconds']} s; live data after pruning: "
        f"{result['live_bytes_per_message_after_prune']:,} bytes/message (the history); "
        f"WAL {before['wal_bytes_before_shrink']:,} -> {before['wal_bytes']:,} bytes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="22,000 messages (the issue's)")
    args = parser.parse_args()
    mode = "full" if args.full else "short"
    with tempfile.TemporaryDirectory(prefix="minibot-bench-") as tmp:
        result = asyncio.run(run(mode, Path(tmp)))
    print_table(result)
    print(f"wrote {write_result('storage_bench', mode, result)}")


if __name__ == "__main__":
    main()
