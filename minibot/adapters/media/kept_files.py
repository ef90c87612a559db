"""`[media] keep`: downloaded files written under a folder, named by their platform id."""

from __future__ import annotations

import re
from pathlib import Path

from minibot.core.media import MediaAttachment

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class KeptFiles:
    """Writes each downloaded file as `<kind>-<file id>` under `folder`, mode 0600.
    Kept files are only ever written: never executed, never served."""

    def __init__(self, folder: str) -> None:
        self._folder = Path(folder)

    def keep(self, attachment: MediaAttachment, data: bytes) -> None:
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = _UNSAFE.sub("_", f"{attachment.kind.value}-{attachment.file_id}")[:200]
        path = self._folder / name
        path.write_bytes(data)
        path.chmod(0o600)
