"""What the web chat page shows besides text: minibot's own voice notes and pictures."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from minibot.core.media import OutgoingKind, OutgoingMedia

# Types a browser shows inline as what they are; anything else is served as a download.
_SHOWN_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/gif", "audio/ogg", "audio/mpeg"}
)
# Replies' media kept for the page (the transcript's size), and their bytes at most.
_MAX_ITEMS = 200
_MAX_BYTES = 64_000_000


@dataclass(frozen=True, slots=True)
class ShownMedia:
    """A voice note or picture on the page: `url` serves it (to the logged-in owner)."""

    media_id: str
    kind: OutgoingKind
    mime_type: str
    caption: str = ""

    @property
    def url(self) -> str:
        return f"/api/v1/chat/media/{self.media_id}"


class WebMediaShelf:
    """Holds the media minibot made for the web chat (speech, generated images), by an
    id made here, until `_MAX_ITEMS` or `_MAX_BYTES` push the oldest out. It holds only
    what minibot sends: what people upload lives in `WebUploads` and is never served."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._bytes = 0

    def put(self, media: OutgoingMedia) -> ShownMedia:
        media_id = secrets.token_hex(12)
        self._items[media_id] = (media.mime_type, media.data)
        self._bytes += len(media.data)
        while len(self._items) > _MAX_ITEMS or (self._bytes > _MAX_BYTES and self._items):
            _, (_, old) = self._items.popitem(last=False)
            self._bytes -= len(old)
        return ShownMedia(media_id, media.kind, media.mime_type, media.caption)

    def get(self, media_id: str) -> tuple[str, bytes] | None:
        """The media's type (one a browser shows safely, else a download's) and bytes."""
        found = self._items.get(media_id)
        if found is None:
            return None
        mime, data = found
        return (mime if mime in _SHOWN_TYPES else "application/octet-stream"), data
