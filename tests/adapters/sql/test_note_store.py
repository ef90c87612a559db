"""Contract of NoteStore, run against the fake, SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.note_store import SqlNoteStore
from minibot.core.notes import NoteProvenance
from minibot.core.ports.note_store import NoteStore
from tests.adapters.sql.conftest import BACKENDS
from tests.fakes.memory import InMemoryNoteStore


@pytest.fixture(params=[*BACKENDS, "sqlite_fallback"])
def database(request: pytest.FixtureRequest) -> SqlDatabase | None:
    if request.param == "memory":
        return None
    return request.getfixturevalue(f"{request.param}_database")


@pytest.fixture
async def notes(database: SqlDatabase | None) -> NoteStore:
    store = InMemoryNoteStore() if database is None else SqlNoteStore(database)
    await store.start()
    return store


async def test_a_saved_note_comes_back_with_everything(notes: NoteStore) -> None:
    source = NoteProvenance("telegram:42", "m7", "call-1", datetime(2025, 1, 1, tzinfo=UTC))
    saved = await notes.save(
        "alice", "Wifi password", "hunter2", ["home", "секрет"], {"source": "chat", "n": 2}, source
    )

    got = await notes.get("alice", "wifi PASSWORD")

    assert got == saved
    assert got is not None
    assert got.title == "Wifi password"
    assert got.tags == ("home", "секрет")
    assert got.metadata == {"source": "chat", "n": 2}
    assert got.provenance == source
    assert got.created_at is not None and got.created_at.tzinfo is not None


async def test_saving_the_same_title_updates_the_note(notes: NoteStore) -> None:
    first = await notes.save("alice", "Shopping", "milk")
    second = await notes.save("alice", "  shopping ", "milk, eggs", ["list"])

    assert second.id == first.id
    assert second.created_at == first.created_at
    assert second.content == "milk, eggs"
    assert await notes.count("alice") == 1


async def test_get_tolerates_a_small_typo_but_not_a_different_title(notes: NoteStore) -> None:
    await notes.save("alice", "Dentist appointment", "Tuesday 10:00")
    await notes.save("alice", "Car insurance", "renew in May")

    near = await notes.get("alice", "dentist apointment")

    assert near is not None and near.title == "Dentist appointment"
    assert await notes.get("alice", "holiday plans") is None
    assert await notes.get("bob", "Dentist appointment") is None


async def test_search_ranks_notes_matching_more_words_first(notes: NoteStore) -> None:
    await notes.save("alice", "Groceries", "buy milk and bread")
    await notes.save("alice", "Pasta recipe", "boil water, add salt, cook pasta with garlic")
    await notes.save("alice", "Garlic bread", "bread with garlic butter, bake 10 minutes")
    await notes.save("alice", "Taxes", "file before April")

    found = await notes.search("alice", "garlic bread", limit=10)

    assert found[0].title == "Garlic bread"
    assert {n.title for n in found} == {"Garlic bread", "Groceries", "Pasta recipe"}
    assert len(await notes.search("alice", "garlic bread", limit=1)) == 1


async def test_search_matches_word_prefixes_and_tags(notes: NoteStore) -> None:
    await notes.save("alice", "Trip", "flights booked", ["travel"])

    assert [n.title for n in await notes.search("alice", "flight")] == ["Trip"]
    assert [n.title for n in await notes.search("alice", "TRAVEL")] == ["Trip"]
    assert await notes.search("alice", "hotel") == []


async def test_a_query_without_words_finds_nothing(notes: NoteStore) -> None:
    await notes.save("alice", "Anything", "content")

    assert await notes.search("alice", "") == []
    assert await notes.search("alice", "  *** ") == []


ADVERSARIAL = [
    '" OR 1=1 --',
    "' OR '1'='1",
    "*",
    "owner:mallory",
    "owner_id:mallory secret",
    "title:secret",
    "secret*",
    '"unbalanced',
    "NEAR(secret launch)",
    "secret AND NOT x",
    "-secret",
    "^secret",
    "secret:*",
    "secret | launch & !x",
    "%",
    "_",
    "\\",
    "'; DROP TABLE minibot_notes; --",
    "{title content}: secret",
    "secret\x00launch",
    "ⅷ ½ ²",
]


@pytest.mark.parametrize("query", ADVERSARIAL)
async def test_no_query_reaches_another_owners_notes(notes: NoteStore, query: str) -> None:
    await notes.save("mallory", "secret launch codes", "secret 0000 launch", ["secret"])
    await notes.save("alice", "My secret", "alice secret recipe")

    found = await notes.search("alice", query, limit=50)
    got = await notes.get("alice", query)

    assert all(n.owner_id == "alice" for n in found)
    assert got is None or got.owner_id == "alice"
    assert await notes.delete("alice", query) is False
    assert await notes.count("mallory") == 1


@pytest.mark.parametrize("owner", ["' OR 1=1 --", "%", "*", "mallory' --", ""])
async def test_no_owner_id_reaches_another_owners_notes(notes: NoteStore, owner: str) -> None:
    await notes.save("mallory", "secret", "secret content")

    assert await notes.search(owner, "secret") == []
    assert await notes.get(owner, "secret") is None
    assert await notes.list(owner) == []
    assert await notes.count(owner) == 0
    assert await notes.delete(owner, "secret") is False
    assert await notes.delete_all(owner) == 0
    assert await notes.count("mallory") == 1


async def test_list_pages_through_notes_newest_first(notes: NoteStore) -> None:
    for n in range(5):
        await notes.save("alice", f"note {n}", "x")
    await notes.save("bob", "other", "x")

    first_page = await notes.list("alice", offset=0, limit=3)
    second_page = await notes.list("alice", offset=3, limit=3)

    assert [n.title for n in first_page] == ["note 4", "note 3", "note 2"]
    assert [n.title for n in second_page] == ["note 1", "note 0"]


async def test_delete_and_delete_all_touch_one_owner_only(notes: NoteStore) -> None:
    await notes.save("alice", "One", "1")
    await notes.save("alice", "Two", "2")
    await notes.save("bob", "One", "bob's")

    assert await notes.delete("alice", "ONE") is True
    assert await notes.delete("alice", "One") is False
    assert await notes.search("alice", "1") == []
    assert await notes.delete_all("alice") == 1
    assert await notes.count("alice") == 0
    assert await notes.count("bob") == 1
    assert [n.content for n in await notes.search("bob", "one")] == ["bob's"]


async def test_a_save_from_the_same_origin_returns_the_note_it_saved_first(
    notes: NoteStore,
) -> None:
    first_run = NoteProvenance("telegram:42", "m7", "call-a", origin="telegram:42#in7/save_note#0")
    saved = await notes.save("alice", "Mum's number", "555-0101", provenance=first_run)
    # The same tool call of the same turn, run again after a crash: new call id, new words.
    second_run = NoteProvenance("telegram:42", "m7", "call-b", origin="telegram:42#in7/save_note#0")
    again = await notes.save("alice", "Mum phone", "555 0101", provenance=second_run)

    assert again == saved
    assert await notes.count("alice") == 1
    assert (await notes.get("alice", "Mum's number")) == saved
    # Another owner's note with that origin is not theirs to get back.
    bobs = await notes.save("bob", "Mum phone", "555 0101", provenance=second_run)
    assert bobs.owner_id == "bob" and bobs.id != saved.id
    # A later save of the same title from another turn updates the note as before.
    later = NoteProvenance("telegram:42", "m9", "call-c", origin="telegram:42#in9/save_note#0")
    updated = await notes.save("alice", "Mum's number", "555-0199", provenance=later)
    assert updated.id == saved.id and updated.content == "555-0199"


async def test_a_notes_table_from_before_origins_gains_the_column_at_start(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE minibot_notes (id INTEGER PRIMARY KEY, owner_id VARCHAR(255) NOT NULL, "
        "title VARCHAR(1000) NOT NULL, title_key VARCHAR(1000) NOT NULL, content TEXT NOT NULL, "
        "tags TEXT NOT NULL, meta TEXT NOT NULL, prov_conversation VARCHAR(255), "
        "prov_message_id VARCHAR(255), prov_tool_call_id VARCHAR(255), prov_at DATETIME, "
        "created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, "
        "CONSTRAINT uq_minibot_notes_owner_title UNIQUE (owner_id, title_key))"
    )
    old.execute(
        "INSERT INTO minibot_notes (owner_id, title, title_key, content, tags, meta, created_at, "
        "updated_at) VALUES ('alice', 'Old', 'old', 'kept', '[]', '{}', "
        "'2025-01-01 00:00:00.000000', '2025-01-01 00:00:00.000000')"
    )
    old.commit()
    old.close()
    database = SqlDatabase(f"sqlite+aiosqlite:///{path}")
    notes = SqlNoteStore(database)
    await notes.start()
    try:
        kept = await notes.get("alice", "old")
        assert kept is not None and kept.content == "kept" and kept.provenance.origin is None
        source = NoteProvenance(origin="console:x#in1/save_note#0")
        first = await notes.save("alice", "New", "one", provenance=source)
        assert await notes.save("alice", "Newer", "two", provenance=source) == first
        assert [n.title for n in await notes.search("alice", "old")] == ["Old"]
    finally:
        await database.stop()
