"""The `minibot` command: the daemon, `console`, `check-config`, `init`, `doctor`, `jobs`
(upcoming, migrate), `db`, `mcp`, `backup`, `restore` and `export`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from minibot.adapters.config.loader import find_config_path, load_settings
from minibot.adapters.config.schema import Settings
from minibot.adapters.container import Container, Mode
from minibot.adapters.logging.redaction import Redactor
from minibot.adapters.logging.setup import configure_logging
from minibot.core.errors import ConfigError, MinibotError

EXIT_CONFIG = 2

# The job stores `jobs migrate` moves between (the `[scheduler] store` values).
STORE_KINDS = ("file", "sql")

# The tools beside the daemon (jobs, db, backup, restore, export) import their modules when
# they run: the daemon never loads them (they cost it start-up time and memory).

log = logging.getLogger("minibot")


def _parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="path of config.toml (default: $MINIBOT_CONFIG, else ./config.toml)",
    )
    parser = argparse.ArgumentParser(
        prog="minibot", description="A self-hosted personal AI assistant.", parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"minibot {_version()}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the daemon (the default)", parents=[common])
    commands.add_parser("console", help="chat in this terminal", parents=[common])
    commands.add_parser("check-config", help="validate and print the config", parents=[common])
    jobs = commands.add_parser(
        "jobs", help="scheduled jobs: list them, move them between stores", parents=[common]
    )
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    up = jobs_commands.add_parser(
        "upcoming",
        help="future fire times, in each owner's zone and UTC (runs nothing)",
        parents=[common],
    )
    up.add_argument("--user", help="only this owner id, e.g. telegram:123")
    up.add_argument("--until", default="+7d", help="+7d (default), +12h, +2w or an ISO date")
    migrate = jobs_commands.add_parser(
        "migrate",
        help="copy every job, its ledger, time zones and the id counter to the other store "
        "(the daemon stopped; running it again changes nothing)",
        parents=[common],
    )
    migrate.add_argument("--from", dest="source", required=True, choices=STORE_KINDS)
    migrate.add_argument("--to", dest="target", required=True, choices=STORE_KINDS)
    backup = commands.add_parser(
        "backup",
        help="copy the databases and the job store into DIR (while the daemon runs)",
        parents=[common],
    )
    backup.add_argument("directory", metavar="DIR", help="a new or empty directory")
    restore = commands.add_parser(
        "restore",
        help="verify the backup in DIR, then put it in place (the daemon stopped)",
        parents=[common],
    )
    restore.add_argument("directory", metavar="DIR", help="a directory written by minibot backup")
    export = commands.add_parser(
        "export", help="one person's history, notes, jobs and usage as JSON", parents=[common]
    )
    export.add_argument("--user", required=True, help="their owner id, e.g. telegram:123")
    export.add_argument("--out", help="write to this file instead of stdout")
    _db_parser(commands, common)
    _mcp_parser(commands, common)
    _first_run_parsers(commands, common)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("minibot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _first_run_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    from minibot.adapters.first_run.init_command import add_arguments

    init = commands.add_parser(
        "init",
        help="ask for the provider, key and bot token, check each, write config.toml",
        parents=[common],
    )
    add_arguments(init)
    commands.add_parser(
        "doctor",
        help="check everything a running bot needs, one line per check (exit 1 if any failed)",
        parents=[common],
    )


def _db_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    db = commands.add_parser(
        "db", help="the database schema ([memory], and [kv_memory] if separate)", parents=[common]
    )
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate to the head", parents=[common])
    db_commands.add_parser(
        "current", help="print the revision and whether it is the head", parents=[common]
    )
    db_commands.add_parser(
        "check", help="exit 0 when the schema matches the code, else 1", parents=[common]
    )
    down = db_commands.add_parser("downgrade", help="migrate back to REV", parents=[common])
    down.add_argument("revision", metavar="REV", help="a revision, or `base` for none")


def _mcp_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    mcp = commands.add_parser(
        "mcp", help="MCP servers: list, probe, approve; serve notes and tasks", parents=[common]
    )
    verbs = mcp.add_subparsers(dest="mcp_command", required=True)
    verbs.add_parser(
        "list", help="configured servers, their pinned tools and fingerprint", parents=[common]
    )
    probe = verbs.add_parser(
        "probe", help="connect, list the tools, disconnect (changes nothing)", parents=[common]
    )
    probe.add_argument("name", help="a server of [mcp.servers]")
    approve = verbs.add_parser(
        "approve", help="pin the server's changed (or current) tool list", parents=[common]
    )
    approve.add_argument("name", help="a server of [mcp.servers]")
    serve = verbs.add_parser(
        "serve", help="offer one owner's notes and tasks to an MCP client (stdio)", parents=[common]
    )
    serve.add_argument("--owner", required=True, help="the owner id, e.g. telegram:123")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = find_config_path(getattr(args, "config", None))
    if args.command == "init":
        from minibot.adapters.first_run.init_command import run_init

        return run_init(args, path)
    if args.command == "doctor":
        from minibot.adapters.first_run.doctor import run_doctor

        return asyncio.run(run_doctor(path))
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        # One line, and no secret even where a key or a library's message quotes one.
        where = "" if exc.key == str(path) else f" in {path}"
        line = " ".join(f"minibot: invalid configuration{where}: {exc}".split())
        print(Redactor()(line), file=sys.stderr)
        return EXIT_CONFIG
    tool = _tool_command(settings, args, path)
    if tool is not None:
        return tool
    if not settings.memory.auto_migrate:
        refusal = asyncio.run(_refusal(settings))
        if refusal is not None:
            print(Redactor()(f"minibot: {refusal}"), file=sys.stderr)
            return EXIT_CONFIG
    mode: Mode = "console" if args.command == "console" else "daemon"
    return asyncio.run(_run(settings, mode))


def _tool_command(settings: Settings, args: argparse.Namespace, path: Path) -> int | None:
    """Runs a command beside the daemon and returns its exit code; None for the daemon."""
    if args.command == "check-config":
        return _check_config(settings, path)
    if args.command == "jobs":
        return _jobs(settings, args)
    if args.command == "db":
        return asyncio.run(_db(settings, args))
    if args.command == "mcp":
        return asyncio.run(_mcp(settings, args))
    if args.command in ("backup", "restore", "export"):
        return _store_command(settings, args)
    return None


def _check_config(settings: Settings, path: Path) -> int:
    print(f"# effective configuration from {path} (secrets masked)")
    print(render_toml(settings))
    if settings.tools.code.enabled:
        print(asyncio.run(_code_sandbox_check(settings)))
    if settings.tools.workflows.enabled and not settings.scheduler.enabled:
        print(
            "# save_workflow: NOT offered: [scheduler] enabled is false "
            "(workflows run as the scheduler's jobs)"
        )
    return 0


async def _code_sandbox_check(settings: Settings) -> str:
    """Whether run_code will be offered: the same probe the daemon runs at start."""
    from minibot.adapters.container import code_sandbox

    refusal = await code_sandbox(settings.tools.code).unavailable()
    if refusal is None:
        return "# run_code: offered (the bubblewrap sandbox works here)"
    return f"# run_code: NOT offered: {refusal}"


def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    if args.jobs_command == "migrate":
        return _jobs_migrate(settings, args)
    from minibot.adapters.jobs_command import jobs_upcoming

    try:
        print(
            asyncio.run(
                jobs_upcoming(settings.scheduler, args.user, args.until, settings.memory.url)
            )
        )
    except (ValueError, MinibotError) as exc:
        print(f"minibot: {exc}", file=sys.stderr)
        return 1
    return 0


def _jobs_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from minibot.adapters.jobs_migration.migrate_command import migrate_jobs

    try:
        print(asyncio.run(migrate_jobs(settings, args.source, args.target)))
    except (OSError, MinibotError) as exc:
        line = " ".join(f"minibot: jobs migrate refused: {exc}".split())
        print(Redactor()(line), file=sys.stderr)
        return 1
    return 0


def _store_command(settings: Settings, args: argparse.Namespace) -> int:
    """backup, restore, export: one line on stderr and exit 1 when refused."""
    from minibot.adapters.backup.restore import restore_backup
    from minibot.adapters.backup.snapshot import take_backup
    from minibot.adapters.export_command import export_user, render

    try:
        if args.command == "backup":
            manifest = asyncio.run(take_backup(settings, Path(args.directory)))
            size = sum(entry.size for entry in manifest.files)
            print(f"backup written to {args.directory}: {len(manifest.files)} files, {size} bytes")
        elif args.command == "restore":
            restored = asyncio.run(restore_backup(settings, Path(args.directory)))
            kept = ", ".join(str(path) for path in restored.kept) or "nothing"
            print(
                f"restored the backup of {restored.manifest.created_at:%Y-%m-%d %H:%M:%S} UTC "
                f"from {args.directory}; the replaced files are kept as {kept}"
            )
        else:
            text = render(asyncio.run(export_user(settings, args.user)))
            if args.out:
                Path(args.out).write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text)
    except (OSError, MinibotError) as exc:
        line = " ".join(f"minibot: {args.command} refused: {exc}".split())
        print(Redactor()(line), file=sys.stderr)
        return 1
    return 0


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    from alembic.util import CommandError  # alembic loads only for these commands

    from minibot.adapters import db_command

    try:
        if args.db_command == "upgrade":
            code, lines = await db_command.upgrade(settings)
        elif args.db_command == "current":
            code, lines = await db_command.current(settings)
        elif args.db_command == "check":
            code, lines = await db_command.check(settings)
        else:
            code, lines = await db_command.downgrade(settings, args.revision)
    except (SQLAlchemyError, MinibotError, CommandError) as exc:
        print(Redactor()(" ".join(f"minibot: {exc}".split())), file=sys.stderr)
        return 1
    for line in lines:
        print(Redactor()(line), file=sys.stdout if code == 0 else sys.stderr)
    return code


async def _mcp(settings: Settings, args: argparse.Namespace) -> int:
    from minibot.adapters import mcp_command  # the SDK loads only for these commands

    if args.mcp_command == "serve":
        # stdout carries the protocol: logs go to stderr, warnings and up.
        secrets = Container(settings).secrets()
        configure_logging(settings.logging.model_copy(update={"level": "WARNING"}), secrets)
        try:
            return await mcp_command.serve(settings, args.owner)
        except (SQLAlchemyError, MinibotError) as exc:
            print(Redactor()(" ".join(f"minibot: {exc}".split())), file=sys.stderr)
            return 1
    try:
        if args.mcp_command == "list":
            code, lines = await mcp_command.list_servers(settings)
        elif args.mcp_command == "probe":
            code, lines = await mcp_command.probe(settings, args.name)
        else:
            code, lines = await mcp_command.approve(settings, args.name)
    except (SQLAlchemyError, MinibotError) as exc:
        print(Redactor()(" ".join(f"minibot: {exc}".split())), file=sys.stderr)
        return 1
    for line in lines:
        print(Redactor()(line), file=sys.stdout if code == 0 else sys.stderr)
    return code


async def _refusal(settings: Settings) -> str | None:
    from minibot.adapters import db_command

    try:
        return await db_command.refusal(settings)
    except (SQLAlchemyError, MinibotError) as exc:
        return f"cannot read the database schema: {exc}"


async def _run(settings: Settings, mode: Mode) -> int:
    container = Container(settings, mode=mode)
    if mode == "console":
        # The terminal belongs to the conversation: logs go to stderr at WARNING unless
        # the config asks for debugging.
        level = settings.logging.level if settings.logging.level == "DEBUG" else "WARNING"
        configure_logging(settings.logging.model_copy(update={"level": level}), container.secrets())
    else:
        configure_logging(settings.logging, container.secrets())
    daemon = container.build()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, daemon.request_stop)
    return await daemon.run()


def render_toml(settings: Settings) -> str:
    """The settings as TOML; SecretStr values come out masked."""
    data = settings.model_dump(mode="json")
    lines: list[str] = []
    _section(lines, [], data)
    return "\n".join(lines).strip() + "\n"


def _section(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    # A list of tables (a workflow's steps) is written as [[array.of.tables]].
    arrays = {k: v for k, v in table.items() if _table_list(v)}
    scalars = {k: v for k, v in table.items() if k not in tables and k not in arrays}
    if path and (scalars or not (tables or arrays)):
        lines.append(f"\n[{'.'.join(path)}]")
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, items in arrays.items():
        for item in items:
            lines.append(f"\n[[{'.'.join([*path, _key(key)])}]]")
            lines.extend(f"{_key(k)} = {_value(v)}" for k, v in item.items())
    for key, value in tables.items():
        _section(lines, [*path, _key(key)], value)


def _table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    """A bare TOML key, or a quoted one (an owner id such as "telegram:123")."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '""  # not set'
    return json.dumps(value)


if __name__ == "__main__":
    sys.exit(main())
