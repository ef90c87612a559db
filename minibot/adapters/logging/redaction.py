"""Masks secrets in formatted log lines, wherever they appear (URLs, tracebacks, extras)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"

# Telegram bot tokens ("123456:AA...") and OpenAI-style keys, even ones not configured
# here (a token pasted into a message, a key in a provider's error text).
_PATTERNS = (
    re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
)


def looks_like_secret(text: str) -> bool:
    """True if `text` holds something shaped like a bot token or an API key."""
    return any(pattern.search(text) for pattern in _PATTERNS)


class Redactor:
    """Replaces every known secret, and anything shaped like a token, by `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(MASK, text)
        return text


class RedactingFormatter(logging.Formatter):
    """Wraps another formatter and redacts its output."""

    def __init__(self, inner: logging.Formatter, redactor: Redactor) -> None:
        super().__init__()
        self._inner = inner
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(self._inner.format(record))
