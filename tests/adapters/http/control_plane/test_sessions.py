"""Dashboard logins kept in the SQL store: a restart keeps them, a logout ends them."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from minibot.core.dashboard_sessions import session_id_hash
from tests.adapters.http.control_plane.daemon_harness import TOKEN, Running, running_daemon

pytestmark = pytest.mark.timeout(120)

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _login(running: Running) -> tuple[str, str]:
    """Logs in with the token; returns the session cookie and the page's CSRF token."""
    async with running.client(token=None, follow_redirects=False) as browser:
        answer = await browser.post("/login", data={"token": TOKEN})
        assert answer.status_code == 303, answer.text
        cookie = answer.cookies["minibot_session"]
        page = await browser.get("/tasks")
        assert page.status_code == 200
        found = _CSRF.search(page.text)
        assert found is not None, "the tasks page carries the session's CSRF token"
        return cookie, found.group(1)


def _stored(tmp_path: Path) -> list[tuple[str, str, str]]:
    db = sqlite3.connect(f"file:{tmp_path / 'minibot.db'}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT id_hash, owner, csrf FROM minibot_dashboard_sessions").fetchall()
    finally:
        db.close()


async def test_a_login_outlives_a_restart_and_a_logout_ends_it(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as first:
        cookie, csrf = await _login(first)
    rows = _stored(tmp_path)
    assert rows == [(session_id_hash(cookie), "web:owner", csrf)], "hashed id, owner, CSRF"
    assert all(cookie not in value for row in rows for value in row), "no raw cookie stored"

    # The same database, a new server (another port, another process state).
    async with (
        running_daemon(tmp_path) as second,
        second.client(token=None, follow_redirects=False) as browser,
    ):
        jar = {"Cookie": f"minibot_session={cookie}"}
        assert (await browser.get("/", headers=jar)).status_code == 200, "still logged in"
        assert (await browser.get("/api/v1/tasks", headers=jar)).status_code == 200
        # The CSRF secret came back with it: a form post with it is taken...
        said = await browser.post(
            "/api/v1/chat/messages",
            json={"text": "after a restart", "message_id": "restart-1"},
            headers={"X-CSRF-Token": csrf, **jar},
        )
        assert said.status_code == 202, said.text
        # ...and one without it is not.
        forged = await browser.post("/api/v1/chat/messages", json={"text": "forged"}, headers=jar)
        assert forged.status_code == 403 and forged.json()["error"] == "csrf"

        out = await browser.post("/logout", data={"csrf": csrf}, headers=jar)
        assert out.status_code == 303
        assert _stored(tmp_path) == [], "logout deleted the row"
        gone = await browser.get("/api/v1/tasks", headers=jar)
        assert gone.status_code == 401
        assert (await browser.get("/", headers=jar)).status_code == 401
        guessed = {"Cookie": "minibot_session=a-guessed-value"}
        assert (await browser.get("/api/v1/tasks", headers=guessed)).status_code == 401
