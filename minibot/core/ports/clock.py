"""Port: the current time, so that timing can be controlled in tests."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """`now` returns an aware datetime in UTC; `monotonic` seconds never go back."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...
