"""Benchmark of SQLite memory: history-window loads, note search, and inbox throughput."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.results import write_result
from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.inbox import SqlInbox
from minibot.adapters.sql.note_store import SqlNoteStore
from minibot.adapters.sql.tables import messages, notes
from minibot.core.conversation import ConversationKey
from minibot.core.notes import title_key

SIZES = {
    "short": {"messages": 100_000, "conversations": 1_000, "notes": 20_000, "inbox": 5_000},
    "full": {"messages": 1_000_000, "conversations": 10_000, "notes": 100_000, "inbox": 20_000},
}
TARGET_WINDOW_P99_MS = 2.0
TARGET_SEARCH_P99_MS = 20.0
BATCH_ROWS = 20_000
NOTE_OWNERS = 10


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples_ms), 3),
        "p99_ms": round(percentile(samples_ms, 0.99), 3),
        "max_ms": round(max(samples_ms), 3),
        "samples": len(samples_ms),
    }


async def bulk_insert(db: SqlDatabase, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH_ROWS):
        chunk = rows[start : start + BATCH_ROWS]

        def operation(conn: Connection, chunk: list[dict[str, Any]] = chunk) -> None:
            conn.execute(insert(table), chunk)

        await db.write(operation)


def words(rng: random.Random, vocabulary: list[str], count: int) -> str:
    return " ".join(rng.choices(vocabulary, k=count))


async def fill_messages(
    db: SqlDatabase, total: int, conversations: int, rng: random.Random
) -> float:
    now = datetime.now(UTC)
    began = time.perf_counter()
    for start in range(0, total, BATCH_ROWS * 5):
        rows = [
            {
                # Round-robin: a conversation's rows are spread over the whole table.
                "conversation": f"telegram:{n % conversations}",
                "role": "user" if (n // conversations) % 2 == 0 else "assistant",
                "content": "x" * rng.randint(20, 400),
                "tool_calls": None,
                "tool_call_id": None,
                "meta": None,
                "token_estimate": rng.randint(10, 110),
                "created_at": now,
            }
            for n in range(start, min(total, start + BATCH_ROWS * 5))
        ]
        await bulk_insert(db, messages, rows)
    return time.perf_counter() - began


async def fill_notes(
    db: SqlDatabase, total: int, vocabulary: list[str], rng: random.Random
) -> float:
    now = datetime.now(UTC)
    rows = []
    for n in range(total):
        title = f"{words(rng, vocabulary, 3)} {n}"
        rows.append(
            {
                "owner_id": f"telegram:{n % NOTE_OWNERS}",
                "title": title,
                "title_key": title_key(title),
                "content": words(rng, vocabulary, rng.randint(10, 60)),
                "tags": json.dumps(rng.sample(vocabulary[:50], 2)),
                "meta": "{}",
                "created_at": now,
                "updated_at": now,
            }
        )
    began = time.perf_counter()
    await bulk_insert(db, notes, rows)
    return time.perf_counter() - began


async def time_calls(calls: int, make_call: Any) -> list[float]:
    samples = []
    for _ in range(calls):
        began = time.perf_counter()
        await make_call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def inbox_throughput(db: SqlDatabase, total: int, chats: int = 50) -> float:
    inbox = SqlInbox(db)

    async def chat(n: int) -> None:
        for k in range(total // chats):
            await inbox.add("bench", f"{n}-{k}", f"bench:{n}", '{"text": "hello"}')

    began = time.perf_counter()
    await asyncio.gather(*(chat(n) for n in range(chats)))
    return (total // chats * chats) / (time.perf_counter() - began)


async def run(mode: str, directory: Path) -> dict[str, Any]:
    size = SIZES[mode]
    rng = random.Random(7)
    vocabulary = [f"w{n:04d}{chr(97 + n % 26)}" for n in range(5_000)]
    db = SqlDatabase(f"sqlite+aiosqlite:///{directory / 'bench.db'}")
    await db.start()
    try:
        fill_messages_s = await fill_messages(db, size["messages"], size["conversations"], rng)
        memory = SqlConversationMemory(db)

        async def load_window() -> None:
            key = ConversationKey("telegram", str(rng.randrange(size["conversations"])))
            await memory.recent(key, max_messages=30, max_tokens=6000)

        await time_calls(200, load_window)  # warm the page cache
        window = summary(await time_calls(2_000, load_window))

        fill_notes_s = await fill_notes(db, size["notes"], vocabulary, rng)
        store = SqlNoteStore(db)

        async def search() -> None:
            owner = f"telegram:{rng.randrange(NOTE_OWNERS)}"
            await store.search(owner, " ".join(rng.sample(vocabulary, 2)), limit=10)

        await time_calls(100, search)
        note_search = summary(await time_calls(1_000, search))
        adds_per_second = await inbox_throughput(db, size["inbox"])
    finally:
        await db.stop()
    return {
        "mode": mode,
        "sizes": size,
        "fill_messages_per_second": round(size["messages"] / fill_messages_s),
        "fill_notes_per_second": round(size["notes"] / fill_notes_s),
        "window_load": window | {"target_p99_ms": TARGET_WINDOW_P99_MS},
        "note_search": note_search | {"target_p99_ms": TARGET_SEARCH_P99_MS},
        "inbox_adds_per_second_50_chats": round(adds_per_second),
        "full_text_search": db.full_text_search,
    }


def print_table(result: dict[str, Any]) -> None:
    size = result["sizes"]
    print(
        f"mode={result['mode']}  messages={size['messages']:,}  "
        f"conversations={size['conversations']:,}  notes={size['notes']:,}"
    )
    print(f"{'measure':<34}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'target p99':>12}  ok")
    for label, key in (
        ("load window (30 msgs)", "window_load"),
        ("note search (top 10)", "note_search"),
    ):
        row = result[key]
        ok = "yes" if row["p99_ms"] <= row["target_p99_ms"] else "NO"
        print(
            f"{label:<34}{row['p50_ms']:>10.3f}{row['p99_ms']:>10.3f}{row['max_ms']:>10.3f}"
            f"{row['target_p99_ms']:>12.1f}  {ok}"
        )
    print(f"bulk insert messages/s: {result['fill_messages_per_second']:,}")
    print(f"bulk insert notes/s:    {result['fill_notes_per_second']:,}")
    print(
        f"inbox.add/s (50 concurrent chats, durable each): "
        f"{result['inbox_adds_per_second_50_chats']:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="1M messages, 100k notes")
    args = parser.parse_args()
    mode = "full" if args.full else "short"
    with tempfile.TemporaryDirectory(prefix="minibot-bench-") as tmp:
        result = asyncio.run(run(mode, Path(tmp)))
    print_table(result)
    print(f"wrote {write_result('memory_bench', mode, result)}")


if __name__ == "__main__":
    main()
