"""Named models and fallbacks over two fake OpenAI servers, through the real HTTP adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from minibot.adapters.config.schema import LLMSettings
from minibot.adapters.llm import LlmAsyncModel
from minibot.adapters.sql.conversation_settings_store import SqlConversationSettingsStore
from minibot.adapters.sql.database import SqlDatabase
from minibot.app import replies
from minibot.app.model_lineup import ModelLineup, ModelOption
from minibot.core.prices import Price
from tests.app.harness import AppHarness, build_app
from tests.fakes.language_model import ScriptedLanguageModel
from tests.fakes.memory import InMemoryConversationMemory
from tests.fakes.openai_server import FakeOpenAIServer, Script


@pytest.fixture
async def primary() -> AsyncIterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def backup() -> AsyncIterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    await server.start()
    yield server
    await server.stop()


def _model(server: FakeOpenAIServer, name: str) -> LlmAsyncModel:
    settings = LLMSettings(
        base_url=server.base_url,
        api_key="sk-test",
        model=name,
        request_timeout_seconds=5.0,
        max_attempts=2,
        retry_initial_delay_seconds=0.01,
        retry_max_delay_seconds=0.02,
    )
    return LlmAsyncModel(settings)


def lineup(primary: FakeOpenAIServer, backup: FakeOpenAIServer) -> ModelLineup:
    return ModelLineup(
        [
            ModelOption("default", _model(primary, "big-model"), Price(1.0, 2.0)),
            ModelOption("cheap", _model(backup, "small-model"), Price(0.1, 0.2)),
        ],
        default_alias="default",
        fallbacks=["cheap"],
    )


async def _app(**kwargs: Any) -> AppHarness:
    app = build_app(**kwargs)
    await app.start()
    return app


async def test_a_primary_failing_with_500s_is_answered_by_the_fallback_and_the_reply_says_so(
    primary: FakeOpenAIServer, backup: FakeOpenAIServer
) -> None:
    primary.script(Script.error(500), Script.error(500))
    backup.script(Script.reply("Hello from the backup."))
    app = await _app(lineup=lineup(primary, backup))
    try:
        await app.say("hi")
        await app.settle()
        [reply] = app.channel.texts()
        assert reply.startswith("Hello from the backup.")
        assert "cheap (small-model)" in reply and "HTTP 500" in reply
        assert reply.count("Answered by") == 1
        assert len(primary.requests) == 2, "the primary's own retries ran first"
        assert [r.body["model"] for r in backup.requests] == ["small-model"]
        [record] = app.usage.records
        assert record.model == "small-model", "the ledger names the model that answered"
    finally:
        await app.stop()


async def test_a_401_is_not_retried_on_the_fallback(
    primary: FakeOpenAIServer, backup: FakeOpenAIServer
) -> None:
    primary.script(Script.error(401))
    app = await _app(lineup=lineup(primary, backup))
    try:
        await app.say("hi")
        await app.settle()
        assert app.channel.texts() == [replies.MODEL_REJECTED]
        assert backup.requests == [], "a refused request never goes to the fallback"
    finally:
        await app.stop()


async def test_model_lists_the_aliases_with_prices_and_switches_the_next_request(
    primary: FakeOpenAIServer, backup: FakeOpenAIServer
) -> None:
    app = await _app(lineup=lineup(primary, backup))
    try:
        await app.say("/model")
        await app.settle()
        [listing] = app.channel.texts()
        assert "default: big-model, $1 / $2" in listing and "cheap: small-model" in listing
        await app.say("/model cheap")
        await app.say("hello")
        await app.settle()
        assert primary.requests == []
        assert [r.body["model"] for r in backup.requests] == ["small-model"]
    finally:
        await app.stop()


async def test_a_switched_model_is_kept_across_a_restart(
    primary: FakeOpenAIServer, backup: FakeOpenAIServer, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'minibot.db'}"
    memory = InMemoryConversationMemory()

    async def boot() -> tuple[AppHarness, SqlDatabase]:
        database = SqlDatabase(url)
        await database.start()
        store = SqlConversationSettingsStore(database)
        app = await _app(lineup=lineup(primary, backup), conversation_settings=store, memory=memory)
        return app, database

    app, database = await boot()
    try:
        await app.say("/model cheap")
        await app.settle()
        assert app.channel.texts() == ["This conversation now uses cheap (small-model)."]
    finally:
        await app.stop()
        await database.stop()

    app, database = await boot()
    try:
        await app.say("after the restart")
        await app.settle()
        assert [r.body["model"] for r in backup.requests] == ["small-model"]
        assert primary.requests == []
        await app.say("/model default")
        await app.say("and back")
        await app.settle()
        assert [r.body["model"] for r in primary.requests] == ["big-model"]
    finally:
        await app.stop()
        await database.stop()


def _scripted_lineup() -> tuple[ModelLineup, ScriptedLanguageModel, ScriptedLanguageModel]:
    main, spare = ScriptedLanguageModel("main-model"), ScriptedLanguageModel("spare-model")
    lineup = ModelLineup(
        [ModelOption("default", main, Price(1, 1)), ModelOption("spare", spare, Price(1, 1))],
        default_alias="default",
        fallbacks=["spare"],
    )
    return lineup, main, spare


@pytest.mark.parametrize("failure", ["429", "503", "timeout", "drop"])
async def test_every_passing_failure_falls_back(failure: str) -> None:
    lineup, main, spare = _scripted_lineup()
    if failure == "timeout":
        main.then_timeout()
    elif failure == "drop":
        main.then_drop()
    else:
        main.then_status(int(failure))
    app = await _app(lineup=lineup)
    try:
        await app.say("hi")
        await app.settle()
        [reply] = app.channel.texts()
        assert reply.startswith("echo: hi") and "Answered by spare (spare-model)" in reply
        assert len(spare.calls) == 1
    finally:
        await app.stop()


@pytest.mark.parametrize("status", [400, 403])
async def test_a_refused_request_never_falls_back(status: int) -> None:
    lineup, main, spare = _scripted_lineup()
    main.then_status(status)
    app = await _app(lineup=lineup)
    try:
        await app.say("hi")
        await app.settle()
        assert app.channel.texts() == [replies.MODEL_REJECTED] and spare.calls == []
    finally:
        await app.stop()


async def test_a_stream_cut_after_text_was_shown_is_not_answered_again_elsewhere() -> None:
    lineup, main, spare = _scripted_lineup()
    main.then_cut("The answer is forty two", after_pieces=2)
    app = await _app(lineup=lineup, stream=True)
    try:
        await app.say("question")
        await app.settle()
        [reply] = app.channel.texts()
        assert reply.startswith("The answer ") and replies.STREAM_INTERRUPTED in reply
        assert spare.calls == []
    finally:
        await app.stop()


async def test_an_answer_cut_at_the_length_limit_says_so(
    primary: FakeOpenAIServer, backup: FakeOpenAIServer
) -> None:
    primary.script(Script(text="The first half of", truncated=True))
    app = await _app(lineup=lineup(primary, backup))
    try:
        await app.say("tell me everything")
        await app.settle()
        assert app.channel.texts() == [f"The first half of\n\n{replies.ANSWER_CUT}"]
        stored = await app.memory.recent(
            app.channel.delivered[0].conversation, max_messages=5, max_tokens=999
        )
        assert stored[-1].content == "The first half of", "the history keeps the answer alone"
    finally:
        await app.stop()
