"""alembic's environment: migrates the connection it is given, or the URL's async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from minibot.adapters.sql.schema_migrations import migration_options

config = context.config


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, **migration_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


async def run_on_url(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def run() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        # minibot's own start-up and `minibot db`: the caller owns the transaction.
        run_on(given)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database: pass --url (python -m minibot.adapters.sql.migrations)")
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **migration_options(url.split(":")[0]))
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(run_on_url(url))


run()
