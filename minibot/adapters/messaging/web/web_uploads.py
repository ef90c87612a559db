"""Files posted on the web chat page, kept on disk until the turn that reads them is answered."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from minibot.core.errors import MediaServiceFailed, MediaTooLarge

# Upload ids are made here (never taken from the page): a name, never a path.
_ID = re.compile(r"^[0-9a-f]{32}$")


class WebUploads:
    """The web channel's file store: what the page posts is written under `path`
    (mode 0600, by an id made here), so the inbox keeps the id, never the bytes, and a
    turn handled again after a crash reads the file again. Nothing stored here is ever
    served back or executed: `read` hands the bytes to the turn, `delete` drops them once
    the turn is answered, and `sweep` drops what no open inbox item names (an upload
    whose message was a duplicate, or a crash between the write and the inbox)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(16)

    async def save(self, upload_id: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self._file(upload_id), data)

    async def read(self, upload_id: str, *, max_bytes: int) -> bytes:
        try:
            return await asyncio.to_thread(self._read, self._file(upload_id), max_bytes)
        except FileNotFoundError as exc:
            raise MediaServiceFailed("That file is no longer here; send it again, please.") from exc

    async def delete(self, upload_id: str) -> None:
        await asyncio.to_thread(self._file(upload_id).unlink, missing_ok=True)

    async def sweep(self, keep: Iterable[str]) -> int:
        """Deletes every upload but those in `keep`; returns how many went."""
        return await asyncio.to_thread(self._sweep, frozenset(keep))

    def _file(self, upload_id: str) -> Path:
        if not _ID.match(upload_id):
            raise MediaServiceFailed("That file reference is not one of mine.")
        return self._path / upload_id

    def _write(self, target: Path, data: bytes) -> None:
        self._path.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = target.with_suffix(".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            # The inbox item naming it is synced before the page is told it arrived.
            os.fsync(out.fileno())
        partial.replace(target)

    @staticmethod
    def _read(target: Path, max_bytes: int) -> bytes:
        size = target.stat().st_size
        if size > max_bytes:
            raise MediaTooLarge(
                f"That file is {size / 1_000_000:.1f} MB; I take files of up to "
                f"{max_bytes / 1_000_000:.1f} MB."
            )
        return target.read_bytes()

    def _sweep(self, keep: frozenset[str]) -> int:
        if not self._path.is_dir():
            return 0
        gone = 0
        for entry in self._path.iterdir():
            if entry.name not in keep and entry.is_file():
                entry.unlink(missing_ok=True)
                gone += 1
        return gone
