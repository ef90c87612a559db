"""The Telegram channel end to end: `minibot` as a subprocess on the fake Bot API and LLM."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import signal
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from tests.fakes.openai_server import FakeOpenAIServer, Script, _Format
from tests.fakes.telegram_server import DEFAULT_TOKEN, FakeTelegramServer, utf16_len
from tests.process import MINIBOT, child_env, write_config

OWNER = 42
STRANGER = 99
COMMANDS = {"start", "help", "reset", "usage", "memory"}
_CID = re.compile(r"correlation_id=(\S+)")


class Daemon:
    """One `minibot` process; its log (stderr) goes to a file read back by the test."""

    def __init__(self, config: Path, log_path: Path, env: dict[str, str]) -> None:
        self.config = config
        self.log_path = log_path
        self.env = env
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *MINIBOT,
                "--config",
                str(self.config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
                env={**child_env(), **self.env},
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self, limit_seconds: float = 20) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), limit_seconds)


# Importing aiogram alone takes seconds, so a daemon start is costly: the tests that need
# no particular config share one long-polling daemon (each on its own chats), and the rest
# (webhook, streaming, crashes) start their own on their own fakes. Those that take more
# than a few seconds (kills, restarts, waiting out Telegram's limits) are marked slow: the
# same behaviour has a fast in-process test in tests/adapters/messaging/telegram.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Shared:
    daemon: Daemon
    tg: FakeTelegramServer
    llm: FakeOpenAIServer
    path: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shared]:
    """One daemon on long polling for users 42-46; stopped cleanly after the module."""
    path = tmp_path_factory.mktemp("shared")
    async with llm_server() as llm, FakeTelegramServer() as tg:
        config = telegram_config(path, llm, tg, users=(OWNER, 43, 44, 45, 46))
        daemon = Daemon(config, path / "daemon.log", {})
        await daemon.start()
        try:
            yield Shared(daemon, tg, llm, path)
            code = await daemon.stop()
            assert code == 0, daemon.log()[-3000:]
        finally:
            if daemon.alive:
                await daemon.kill()


@contextlib.asynccontextmanager
async def llm_server(server: FakeOpenAIServer | None = None) -> AsyncIterator[FakeOpenAIServer]:
    server = server or FakeOpenAIServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def fake_llm() -> AsyncIterator[FakeOpenAIServer]:
    async with llm_server() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def fake_tg() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def daemons(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Starts daemons on tmp_path's config; any still running at the end is killed."""
    started: list[Daemon] = []

    async def start(config: Path, **env: str) -> Daemon:
        daemon = Daemon(config, tmp_path / f"daemon-{len(started)}.log", env)
        started.append(daemon)
        await daemon.start()
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            if daemon.alive:
                await daemon.kill()


def telegram_config(
    tmp_path: Path,
    llm: FakeOpenAIServer,
    tg: FakeTelegramServer,
    *,
    users: tuple[int, ...] = (OWNER,),
    extra: str = "",
) -> Path:
    return write_config(
        tmp_path,
        llm.base_url,
        f"""
[channels.telegram]
enabled = true
bot_token = "{DEFAULT_TOKEN}"
api_base = "{tg.base_url}"
allowed_user_ids = {list(users)}
polling_timeout_seconds = 1
max_send_attempts = 4
{extra}
""",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(
    daemon: Daemon,
    tg: FakeTelegramServer,
    predicate: Callable[[], bool],
    limit_seconds: float = 20.0,
) -> None:
    """Wait for `predicate` on the fake's record; on timeout, fail with the daemon's log."""
    try:
        await tg.wait_for(predicate, limit_seconds)
    except TimeoutError:
        tail = "\n".join(daemon.log().splitlines()[-40:])
        code = daemon.process.returncode if daemon.process else None
        raise AssertionError(f"condition not met (daemon exit code {code}); log:\n{tail}") from None


async def until_true(predicate: Callable[[], bool], limit_seconds: float = 20.0) -> None:
    """Poll a condition outside the fakes (such as the database), with an upper bound."""
    async with asyncio.timeout(limit_seconds):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.02)


