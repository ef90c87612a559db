"""The checks `minibot doctor` runs: each returns one `Finding` with what to do if it failed."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import filelock
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from minibot.adapters.config.schema import Settings
from minibot.adapters.db_command import databases, on_database
from minibot.adapters.first_run.probes import probe_model, probe_slack, probe_telegram
from minibot.adapters.sql import schema_migrations as schema
from minibot.core.conversation import ChatMessage, Role
from minibot.core.errors import LLMError

Status = Literal["ok", "warn", "FAIL", "skip"]

DATABASE_TIMEOUT_SECONDS = 10.0
LOW_DISK_BYTES = 100 * 1024 * 1024  # below this a database write may fail: a failure
TIGHT_DISK_BYTES = 1024 * 1024 * 1024  # below this: a warning
# URL schemes of the services a config may name, and their default ports.
SERVICE_PORTS = {"redis": 6379, "rediss": 6380, "amqp": 5672, "amqps": 5671, "nats": 4222}


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    status: Status
    detail: str
    fix: str = ""


async def check_databases(settings: Settings) -> list[Finding]:
    """`database` (reachable) and `schema` (at the head) for each configured database."""
    findings: list[Finding] = []
    for section, url in databases(settings):
        suffix = "" if section == "memory" else f" ({section})"
        shown = make_url(url).render_as_string(hide_password=True)
        try:
            revision = await asyncio.wait_for(
                on_database(url, _revision, commit=False), DATABASE_TIMEOUT_SECONDS
            )
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
            findings.append(
                Finding(
                    f"database{suffix}",
                    "FAIL",
                    f"cannot connect to {shown}: {reason or type(exc).__name__}",
                    f"start the database, or fix [{section}] url",
                )
            )
            continue
        findings.append(Finding(f"database{suffix}", "ok", f"{shown} answers"))
        findings.append(_schema_finding(settings, suffix, revision))
    return findings


def _revision(conn: Connection) -> str | None:
    conn.execute(text("SELECT 1"))
    return schema.stored_revision(conn)


def _schema_finding(settings: Settings, suffix: str, revision: str | None) -> Finding:
    head = schema.head_revision()
    name = f"schema{suffix}"
    if revision == head:
        return Finding(name, "ok", f"at the head {head}")
    if revision is None:
        return Finding(name, "ok", "empty: created at the first start")
    if revision not in schema.known_revisions():
        return Finding(
            name,
            "FAIL",
            f"at {revision}, which this release does not know (a newer one's?)",
            "run the release that wrote it, or restore a backup",
        )
    state = f"behind: at {revision}, the head is {head}"
    if settings.memory.auto_migrate:
        return Finding(name, "warn", f"{state}; the daemon migrates it at start-up")
    return Finding(name, "FAIL", state, "run `minibot db upgrade` (auto_migrate is false)")


def check_job_store(settings: Settings) -> Finding:
    scheduler = settings.scheduler
    if not scheduler.enabled:
        return Finding("job store", "skip", "the scheduler is off")
    if scheduler.store == "sql":
        return Finding("job store", "ok", "sql: jobs and their leases live in the database")
    store = Path(scheduler.store_path)
    try:
        store.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(store / "lock", thread_local=False)
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return Finding("job store", "ok", f"{store} is locked by a running minibot")
    except OSError as exc:
        return Finding(
            "job store",
            "FAIL",
            f"{store}: {exc.strerror or exc}",
            "make [scheduler] store_path writable by the user minibot runs as",
        )
    lock.release()
    return Finding("job store", "ok", f"{store} is writable and not locked (no daemon running)")


async def check_channels(settings: Settings) -> list[Finding]:
    telegram, slack = settings.channels.telegram, settings.channels.slack
    findings = []
    if telegram.enabled:
        probe = await probe_telegram(telegram.bot_token.get_secret_value(), telegram.api_base)
        findings.append(
            _from_probe(
                "telegram",
                probe.ok,
                probe.detail,
                "check channels.telegram.bot_token (@BotFather, /token)",
            )
        )
    if slack.enabled:
        probe = await probe_slack(slack.bot_token.get_secret_value(), slack.api_base)
        findings.append(
            _from_probe(
                "slack", probe.ok, probe.detail, "check channels.slack.bot_token (xoxb-...)"
            )
        )
    if not findings:
        findings.append(
            Finding(
                "channels",
                "warn",
                "no chat channel is enabled (console only)",
                "run `minibot init`, or enable [channels.telegram]",
            )
        )
    return findings


async def check_model(settings: Settings) -> list[Finding]:
    """`model`: the key lists models and the model is among them; `model reply`: one short
    request through the daemon's own adapter is answered."""
    llm = settings.llm
    probe = await probe_model(llm.provider, llm.model, llm.api_key.get_secret_value(), llm.base_url)
    fix = "check [llm] api_key, model and base_url"
    if not probe.ok:
        return [Finding("model", "FAIL", probe.detail, fix)]
    return [Finding("model", "ok", probe.detail), await _model_reply(settings)]


