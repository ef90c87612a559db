"""Reaching the real services of this machine (PostgreSQL, Redis, RabbitMQ, NATS) from tests.

A test that needs one calls `require_service`: when the service does not answer, the test
is skipped with the reason, or fails instead when MINIBOT_REQUIRE_SERVICES=1 (CI sets it).
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get(
    "MINIBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MINIBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_PORTS = {"postgres": 5432, "redis": 6379, "rabbitmq": 5672, "nats": 4222}


def require_service(name: str) -> None:
    port = _PORTS[name]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return
    except OSError as exc:
        reason = f"{name} is not reachable on 127.0.0.1:{port} ({exc})"
    if os.environ.get("MINIBOT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; MINIBOT_REQUIRE_SERVICES=1 makes this a failure")
    pytest.skip(reason)
