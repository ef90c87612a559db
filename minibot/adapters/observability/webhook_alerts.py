"""Sends the alert hook's alerts to a webhook as one JSON POST each."""

from __future__ import annotations

import aiohttp

from minibot.app.alert_hook import alert_text
from minibot.core.alerting import AlertChange


class WebhookAlertSender:
    """POSTs `{"status": "firing"|"resolved", "alert", "summary", "text", "source"}` to
    `url`; a status other than 2xx raises (the hook logs it). The URL is never logged:
    it may hold a token."""

    name = "alert-webhook"

    def __init__(self, url: str, *, timeout_seconds: float) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __call__(self, change: AlertChange) -> None:
        if self._session is None:
            raise RuntimeError("the alert webhook is not started")
        body = {
            "status": "firing" if change.firing else "resolved",
            "alert": change.key,
            "summary": change.summary,
            "text": alert_text(change),
            "source": "minibot",
        }
        async with self._session.post(self._url, json=body) as response:
            if response.status >= 300:
                raise RuntimeError(f"alert webhook answered HTTP {response.status}")
