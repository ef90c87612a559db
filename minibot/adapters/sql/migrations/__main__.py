"""Makes a new migration: `python -m minibot.adapters.sql.migrations revision -m "..." --url URL`.

With `--autogenerate` (the default) alembic compares the database at URL, upgraded to the
head first, with `tables.py` and writes the difference as a new version file to review."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from alembic import command
from alembic.config import Config

from minibot.adapters.sql.schema_migrations import SCRIPT_LOCATION, head_revision


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minibot.adapters.sql.migrations")
    commands = parser.add_subparsers(dest="command", required=True)
    revision = commands.add_parser("revision", help="write a new version file")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument(
        "--url",
        default="sqlite+aiosqlite:///./data/migrations-scratch.db",
        help="a scratch database to compare against (upgraded to the head first)",
    )
    revision.add_argument("--empty", action="store_true", help="no autogenerate: write by hand")
    args = parser.parse_args(argv)
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", args.url)
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    # Numbered revisions keep the one line readable: 0001, 0002, ...
    head = head_revision()
    number = f"{int(head) + 1:04d}" if head.isdigit() else None
    if not args.empty:
        command.upgrade(config, "head")
    command.revision(config, message=args.message, autogenerate=not args.empty, rev_id=number)
    return 0


if __name__ == "__main__":
    sys.exit(main())