async def _model_reply(settings: Settings) -> Finding:
    from minibot.adapters.llm.llm_async_model import LlmAsyncModel

    # One attempt, a few tokens, a short deadline: a health check, not a conversation.
    quick = settings.llm.model_copy(
        update={"max_tokens": 16, "max_attempts": 1, "stream": False, "total_deadline_seconds": 30}
    )
    model = LlmAsyncModel(quick)
    try:
        await model.start()
        answer = await model.complete([ChatMessage(Role.USER, "Reply with the word ok.")])
    except LLMError as exc:
        reason = " ".join(str(exc).split())[:200]
        return Finding(
            "model reply",
            "FAIL",
            f"{quick.model} did not answer: {reason}",
            "check the provider's status, the model name and the account's quota",
        )
    finally:
        await model.stop()
    words = " ".join(answer.text.split())[:40]
    return Finding("model reply", "ok", f"{quick.model} answered ({words or 'empty'!r})")


async def check_services(config: dict[str, Any]) -> list[Finding]:
    """Every redis/amqp/nats URL anywhere in the config (the settings as plain data, so keys
    of later releases are covered too): its host accepts a connection."""
    findings = []
    for key, url in _service_urls(config):
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or SERVICE_PORTS[parts.scheme]
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
        except (OSError, TimeoutError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "timed out"
            findings.append(
                Finding(
                    f"service {key}",
                    "FAIL",
                    f"{host}:{port} does not answer ({reason})",
                    f"start it, or fix {key}",
                )
            )
            continue
        writer.close()
        findings.append(Finding(f"service {key}", "ok", f"{host}:{port} accepts connections"))
    return findings


def _service_urls(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _service_urls(value, path)
        elif isinstance(value, str) and urlsplit(value).scheme in SERVICE_PORTS:
            yield path, value


def check_disk(settings: Settings) -> list[Finding]:
    findings = []
    for place in _data_directories(settings):
        existing = place
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        free = shutil.disk_usage(existing).free
        detail = f"{free / 1024**3:.1f} GiB free at {place}"
        if free < LOW_DISK_BYTES:
            findings.append(Finding("disk", "FAIL", detail, "free space or move the data"))
        elif free < TIGHT_DISK_BYTES:
            findings.append(Finding("disk", "warn", detail, "free space soon"))
        else:
            findings.append(Finding("disk", "ok", detail))
    return findings


def _data_directories(settings: Settings) -> list[Path]:
    places: list[Path] = []
    for _, url in databases(settings):
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            places.append(Path(parsed.database).parent)
    if settings.scheduler.enabled and settings.scheduler.store == "file":
        places.append(Path(settings.scheduler.store_path))
    return list(dict.fromkeys(place.resolve() for place in places))


def check_sandbox(settings: Settings) -> Finding:
    # Code execution is a tool of a later release: nothing in this config runs code yet.
    tools = settings.model_dump(mode="json").get("tools") or {}
    code = tools.get("code") if isinstance(tools, dict) else None
    if not isinstance(code, dict) or not code.get("enabled"):
        return Finding("sandbox", "skip", "code execution is not enabled")
    return Finding("sandbox", "warn", "[tools.code] is enabled; doctor cannot test its sandbox yet")


def _from_probe(name: str, ok: bool, detail: str, fix: str) -> Finding:
    return Finding(name, "ok", detail) if ok else Finding(name, "FAIL", detail, fix)