def query(tmp_path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read the daemon's SQLite database (read-only, beside the running daemon)."""
    db = sqlite3.connect(f"file:{tmp_path / 'minibot.db'}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def texts(tg: FakeTelegramServer, chat_id: int) -> list[str]:
    return [m.visible_text for m in tg.messages_to(chat_id)]


def asked(llm: FakeOpenAIServer, text: str) -> int:
    """How many LLM requests had `text` as their last user message."""
    count = 0
    for request in llm.requests:
        users = [m for m in request.body.get("messages", []) if m.get("role") == "user"]
        count += bool(users) and users[-1].get("content") == text
    return count


def log_lines(log: str, msg: str) -> list[str]:
    return [line for line in log.splitlines() if f'msg="{msg}"' in line]


# ---- receiving and answering -------------------------------------------------------------


async def test_long_polling_answers_through_the_llm_with_one_correlation_id(
    shared: Shared,
) -> None:
    tg, llm = shared.tg, shared.llm
    update = tg.enqueue_text(OWNER, OWNER, "hello bot")
    await until(shared.daemon, tg, lambda: len(tg.messages_to(OWNER)) >= 1)
    assert texts(tg, OWNER) == ["echo: hello bot"]
    assert asked(llm, "hello bot") == 1
    assert {c["command"] for c in tg.commands} >= COMMANDS, "commands registered"

    log = shared.daemon.log()
    stored = [
        line
        for line in log_lines(log, "telegram update stored")
        if f"update_id={update['update_id']} " in line
    ]
    assert len(stored) == 1, log
    cid = _CID.search(stored[0])
    assert cid is not None and cid.group(1) != "-"
    received = [line for line in log_lines(log, "message received") if cid.group(0) in line]
    assert len(received) == 1, "the dispatcher logs under the update's correlation id"


@pytest.mark.slow
async def test_webhook_answers_enforces_the_secret_and_polling_deletes_it_again(
    tmp_path: Path, fake_llm: FakeOpenAIServer, fake_tg: FakeTelegramServer, daemons: Any
) -> None:
    port = free_port()
    webhook = f"""
mode = "webhook"
url = "http://127.0.0.1:{port}/telegram/hook"
listen_host = "127.0.0.1"
listen_port = {port}
secret_token = "s3cret-token_value"
"""
    config = telegram_config(tmp_path, fake_llm, fake_tg, extra=webhook)
    daemon = await daemons(config)
    await until(daemon, fake_tg, lambda: fake_tg.webhook is not None)
    assert fake_tg.webhook is not None
    assert fake_tg.webhook["url"] == f"http://127.0.0.1:{port}/telegram/hook"
    assert fake_tg.webhook["secret_token"] == "s3cret-token_value"
    assert {c["command"] for c in fake_tg.commands} >= COMMANDS

    forged = fake_tg.text_update(OWNER, OWNER, "forged")
    assert await fake_tg.push_webhook(forged, secret=None) == 403
    assert await fake_tg.push_webhook(forged, secret="wrong-secret") == 403

    for junk in malformed_updates(20, first_id=7000):
        assert await fake_tg.push_webhook(junk) == 200, "junk is acknowledged, not retried"
    update = fake_tg.text_update(OWNER, OWNER, "via webhook")
    assert await fake_tg.push_webhook(update) == 200
    assert await fake_tg.push_webhook(update) == 200, "a redelivery is acknowledged"
    await until(daemon, fake_tg, lambda: len(fake_tg.messages_to(OWNER)) >= 1)
    assert await daemon.stop() == 0
    assert texts(fake_tg, OWNER) == ["echo: via webhook"], "answered once, forged never"
    assert len(fake_llm.requests) == 1

    # The same bot switched back to long polling: the webhook must go, or getUpdates fails.
    telegram_config(tmp_path, fake_llm, fake_tg)
    deletes = len(fake_tg.calls_of("deleteWebhook"))
    daemon = await daemons(config)
    fake_tg.enqueue_text(OWNER, OWNER, "via polling")
    await until(daemon, fake_tg, lambda: len(fake_tg.messages_to(OWNER)) >= 2)
    assert len(fake_tg.calls_of("deleteWebhook")) > deletes
    assert fake_tg.webhook is None
    assert texts(fake_tg, OWNER) == ["echo: via webhook", "echo: via polling"]
    assert await daemon.stop() == 0


async def test_a_stranger_is_refused_without_an_llm_call_or_stored_history(
    shared: Shared,
) -> None:
    tg = shared.tg
    tg.enqueue_text(STRANGER, STRANGER, "let me in")
    await until(shared.daemon, tg, lambda: len(tg.messages_to(STRANGER)) >= 1)
    refusal = texts(tg, STRANGER)[0]
    assert "user id 99" in refusal and "chat id 99" in refusal
    assert asked(shared.llm, "let me in") == 0, "a refused sender never reaches the model"
    where = "WHERE conversation = 'telegram:99'"
    assert query(shared.path, f"SELECT count(*) FROM minibot_messages {where}") == [(0,)]
    assert query(shared.path, f"SELECT count(*) FROM minibot_inbox {where}") == [(0,)]
    assert [line for line in log_lines(shared.daemon.log(), "telegram sender refused")]


async def test_a_duplicate_update_is_answered_once(shared: Shared) -> None:
    tg, chat = shared.tg, 43
    update = tg.text_update(chat, chat, "once")
    tg.enqueue(update)
    tg.enqueue(update)
    await until(shared.daemon, tg, lambda: len(tg.messages_to(chat)) >= 1)
    # Delivered yet again after it was answered, then a new message behind it.
    tg.enqueue(update)
    tg.enqueue_text(chat, chat, "after")
    await until(shared.daemon, tg, lambda: len(tg.messages_to(chat)) >= 2)
    assert texts(tg, chat) == ["echo: once", "echo: after"]
    assert asked(shared.llm, "once") == 1


# ---- delivery ------------------------------------------------------------------------------


async def test_a_long_answer_is_split_at_paragraphs_within_the_limit(shared: Shared) -> None:
    tg, chat = shared.tg, 44
    rng = random.Random(4)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    paragraphs = [
        f"Paragraph {n}: " + " ".join(rng.choice(words) for _ in range(rng.randint(40, 160)))
        for n in range(30)
    ]
    answer = "\n\n".join(paragraphs)
    assert len(answer) > 9000
    shared.llm.script(Script.reply(answer))
    tg.enqueue_text(chat, chat, "tell me everything")
    await until(shared.daemon, tg, lambda: "Paragraph 29" in "".join(texts(tg, chat)))

    chunks = texts(tg, chat)
    assert len(chunks) >= 3
    assert all(utf16_len(chunk) <= 4096 for chunk in chunks)
    assert_rejoined(chunks, answer)
    for chunk in chunks:
        assert chunk.lstrip().startswith("Paragraph "), "split at paragraph boundaries"


def assert_rejoined(chunks: list[str], text: str) -> None:
    """The chunks are consecutive pieces of `text`, apart from whitespace between them."""
    position = 0
    for chunk in chunks:
        found = text.index(chunk.strip(), position)
        assert not text[position:found].strip(), "nothing lost between chunks"
        position = found + len(chunk.strip())
    assert not text[position:].strip(), "nothing lost at the end"


class PacedOpenAIServer(FakeOpenAIServer):
    """The fake OpenAI server with a pause between streamed chunks, as a model types."""

    chunk_delay_seconds: float = 0.03

    async def _stream(  # type: ignore[override]
        self,
        request: web.Request,
        fmt: _Format,
        body: dict[str, Any],
        script: Script,
        answer: Any,
        usage: Any,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in fmt.events(body, answer.text, script.tool_calls, usage):
            await response.write(event.encode())
            await asyncio.sleep(self.chunk_delay_seconds)
        self.answers.append(answer)
        await response.write_eof()
        return response


async def test_streaming_edits_are_throttled_and_end_in_the_full_answer(
    tmp_path: Path, fake_tg: FakeTelegramServer, daemons: Any
) -> None:
    interval = 0.3
    answer = "Here is a **streamed** answer: " + " ".join(f"word{n}" for n in range(40))
    llm = PacedOpenAIServer()
    await llm.start()
    try:
        llm.script(Script.reply(answer))
        extra = f"stream_edits = true\nedit_interval_seconds = {interval}\n"
        config = telegram_config(tmp_path, llm, fake_tg, extra=extra)
        daemon = await daemons(config, MINIBOT_LLM__STREAM="true")
        fake_tg.enqueue_text(OWNER, OWNER, "stream please")
        visible = answer.replace("**", "")

        def finished() -> bool:
            sent = fake_tg.messages_to(OWNER)
            return bool(sent) and fake_tg.current_text(OWNER, sent[0].message_id) == visible

        await until(daemon, fake_tg, finished)
        assert await daemon.stop() == 0
    finally:
        await llm.stop()

    sent = fake_tg.messages_to(OWNER)
    edits = fake_tg.edits_in(OWNER)
    assert len(sent) == 1, "one message, edited as the answer grows"
    assert all(e.message_id == sent[0].message_id for e in edits)
    assert 2 <= len(edits) < 30, "edits coalesce many tokens"
    times = [sent[0].at] + [e.at for e in edits]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Measured on arrival, so allow a little network jitter below the interval.
    assert min(gaps) >= interval - 0.05, gaps
    assert all(e.parse_mode is None for e in edits[:-1]), "drafts are plain text"
    assert edits[-1].parse_mode == "HTML" and "<b>streamed</b>" in edits[-1].text


async def test_flood_control_retries_after_retry_after(shared: Shared) -> None:
    tg, chat = shared.tg, 45
    tg.rate_limit("sendMessage", retry_after=1)
    tg.enqueue_text(chat, chat, "are you throttled?")
    await until(shared.daemon, tg, lambda: len(tg.messages_to(chat)) >= 1)
    first, second = [c for c in tg.calls_of("sendMessage") if c.params["chat_id"] == chat]
    assert second.at - first.at >= 1.0, "the retry waited out retry_after"
    assert texts(tg, chat) == ["echo: are you throttled?"]
    assert log_lines(shared.daemon.log(), "telegram flood control: chat paused")


@pytest.mark.slow
async def test_a_rate_limit_outlasting_the_attempts_loses_no_reply(
    tmp_path: Path, fake_llm: FakeOpenAIServer, fake_tg: FakeTelegramServer, daemons: Any
) -> None:
    # max_send_attempts = 4 with retry_after = 1: the limit outlasts the attempts.
    chats, per_chat = (501, 502, 503, 504), 3
    config = telegram_config(tmp_path, fake_llm, fake_tg, users=chats)
    daemon = await daemons(config)
    await until(daemon, fake_tg, lambda: bool(fake_tg.calls_of("getUpdates")))
    fake_tg.rate_limit_for("sendMessage", seconds=4.5, retry_after=1)
    limit_ends = time.monotonic() + 4.5
    for n in range(per_chat):
        for chat in chats:
            fake_tg.enqueue_text(chat, chat, f"chat {chat} message {n}")

    total = len(chats) * per_chat
    await until(daemon, fake_tg, lambda: len(fake_tg.sent) >= total, limit_seconds=30)
    assert await daemon.stop() == 0
    for chat in chats:
        assert texts(fake_tg, chat) == [f"echo: chat {chat} message {n}" for n in range(per_chat)]
        calls = [c for c in fake_tg.calls_of("sendMessage") if c.params["chat_id"] == chat]
        # A call made while the limit lasted was answered 429; the next one waited.
        after = [b.at - a.at for a, b in itertools.pairwise(calls) if a.at < limit_ends - 0.05]
        assert after and min(after) >= 0.95, f"chat {chat}: each send after a 429 waited"
    assert not log_lines(daemon.log(), "telegram reply given up")
    assert query(tmp_path, "SELECT count(*) FROM minibot_inbox WHERE NOT done") == [(0,)]


@pytest.mark.slow
async def test_a_reply_held_by_a_refused_token_is_sent_by_the_next_run(
    tmp_path: Path, fake_llm: FakeOpenAIServer, fake_tg: FakeTelegramServer, daemons: Any
) -> None:
    fake_tg.fail_for("sendMessage", 401, "Unauthorized")
    config = telegram_config(tmp_path, fake_llm, fake_tg)
    daemon = await daemons(config)
    fake_tg.enqueue_text(OWNER, OWNER, "are you there?")
    refused = "telegram refuses the bot token: sending paused until it is accepted again"
    await until_true(lambda: bool(log_lines(daemon.log(), refused)))
    assert "at=ERROR" in log_lines(daemon.log(), refused)[0]

    stopping = asyncio.get_running_loop().time()
    assert await daemon.stop() == 0
    assert asyncio.get_running_loop().time() - stopping < 10, "within the shutdown budget"
    assert fake_tg.messages_to(OWNER) == []
    assert query(tmp_path, "SELECT count(*) FROM minibot_inbox WHERE NOT done") == [(1,)]

    fake_tg.heal("sendMessage")
    daemon = await daemons(config)
    await until(daemon, fake_tg, lambda: len(fake_tg.messages_to(OWNER)) >= 1)
    assert await daemon.stop() == 0
    assert texts(fake_tg, OWNER) == ["echo: are you there?"]
    assert asked(fake_llm, "are you there?") == 1, "the stored answer is replayed"
    assert query(tmp_path, "SELECT count(*) FROM minibot_inbox WHERE NOT done") == [(0,)]


# ---- crashes ---------------------------------------------------------------------------


def recorded_message_ids(tmp_path: Path) -> set[int]:
    return {int(row[0]) for row in query(tmp_path, "SELECT message_id FROM minibot_deliveries")}


@pytest.mark.slow
async def test_killed_during_a_burst_every_update_is_answered_once_in_order(
    tmp_path: Path, fake_llm: FakeOpenAIServer, fake_tg: FakeTelegramServer, daemons: Any
) -> None:
    chats = tuple(range(101, 107))
    per_chat = 10
    fake_llm.latency_ms = 50
    config = telegram_config(tmp_path, fake_llm, fake_tg, users=chats)
    for n in range(per_chat):
        for chat in chats:
            fake_tg.enqueue_text(chat, chat, f"chat {chat} message {n}")

    daemon = await daemons(config)
    await until(daemon, fake_tg, lambda: len(fake_tg.sent) >= 15)
    # Telegram may accept a message the instant before a crash, and the bot can never
    # know; that window is outside this test. Sends are held (so the daemon is mid-burst,
    # with replies waiting), and the kill comes once every accepted one is recorded.
    fake_tg.hold("sendMessage")
    await until_true(lambda: {m.message_id for m in fake_tg.sent} <= recorded_message_ids(tmp_path))
    await daemon.kill()
    fake_tg.release("sendMessage", drop=True)
    before = len(fake_tg.sent)
    assert before < len(chats) * per_chat, "the kill came mid-burst"

    daemon = await daemons(config)
    total = len(chats) * per_chat
    await until(daemon, fake_tg, lambda: len(fake_tg.sent) >= total, limit_seconds=30)
    assert await daemon.stop() == 0
    assert len(fake_tg.sent) == total, "no update answered twice"
    for chat in chats:
        replies = fake_tg.messages_to(chat)
        assert [m.visible_text for m in replies] == [
            f"echo: chat {chat} message {n}" for n in range(per_chat)
        ], f"chat {chat} answered in order"
    assert query(tmp_path, "SELECT count(*) FROM minibot_inbox WHERE NOT done") == [(0,)]
    assert log_lines(daemon.log(), "telegram pending updates republished")


@pytest.mark.slow
async def test_killed_mid_reply_resumes_at_the_first_unrecorded_chunk(
    tmp_path: Path, fake_llm: FakeOpenAIServer, fake_tg: FakeTelegramServer, daemons: Any
) -> None:
    paragraphs = [f"Part {n}. " + ("lorem ipsum dolor " * 55).strip() for n in range(20)]
    answer = "\n\n".join(paragraphs)
    fake_llm.script(Script.reply(answer))
    config = telegram_config(tmp_path, fake_llm, fake_tg)
    # Two chunks go through; the third waits, so the daemon dies between chunks 2 and 3.
    fake_tg.hold("sendMessage", after=2)
    daemon = await daemons(config)
    fake_tg.enqueue_text(OWNER, OWNER, "a long story please")
    await until(daemon, fake_tg, lambda: fake_tg.held("sendMessage") == 1)
    await daemon.kill()
    fake_tg.release("sendMessage", drop=True)
    first_run = texts(fake_tg, OWNER)
    assert len(first_run) == 2

    daemon = await daemons(config)
    await until(daemon, fake_tg, lambda: "Part 19." in "".join(texts(fake_tg, OWNER)))
    assert await daemon.stop() == 0
    chunks = texts(fake_tg, OWNER)
    assert len(chunks) == 5 and chunks[:2] == first_run, "each chunk once, in order"
    assert_rejoined(chunks, answer)
    assert len(fake_llm.requests) == 1, "the stored answer is replayed, not asked again"


@pytest.mark.slow
async def test_a_remind_handled_again_after_a_kill_creates_one_job(
    tmp_path: Path, fake_llm: FakeOpenAIServer, fake_tg: FakeTelegramServer, daemons: Any
) -> None:
    config = telegram_config(tmp_path, fake_llm, fake_tg)
    # The job is saved, the reply waits on Telegram: the kill leaves the item open.
    fake_tg.hold("sendMessage")
    daemon = await daemons(config)
    fake_tg.enqueue_text(OWNER, OWNER, "/remind in 2 hours water the plants")
    await until(daemon, fake_tg, lambda: fake_tg.held("sendMessage") == 1)
    await daemon.kill()
    fake_tg.release("sendMessage", drop=True)
    assert query(tmp_path, "SELECT count(*) FROM minibot_inbox WHERE NOT done") == [(1,)]

    daemon = await daemons(config)
    await until(daemon, fake_tg, lambda: any("Reminder" in t for t in texts(fake_tg, OWNER)))
    fake_tg.enqueue_text(OWNER, OWNER, "/tasks")
    await until(daemon, fake_tg, lambda: any("Your jobs" in t for t in texts(fake_tg, OWNER)))
    assert await daemon.stop() == 0
    [listing] = [t for t in texts(fake_tg, OWNER) if "Your jobs" in t]
    assert listing.startswith("Your jobs (1)"), listing
    assert listing.count("water the plants") == 1


# ---- bad input -------------------------------------------------------------------------


def malformed_updates(count: int, first_id: int) -> list[Any]:
    rng = random.Random(10)
    chat = {"id": 7, "type": "private"}
    person = {"id": 7, "is_bot": False, "first_name": "X"}
    shapes: list[Callable[[int], Any]] = [
        lambda n: None,
        lambda n: n,
        lambda n: "update",
        lambda n: [n, {"message": {}}],
        lambda n: {},
        lambda n: {"update_id": n},
        lambda n: {"update_id": str(n), "message": {"text": "x"}},
        lambda n: {"update_id": -n, "message": None},
        lambda n: {"update_id": n, "message": "not an object"},
        lambda n: {"update_id": n, "message": {"message_id": 1}},
        lambda n: {"update_id": n, "message": {"message_id": "x", "chat": chat, "text": 5}},
        lambda n: {"update_id": n, "message": {"message_id": 1, "date": 0, "chat": "7"}},
        lambda n: {
            "update_id": n,
            "message": {"message_id": 1, "date": 0, "chat": chat, "from": person, "text": [1]},
        },
        lambda n: {"update_id": n, "callback_query": {"id": 5, "data": None}},
        lambda n: {"update_id": n, "poll": {"id": "p", "question": "?"}},
        lambda n: {"update_id": n, "edited_message": {"text": "edited"}},
        lambda n: {"update_id": n, "message": {"chat": {"id": None}, "text": "\x00" * 50}},
        lambda n: {"update_id": True, "message": {}},
        lambda n: {"update_id": n, "message": {"message_id": 2, "date": "now", "chat": chat}},
        lambda n: {"update_id": n, "message": {"nested": [[[[{"deep": "x" * 5000}]]]]}},
    ]
    return [rng.choice(shapes)(first_id + n) for n in range(count)]


async def test_hundreds_of_malformed_updates_then_a_normal_message_is_answered(
    shared: Shared,
) -> None:
    tg, chat = shared.tg, 46
    first_id = max(tg.confirmed_offset, 10_000)
    for update in malformed_updates(300, first_id):
        tg.enqueue(update, assign_id=False)
    normal = {**tg.text_update(chat, chat, "still there?"), "update_id": first_id + 1000}
    tg.enqueue(normal)
    await until(shared.daemon, tg, lambda: len(tg.messages_to(chat)) >= 1, limit_seconds=30)
    assert shared.daemon.alive
    assert texts(tg, chat) == ["echo: still there?"]
    assert asked(shared.llm, "still there?") == 1
    assert log_lines(shared.daemon.log(), "telegram update skipped")
