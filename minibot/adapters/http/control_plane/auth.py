"""Who may use the control plane: a bearer token, or the dashboard's session cookie + CSRF."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

SESSION_COOKIE = "minibot_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
# A dashboard login lasts this long.
_SESSION_SECONDS = 12 * 3600
_MAX_SESSIONS = 1000


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    expires: float


# Where the middleware leaves the request's session for the pages (their CSRF token).
SESSION_KEY = web.RequestKey("session", Session)


class Auth:
    """Checks requests. With a token configured: `Authorization: Bearer <token>` (compared
    in constant time), or a session cookie from the login form (HttpOnly, SameSite=Strict)
    whose state-changing requests also carry the session's CSRF token (a form field or
    the `X-CSRF-Token` header). With no token (allowed on loopback only) everything is
    let through. Sessions live in memory: a restart logs everyone out."""

    def __init__(self, token: str) -> None:
        self._token = token.encode("utf-8")
        self._sessions: dict[str, Session] = {}

    @property
    def open(self) -> bool:
        return not self._token

    def token_matches(self, candidate: str) -> bool:
        return bool(self._token) and hmac.compare_digest(candidate.encode("utf-8"), self._token)

    def bearer_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    def session(self, request: web.Request) -> Session | None:
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None or session.expires < time.monotonic():
            self._sessions.pop(sid, None)
            return None
        return session

    def login(self, response: web.StreamResponse, *, secure: bool) -> Session:
        if len(self._sessions) >= _MAX_SESSIONS:
            self._expire()
        sid = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(24), time.monotonic() + _SESSION_SECONDS)
        self._sessions[sid] = session
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            httponly=True,
            samesite="Strict",
            secure=secure,
            path="/",
            max_age=_SESSION_SECONDS,
        )
        return session

    def logout(self, request: web.Request, response: web.StreamResponse) -> None:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            self._sessions.pop(sid, None)
        response.del_cookie(SESSION_COOKIE, path="/")

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8"), session.csrf.encode("utf-8")
        )

    def _expire(self) -> None:
        now = time.monotonic()
        for sid, session in list(self._sessions.items()):
            if session.expires < now:
                del self._sessions[sid]
        while len(self._sessions) >= _MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
