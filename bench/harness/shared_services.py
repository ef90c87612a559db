"""The services replicas share in a benchmark run: a fresh PostgreSQL database, a RabbitMQ
namespace and a Redis key prefix, removed afterwards."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

POSTGRES_URL = os.environ.get(
    "MINIBOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
RABBITMQ_URL = os.environ.get("MINIBOT_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("MINIBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PARTITIONS = 16


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    rest = url.split("://", 1)[1]
    if database is not None:
        rest = rest.rsplit("/", 1)[0] + f"/{database}"
    return f"postgresql://{rest}"


@dataclass
class SharedServices:
    name: str

    @classmethod
    async def create(cls) -> SharedServices:
        import asyncpg  # type: ignore[import-untyped]

        name = f"minibot_bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return cls(name)

    @property
    def memory_url(self) -> str:
        return POSTGRES_URL.rsplit("/", 1)[0] + f"/{self.name}"

    @property
    def extra_config(self) -> str:
        return (
            f'[bus]\nbackend = "rabbitmq"\nurl = "{RABBITMQ_URL}"\n'
            f'namespace = "{self.name}"\npartitions = {PARTITIONS}\n\n'
            f'[redis]\nurl = "{REDIS_URL}"\n'
        )

    async def remove(self) -> None:
        import aio_pika
        import asyncpg
        import redis.asyncio as redis

        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            for n in range(PARTITIONS):
                await channel.queue_delete(f"{self.name}.bus.p{n}")
            await channel.queue_delete(f"{self.name}.bus.dead")
        client = redis.Redis.from_url(REDIS_URL)
        try:
            async for key in client.scan_iter(match=f"{self.name}:*"):
                await client.delete(key)
        finally:
            await client.aclose()
