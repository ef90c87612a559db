"""The short lines a channel's intake tells people, and the reason a dead letter keeps."""

from __future__ import annotations

import hashlib

from minibot.shared.lone_surrogates import without_lone_surrogates

ONLY_TEXT = "I can only read text messages for now. Please send your message as text."
STORAGE_DOWN_TEXT = (
    "I can't save messages right now (storage is full or unavailable); I'll answer when it's back."
)
SET_ASIDE_TEXT = (
    "Sorry, I could not take in your last message, so I have set it aside. "
    "Please send it again, perhaps in other words."
)

# Enough of a reason to act on; the raw bytes hold the rest.
_MAX_REASON_CHARS = 1000


def digest(raw: bytes) -> str:
    """A short stable name for the bytes (one notice per update, however often it comes)."""
    return hashlib.sha256(raw).hexdigest()[:16]


def reason(error: BaseException | str) -> str:
    """One line any store can encode: an error's type and message, or a given reason."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return without_lone_surrogates(" ".join(text.split()))[:_MAX_REASON_CHARS]
