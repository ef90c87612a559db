"""One MCP server's link: its session owned by one task, its tool list checked against the pin."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from minibot.core import mcp
from minibot.core.backoff import Backoff
from minibot.core.errors import AddressRefused, McpUnavailable
from minibot.core.mcp import McpPin, McpResult, McpState, McpToolInfo
from minibot.core.ports.mcp_client import McpConnector, McpSession
from minibot.core.ports.mcp_pin_store import McpPinStore

log = logging.getLogger(__name__)

# Offer a server's (approved) tools, or withdraw them all.
Offer = Callable[[tuple[McpToolInfo, ...]], None]
# Tell the server's owners something (what changed).
Tell = Callable[[str], Awaitable[None]]


@runtime_checkable
class _Pingable(Protocol):
    async def ping(self) -> None: ...


class McpLink:
    """Runs one server's session in its own task (`run`, supervised by the daemon): it
    opens the session, lists the tools, compares their fingerprint with the pinned one
    and offers them only when they match; the first list ever seen is pinned. A
    `list_changed` notification or a reconnect lists them again: a different list
    withdraws the tools and tells the owners what changed, until `approve`. A failed
    or dead session (a ping fails) is reopened with back-off; calls meanwhile fail at
    once with `McpUnavailable`."""

    def __init__(
        self,
        server: str,
        connector: McpConnector,
        pins: McpPinStore,
        *,
        offer: Offer,
        tell: Tell,
        now: Callable[[], datetime],
        backoff: Backoff,
        ping_interval_seconds: float,
    ) -> None:
        self.server = server
        self.name = f"mcp-{server}"
        self._connector = connector
        self._pins = pins
        self._offer = offer
        self._tell = tell
        self._now = now
        self._backoff = backoff
        self._ping_interval = ping_interval_seconds
        self.state = McpState.CONNECTING
        self.error = ""
        self.tools: tuple[McpToolInfo, ...] = ()
        self.fingerprint = ""
        self._session: McpSession | None = None
        self._changed = asyncio.Event()
        self._broken = asyncio.Event()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._offer(())

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                async with self._connector.connect(self._changed.set) as session:
                    self._broken.clear()
                    await self._check(session)
                    self._session = session
                    failures = 0
                    await self._watch(session)
            except (McpUnavailable, AddressRefused) as exc:
                self._down(str(exc))
            except Exception as exc:  # a session's teardown can fail in any way
                first = _first_error(exc)
                if isinstance(first, McpUnavailable | AddressRefused):
                    self._down(str(first))
                else:
                    log.warning("mcp session ended", exc_info=True, extra={"server": self.server})
                    self._down(f"the session ended: {type(first).__name__}: {first}")
            finally:
                self._session = None
            failures += 1
            await asyncio.sleep(self._backoff.delay(failures))

    def _down(self, reason: str) -> None:
        log.warning("mcp server unavailable", extra={"server": self.server, "reason": reason})
        if self.state is not McpState.CHANGED:
            self.state = McpState.UNAVAILABLE
        self.error = reason

    async def _watch(self, session: McpSession) -> None:
        """Until the session breaks: lists again on `list_changed`, pings, and notices
        an approval made elsewhere (`minibot mcp approve`)."""
        while not self._broken.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._ping_interval)
            if self._changed.is_set():
                self._changed.clear()
                await self._check(session)
                continue
            if isinstance(session, _Pingable):
                await session.ping()
            if self.state is McpState.CHANGED:
                await self._adopt_if_approved()
        raise McpUnavailable(self.server, "a call found the connection broken")

    async def _check(self, session: McpSession) -> None:
        tools = await session.list_tools()
        found = mcp.fingerprint(tools)
        self.tools, self.fingerprint, self.error = tools, found, ""
        pin = await self._pins.get(self.server)
        if pin is None:
            await self._pins.pin(self.server, found, tools, self._now())
            log.info("mcp tools pinned", extra={"server": self.server, "fingerprint": found})
        elif pin.fingerprint != found:
            self._offer(())
            self.state = McpState.CHANGED
            if pin.pending_fingerprint != found:
                await self._pins.hold(self.server, found, tools)
                await self._tell_changes(pin.tools, tools)
            return
        self.state = McpState.READY
        self._offer(tools)

    async def _tell_changes(
        self, before: tuple[McpToolInfo, ...], after: tuple[McpToolInfo, ...]
    ) -> None:
        lines = mcp.changes(before, after) or ["the tool list changed"]
        log.warning("mcp tools changed", extra={"server": self.server, "changes": len(lines)})
        text = (
            f"The MCP server {self.server!r} changed what it offers, so its tools are "
            "withdrawn until you approve them again:\n- "
            + "\n- ".join(lines)
            + f"\nSend /mcp approve {self.server} to use them again."
        )
        try:
            await self._tell(text)
        except Exception:
            log.exception("could not tell the owners", extra={"server": self.server})

    async def _adopt_if_approved(self) -> None:
        pin = await self._pins.get(self.server)
        if pin is not None and pin.fingerprint == self.fingerprint:
            self.state = McpState.READY
            self._offer(self.tools)

    async def pin(self) -> McpPin | None:
        """The approved list in the store (what a changed list is compared with)."""
        return await self._pins.get(self.server)

    async def approve(self) -> str:
        """Pins the list the server offers now (or the one waiting in the store, when
        the server is not connected) and offers its tools again."""
        if self.state is McpState.CHANGED and self.tools:
            await self._pins.pin(self.server, self.fingerprint, self.tools, self._now())
            self.state = McpState.READY
            self._offer(self.tools)
            return f"Approved {self.server}: its {len(self.tools)} tool(s) are offered again."
        pin = await self._pins.get(self.server)
        if pin is not None and pin.pending_fingerprint:
            await self._pins.pin(
                self.server, pin.pending_fingerprint, pin.pending_tools, self._now()
            )
            return f"Approved {self.server}'s new tool list; it is used once it reconnects."
        return f"{self.server} has nothing waiting for approval (state: {self.state})."

    async def call(
        self, tool: str, arguments: Mapping[str, Any], *, timeout_seconds: float
    ) -> McpResult:
        session = self._session
        if session is None or self.state is not McpState.READY:
            reason = self.error or str(self.state)
            raise McpUnavailable(self.server, reason)
        try:
            return await session.call_tool(tool, arguments, timeout_seconds=timeout_seconds)
        except McpUnavailable:
            # Reopened by the owner task; this call is reported to the model as is.
            self._broken.set()
            self._changed.set()
            raise


def _first_error(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
