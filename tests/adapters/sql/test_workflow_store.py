"""The workflow store contract, on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.workflow_store import SqlWorkflowStore
from minibot.core.ports.workflow_store import WorkflowStore
from minibot.core.workflows import StepKind, workflow_from_fields
from tests.fakes.memory import InMemoryWorkflowStore

DIGEST = workflow_from_fields(
    "digest",
    "the morning page, summed up",
    [
        {"kind": "fetch", "name": "page", "url": "https://example.org/news"},
        {"kind": "run_code", "code": "print(len('{page.text}'))"},
        {"kind": "ask", "name": "gist", "prompt": "Sum up: {page.text} ({step2})"},
        {"kind": "send", "text": "Today: {gist}"},
    ],
)


def _store(database: SqlDatabase | None) -> WorkflowStore:
    if database is None:
        return InMemoryWorkflowStore()
    return SqlWorkflowStore(database)


async def test_a_saved_workflow_comes_back_whole(database: SqlDatabase | None) -> None:
    store = _store(database)
    assert await store.get("ada", "digest") is None
    await store.save("ada", DIGEST)
    found = await store.get("ada", "digest")
    assert found == DIGEST
    assert found is not None and found.steps[1].fields == {
        "code": "print(len('{page.text}'))",
        "language": "python",
    }
    assert found.steps[1].kind is StepKind.RUN_CODE
    if database is not None:
        # A fresh store over the same database (a restart) reads it back.
        assert await SqlWorkflowStore(database).get("ada", "digest") == DIGEST


async def test_workflows_are_scoped_by_owner(database: SqlDatabase | None) -> None:
    store = _store(database)
    await store.save("ada", DIGEST)
    other = workflow_from_fields("digest", "", [{"kind": "send", "text": "hi"}])
    await store.save("bob", other)
    assert await store.get("ada", "digest") == DIGEST
    assert await store.get("bob", "digest") == other
    assert await store.get("eve", "digest") is None
    assert await store.list_for("eve") == []
    assert await store.delete("eve", "digest") is False
    assert await store.get("ada", "digest") == DIGEST


async def test_saving_again_replaces_and_delete_removes(database: SqlDatabase | None) -> None:
    store = _store(database)
    await store.save("ada", DIGEST)
    ping = workflow_from_fields("ping", "", [{"kind": "send", "text": "pong"}])
    await store.save("ada", ping)
    shorter = workflow_from_fields("digest", "new", [{"kind": "send", "text": "hello"}])
    await store.save("ada", shorter)
    assert [w.name for w in await store.list_for("ada")] == ["digest", "ping"]
    assert await store.get("ada", "digest") == shorter
    assert await store.delete("ada", "digest") is True
    assert await store.delete("ada", "digest") is False
    assert await store.list_for("ada") == [ping]
