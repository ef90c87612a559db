"""The `minibot` command: the daemon, `console`, `check-config` and `jobs upcoming`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from minibot.adapters.config.loader import find_config_path, load_settings
from minibot.adapters.config.schema import Settings
from minibot.adapters.container import Container, Mode
from minibot.adapters.jobs_command import jobs_upcoming
from minibot.adapters.logging.redaction import Redactor
from minibot.adapters.logging.setup import configure_logging
from minibot.core.errors import ConfigError, MinibotError

EXIT_CONFIG = 2

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
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the daemon (the default)", parents=[common])
    commands.add_parser("console", help="chat in this terminal", parents=[common])
    commands.add_parser("check-config", help="validate and print the config", parents=[common])
    jobs = commands.add_parser("jobs", help="scheduled jobs (read-only)", parents=[common])
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    up = jobs_commands.add_parser(
        "upcoming",
        help="future fire times, in each owner's zone and UTC (runs nothing)",
        parents=[common],
    )
    up.add_argument("--user", help="only this owner id, e.g. telegram:123")
    up.add_argument("--until", default="+7d", help="+7d (default), +12h, +2w or an ISO date")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = find_config_path(getattr(args, "config", None))
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        # One line, and no secret even where a key or a library's message quotes one.
        where = "" if exc.key == str(path) else f" in {path}"
        line = " ".join(f"minibot: invalid configuration{where}: {exc}".split())
        print(Redactor()(line), file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        print(f"# effective configuration from {path} (secrets masked)")
        print(render_toml(settings))
        return 0
    if args.command == "jobs":
        return _jobs(settings, args)
    mode: Mode = "console" if args.command == "console" else "daemon"
    return asyncio.run(_run(settings, mode))


def _jobs(settings: Settings, args: argparse.Namespace) -> int:
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
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    if path and (scalars or not tables):
        lines.append(f"\n[{'.'.join(path)}]")
    for key, value in scalars.items():
        lines.append(f"{key} = {_value(value)}")
    for key, value in tables.items():
        _section(lines, [*path, key], value)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '""  # not set'
    return json.dumps(value)


if __name__ == "__main__":
    sys.exit(main())
