"""SqlDeliveryLedger: which chunks of which reply reached the platform, and as which message."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, exists, literal, select, tuple_

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.sqlite_fast import driver, to_db
from minibot.adapters.sql.tables import UtcDateTime, deliveries, delivery_claims, delivery_failures
from minibot.core.delivery import CLAIM_WON, ChunkClaim

_SQLITE_SENT = "SELECT chunk, message_id FROM minibot_deliveries WHERE turn_id = ?"
_SQLITE_RECORD = (
    "INSERT INTO minibot_deliveries (turn_id, chunk, message_id, at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (turn_id, chunk) DO NOTHING"
)


# The column's width; a reason is one line of an API error, longer only by accident.
_MAX_REASON_CHARS = 1000
# How often a sender waiting on another's claim asks again: a claim is held for the few
# milliseconds of one send, unless its holder hung.
_CLAIM_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class DeliveryClaims:
    """How this process claims chunks where replicas share the ledger: as `owner` (one
    per process), each claim held `lease_seconds`. The lease must outlast one send with
    its retries; a sender stopped longer than that between claim and record may see its
    chunk sent again by another (at least once, never lost)."""

    lease_seconds: float = 30.0
    owner: str = field(default_factory=lambda: secrets.token_hex(8))


class SqlDeliveryLedger:
    """DeliveryLedger on SQL, keyed by (turn_id, chunk); recording a chunk again keeps the
    first message id (ON CONFLICT DO NOTHING), so a retried delivery never rewrites it.
    Replies given up are kept in their own table, one row per turn."""

    def __init__(
        self,
        database: SqlDatabase,
        claims: DeliveryClaims | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = database
        # None: one process delivers (its lanes order every send), so a claim is won
        # without a round trip.
        self._claims = claims
        self._now = now

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        return None

    async def sent(self, turn_id: str) -> dict[int, str]:
        def operation(conn: Connection) -> dict[int, str]:
            if conn.dialect.name == "sqlite":
                found = driver(conn).execute(_SQLITE_SENT, (turn_id,)).fetchall()
            else:
                query = select(deliveries.c.chunk, deliveries.c.message_id).where(
                    deliveries.c.turn_id == turn_id
                )
                found = list(conn.execute(query))
            return {int(chunk): message_id for chunk, message_id in found}

        return await self._db.read(operation, quick=True)

    async def claim(self, turn_id: str, chunk: int) -> ChunkClaim:
        claims = self._claims
        if claims is None:
            return CLAIM_WON
        now = self._now()
        expires_at = now + timedelta(seconds=claims.lease_seconds)
        is_sent = exists().where(deliveries.c.turn_id == turn_id, deliveries.c.chunk == chunk)
        candidate = select(
            literal(turn_id),
            literal(chunk),
            literal(claims.owner),
            literal(expires_at, UtcDateTime()),
        ).where(~is_sent)
        taken = delivery_claims.c
        # One statement: inserted when nobody claimed the chunk, taken over when the
        # holder's lease lapsed (or renewed by its own holder), and neither once a
        # delivery is recorded for it. A conflicting claim is checked on its newest
        # committed version (PostgreSQL locks the row), so two senders never both win.
        statement = (
            self._db.insert(delivery_claims)
            .from_select(["turn_id", "chunk", "owner", "expires_at"], candidate)
            .on_conflict_do_update(
                index_elements=[taken.turn_id, taken.chunk],
                set_={"owner": claims.owner, "expires_at": expires_at},
                where=(taken.expires_at < now) | (taken.owner == claims.owner),
            )
        )

        def operation(conn: Connection) -> bool:
            return bool(conn.execute(statement).rowcount)

        # `later`: a claim lost in a crash of the server costs at most one chunk sent
        # twice, not worth waiting for a commit fsync on every chunk.
        if await self._db.write(operation, later=True):
            return CLAIM_WON
        return await self._lost_claim(turn_id, chunk, now)

    async def _lost_claim(self, turn_id: str, chunk: int, now: datetime) -> ChunkClaim:
        sent = select(deliveries.c.message_id).where(
            deliveries.c.turn_id == turn_id, deliveries.c.chunk == chunk
        )
        held = select(delivery_claims.c.expires_at).where(
            delivery_claims.c.turn_id == turn_id, delivery_claims.c.chunk == chunk
        )

        def operation(conn: Connection) -> tuple[str | None, datetime | None]:
            return conn.execute(sent).scalar_one_or_none(), conn.execute(held).scalar_one_or_none()

        message_id, expires_at = await self._db.read(operation)
        if message_id is not None:
            return ChunkClaim(won=False, message_id=message_id)
        left = (expires_at - now).total_seconds() if expires_at is not None else 0.0
        return ChunkClaim(won=False, wait_seconds=min(max(left, 0.0), _CLAIM_POLL_SECONDS))

    async def record(self, turn_id: str, chunk: int, message_id: str) -> None:
        now = datetime.now(UTC)

        def operation(conn: Connection) -> None:
            if conn.dialect.name == "sqlite":
                driver(conn).execute(_SQLITE_RECORD, (turn_id, chunk, message_id, to_db(now)))
                return
            conn.execute(
                self._db.insert(deliveries)
                .values(turn_id=turn_id, chunk=chunk, message_id=message_id, at=now)
                .on_conflict_do_nothing(index_elements=[deliveries.c.turn_id, deliveries.c.chunk])
            )

        await self._db.write(operation, later=True)

    # -- retention -------------------------------------------------------------------

    async def prune(self, before: datetime, limit: int) -> int:
        """Deletes up to `limit` chunk records made before `before`; returns how many."""
        old = deliveries.c.at < before
        found = select(deliveries.c.turn_id, deliveries.c.chunk).where(old).limit(limit)

        def candidates(conn: Connection) -> list[tuple[str, int]]:
            return [(turn_id, chunk) for turn_id, chunk in conn.execute(found)]

        keys = await self._db.read(candidates)
        if not keys:
            return 0
        # By primary key, the age checked again: the writer's part is short.
        key = tuple_(deliveries.c.turn_id, deliveries.c.chunk)
        statement = delete(deliveries).where(key.in_(keys), old)
        claimed = tuple_(delivery_claims.c.turn_id, delivery_claims.c.chunk)
        claims = delete(delivery_claims).where(claimed.in_(keys))

        def operation(conn: Connection) -> int:
            conn.execute(claims)
            return conn.execute(statement).rowcount

        return await self._db.write(operation)

    async def record_failure(self, turn_id: str, reason: str) -> None:
        values = {"turn_id": turn_id, "reason": reason[:_MAX_REASON_CHARS], "at": datetime.now(UTC)}

        def operation(conn: Connection) -> None:
            conn.execute(
                self._db.insert(delivery_failures)
                .values(**values)
                .on_conflict_do_nothing(index_elements=[delivery_failures.c.turn_id])
            )

        # Rare, and worth keeping: committed at once rather than riding on a later commit.
        await self._db.write(operation)

    async def failure(self, turn_id: str) -> str | None:
        def operation(conn: Connection) -> str | None:
            query = select(delivery_failures.c.reason).where(delivery_failures.c.turn_id == turn_id)
            return conn.execute(query).scalar_one_or_none()

        return await self._db.read(operation, quick=True)
