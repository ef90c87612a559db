"""Installs minibot's log handler: logfmt (default) or JSON, with context and redaction."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from typing import IO, Any

from logfmter import Logfmter

from minibot.adapters.config.schema import LoggingSettings
from minibot.adapters.logging.redaction import RedactingFormatter, Redactor
from minibot.shared.correlation import component, correlation_id

_FIRST_KEYS = ["ts", "at", "logger", "component", "correlation_id"]
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    """Stamps every record with the correlation id and component of the current task."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = correlation_id.get() or "-"
        if not hasattr(record, "component"):
            record.component = component.get() or record.name.rsplit(".", 1)[-1]
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the same keys as the logfmt output."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "at": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(
    settings: LoggingSettings, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """Replace the root logger's handlers by one that writes to `stream` (stderr)."""
    if settings.format == "json":
        inner: logging.Formatter = JsonFormatter()
    else:
        inner = Logfmter(
            keys=_FIRST_KEYS,
            mapping={"ts": "asctime", "at": "levelname", "logger": "name"},
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(inner, Redactor(secrets)))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)
    # Library chatter stays at WARNING unless we debug.
    for noisy in ("aiogram.event", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler
