"""Why a write failed: the store is down (try again later) or it refused the data (never)."""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa

from minibot.core.errors import EntryRejected, StoreError, StoreUnavailable

# A full disk, an I/O error, a locked, read-only or missing file (SQLite says all of these
# with OperationalError), a lost or refused connection, a pool that timed out.
_DOWN = (
    sqlite3.OperationalError,
    sa.OperationalError,
    sa.InterfaceError,
    sa.DisconnectionError,
    sa.TimeoutError,
    sa.ResourceClosedError,
    OSError,
    TimeoutError,
)


def classified(error: BaseException) -> StoreError:
    """`error` as `StoreUnavailable` or `EntryRejected`. Anything not known to mean the
    store is down counts as a refusal of the data: a caller sets that entry aside, while
    a store that is down would refuse the dead letter too, and nothing is confirmed."""
    if isinstance(error, StoreUnavailable | EntryRejected):
        return error
    classified: StoreError
    if _store_is_down(error):
        classified = StoreUnavailable(f"the store cannot write now: {error}")
    else:
        classified = EntryRejected(f"the store refused the data: {error}")
    classified.__cause__ = error
    return classified


def _store_is_down(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _DOWN):
            return True
        if isinstance(seen, sa.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, sqlite3.ProgrammingError) and "closed" in str(seen):
            return True
        if type(seen) is StoreError and seen.__cause__ is None:
            # Raised by the database itself: not started, or stopped.
            return True
        seen = seen.__cause__
    return False
