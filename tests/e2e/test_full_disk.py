"""A full disk under the real daemon: it stays up, confirms nothing it did not store, tells
the user once, and answers everything once space is back (tmpfs mounted by the test)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from minibot.app.channels.notices import STORAGE_DOWN_TEXT
from tests.e2e.test_telegram_daemon import (
    OWNER,
    Daemon,
    llm_server,
    telegram_config,
    until,
    until_true,
)
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.slow

_MOUNT_SIZE = "4m"


@contextlib.contextmanager
def tiny_filesystem(where: Path) -> Iterator[Path]:
    """A tmpfs of a few MB at `where`, unmounted afterwards; skipped (or failed with
    MINIBOT_REQUIRE_SERVICES=1) where mounting is not permitted."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={_MOUNT_SIZE}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}"
        if os.environ.get("MINIBOT_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path) -> int:
    """Writes `path` until the file system has not a byte left; returns the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as handle:
        for size in (1 << 16, 1 << 12, 1 << 8, 1):
            chunk = b"\0" * size
            while True:
                try:
                    written += handle.write(chunk) or 0
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return written


def texts(tg: FakeTelegramServer, chat: int) -> list[str]:
    return [m.visible_text for m in tg.messages_to(chat)]


async def test_a_full_disk_confirms_nothing_unstored_and_answers_once_space_is_back(
    tmp_path: Path,
) -> None:
    with tiny_filesystem(tmp_path / "disk") as disk:
        async with llm_server() as fake_llm, FakeTelegramServer() as fake_tg:
            daemon = Daemon(telegram_config(disk, fake_llm, fake_tg), tmp_path / "daemon.log", {})
            await daemon.start()
            try:
                await _fill_and_free(disk, daemon, fake_tg)
            finally:
                if daemon.alive:
                    await daemon.kill()


async def _fill_and_free(disk: Path, daemon: Daemon, fake_tg: FakeTelegramServer) -> None:
    if True:
        fake_tg.enqueue_text(OWNER, OWNER, "before")
        await until(daemon, fake_tg, lambda: texts(fake_tg, OWNER) == ["echo: before"])

        junk = disk / "junk"
        assert fill(junk) > 0
        first = fake_tg.enqueue_text(OWNER, OWNER, "during one")
        fake_tg.enqueue_text(OWNER, OWNER, "during two")
        await until(daemon, fake_tg, lambda: STORAGE_DOWN_TEXT in texts(fake_tg, OWNER))
        # Several more polls while full: the updates come again and again, and fail again.
        await until_true(lambda: daemon.log().count("telegram updates not stored") >= 3)

        assert daemon.alive
        assert fake_tg.confirmed_offset <= first["update_id"], "an unstored update confirmed"
        assert texts(fake_tg, OWNER) == ["echo: before", STORAGE_DOWN_TEXT], "told once"
        assert "the database cannot be written" in daemon.log()

        junk.unlink()
        answered = ["echo: before", STORAGE_DOWN_TEXT, "echo: during one", "echo: during two"]
        await until(daemon, fake_tg, lambda: len(texts(fake_tg, OWNER)) >= 4, limit_seconds=40)
        await until_true(lambda: "the database can be written again" in daemon.log())
        assert await daemon.stop() == 0
        assert texts(fake_tg, OWNER) == answered, "each answered exactly once, in order"
        assert fake_tg.confirmed_offset > first["update_id"] + 1 or fake_tg.pending_updates() == 0
