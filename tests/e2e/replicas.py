"""Several `minibot` replicas of one bot on PostgreSQL, RabbitMQ and Redis, each in its
own subprocess against the replica-aware fake Bot API and the fake OpenAI server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.core.ports.bus_backends import RABBITMQ_URL
from tests.e2e.test_telegram_daemon import Daemon
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_replicas import ReplicaTelegramServer
from tests.fakes.telegram_server import DEFAULT_TOKEN
from tests.services import REDIS_URL, require_service
from tests.sql_schemas import postgres_database


class Replica(Daemon):
    """One `minibot` process of the cluster; its log (stderr) goes to a file."""

    def __init__(self, name: str, config: Path, log_path: Path) -> None:
        super().__init__(config, log_path, {})
        self.name = name

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)

    async def stop(self, limit_seconds: float = 30) -> int:
        """SIGCONT first (a stopped replica cannot hear SIGTERM), then a clean stop."""
        assert self.process is not None
        if self.process.returncode is None:
            self.signal(signal.SIGCONT)
        return await super().stop(limit_seconds)


@dataclass
class Cluster:
    path: Path
    tg: ReplicaTelegramServer
    llm: FakeOpenAIServer
    database_url: str
    namespace: str
    users: tuple[int, ...]
    extra: str = ""
    replicas: list[Replica] = field(default_factory=list)
    # Where the replicas find the broker and the database (a cuttable proxy in the
    # outage tests); the services themselves by default.
    bus_url: str = RABBITMQ_URL
    # Each replica's control plane port (for /readyz), when the test asks for one.
    control_ports: dict[str, int] = field(default_factory=dict)
    control_plane: bool = False
    proxied_database_url: str = ""

    @property
    def replica_database_url(self) -> str:
        return self.proxied_database_url or self.database_url

    def config(self, name: str) -> Path:
        path = self.path / f"{name}.toml"
        path.write_text(
            f"""
[logging]
level = "INFO"

[daemon]
shutdown_timeout_seconds = 10

[bus]
backend = "rabbitmq"
url = "{self.bus_url}"
namespace = "{self.namespace}"
partitions = 8
heartbeat_seconds = 2

[redis]
url = "{REDIS_URL}"

[llm]
provider = "openai"
model = "fake-model"
api_key = "sk-test-key-0123456789abcdef"
base_url = "{self.llm.base_url}"
request_timeout_seconds = 5
total_deadline_seconds = 15
max_attempts = 3
retry_initial_delay_seconds = 0.01
retry_max_delay_seconds = 0.05

[memory]
url = "{self.replica_database_url}"

[scheduler]
store = "sql"

[channels.telegram]
enabled = true
bot_token = "{DEFAULT_TOKEN}"
api_base = "{self.tg.replica_base(name)}"
allowed_user_ids = {list(self.users)}
polling_timeout_seconds = 1
leader_timeout_seconds = 2
max_send_attempts = 10
{self._control_plane(name)}
{self.extra}
"""
        )
        return path

    def _control_plane(self, name: str) -> str:
        if not self.control_plane:
            return ""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.control_ports[name] = probe.getsockname()[1]
        return f"""
[control_plane]
enabled = true
listen_port = {self.control_ports[name]}
"""

    async def start(self, count: int) -> list[Replica]:
        started = []
        for _ in range(count):
            name = f"r{len(self.replicas) + 1}"
            replica = Replica(name, self.config(name), self.path / f"{name}.log")
            self.replicas.append(replica)
            started.append(replica)
        await asyncio.gather(*(r.start() for r in started))
        return started

    def by_name(self, name: str) -> Replica:
        return next(r for r in self.replicas if r.name == name)

    def leader(self) -> Replica | None:
        """The replica whose poll was answered last."""
        answered = [p for p in self.tg.polls if p.status == 200]
        if not answered:
            return None
        return self.by_name(max(answered, key=lambda p: p.ended).replica)

    async def recorded_message_ids(self) -> set[str]:
        """The platform message ids the delivery ledger recorded as sent."""
        import asyncpg

        dsn = self.database_url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(dsn)
        try:
            rows = await connection.fetch("SELECT message_id FROM minibot_deliveries")
        finally:
            await connection.close()
        return {row["message_id"] for row in rows}

    async def settled(self, limit_seconds: float = 30) -> None:
        """Waits until every stored update is answered and its reply recorded (its inbox
        item done): a replica killed after this was not cut off in the middle of a send,
        the one case where a chunk may go out twice (at least once, never lost)."""
        import asyncpg

        dsn = self.database_url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(dsn)
        try:
            deadline = asyncio.get_running_loop().time() + limit_seconds
            while await connection.fetchval("SELECT count(*) FROM minibot_inbox WHERE NOT done"):
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"replies still open after {limit_seconds} s")
                await asyncio.sleep(0.02)
        finally:
            await connection.close()

    def logs(self) -> str:
        return "\n".join(f"--- {r.name}\n{r.log()[-4000:]}" for r in self.replicas)


async def _delete_queues(namespace: str, partitions: int) -> None:
    import aio_pika

    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        for name in [f"{namespace}.bus.p{p}" for p in range(partitions)] + [
            f"{namespace}.bus.dead"
        ]:
            await channel.queue_delete(name)


async def _delete_redis_keys(namespace: str) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        async for key in client.scan_iter(match=f"{namespace}:*"):
            await client.delete(key)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def cluster(
    path: Path, *, users: tuple[int, ...] = (42,), extra: str = "", llm_latency_ms: float = 0
) -> AsyncIterator[Cluster]:
    for service in ("postgres", "rabbitmq", "redis"):
        require_service(service)
    namespace = f"minibot-test-{uuid.uuid4().hex[:10]}"
    llm = FakeOpenAIServer(latency_ms=llm_latency_ms)
    await llm.start()
    try:
        async with postgres_database() as url, ReplicaTelegramServer() as tg:
            replicas = Cluster(path, tg, llm, url, namespace, users, extra)
            try:
                yield replicas
            finally:
                for replica in replicas.replicas:
                    if replica.alive:
                        await replica.kill()
                await _delete_queues(namespace, 8)
                await _delete_redis_keys(namespace)
    finally:
        await llm.stop()
