"""Who may use the control plane: a bearer token, or the dashboard's session cookie + CSRF."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web

from minibot.core.dashboard_sessions import DashboardSession, session_id_hash
from minibot.core.ports.session_store import SessionStore

log = logging.getLogger(__name__)

SESSION_COOKIE = "minibot_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"

# Where the middleware leaves the request's session for the pages (their CSRF token).
SESSION_KEY = web.RequestKey("session", DashboardSession)


class Auth:
    """Checks requests. With a token configured: `Authorization: Bearer <token>` (compared
    in constant time), or a session cookie from the login form (HttpOnly, SameSite=Strict)
    whose state-changing requests also carry the session's CSRF token (a form field or
    the `X-CSRF-Token` header). With no token (allowed on loopback only) everything is
    let through. Sessions are kept in the `SessionStore` (the SQL database): a restart
    keeps them, replicas share them; the cookie's value is stored only as its hash."""

    def __init__(
        self,
        token: str,
        sessions: SessionStore,
        *,
        owner: str,
        session_seconds: float,
        now: Callable[[], datetime],
    ) -> None:
        self._token = token.encode("utf-8")
        self._sessions = sessions
        self._owner = owner
        self._session_seconds = session_seconds
        self._now = now

    @property
    def open(self) -> bool:
        return not self._token

    def token_matches(self, candidate: str) -> bool:
        return bool(self._token) and hmac.compare_digest(candidate.encode("utf-8"), self._token)

    def bearer_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    async def session(self, request: web.Request) -> DashboardSession | None:
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        return await self._sessions.get(session_id_hash(sid), self._now())

    async def login(self, response: web.StreamResponse, *, secure: bool) -> DashboardSession:
        now = self._now()
        # Logins left to expire are swept here: a login is rare, a sweep cheap.
        swept = await self._sessions.delete_expired(now)
        if swept:
            log.info("expired dashboard sessions deleted", extra={"count": swept})
        sid = secrets.token_urlsafe(32)
        session = DashboardSession(
            session_id_hash(sid),
            self._owner,
            secrets.token_urlsafe(24),
            now + timedelta(seconds=self._session_seconds),
        )
        await self._sessions.add(session)
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            httponly=True,
            samesite="Strict",
            secure=secure,
            path="/",
            max_age=int(self._session_seconds),
        )
        return session

    async def logout(self, request: web.Request, response: web.StreamResponse) -> None:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            await self._sessions.delete(session_id_hash(sid))
        response.del_cookie(SESSION_COOKIE, path="/")

    def csrf_ok(self, session: DashboardSession, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8"), session.csrf.encode("utf-8")
        )
