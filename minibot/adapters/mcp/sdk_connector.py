"""The MCP client on the official SDK: stdio and Streamable HTTP sessions to one server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
import mcp_types
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from minibot.adapters.config.schema import McpServerSettings
from minibot.adapters.mcp.environment import server_environment
from minibot.adapters.mcp.pinned_http import PinnedTransport, checked_address
from minibot.core.errors import AddressRefused, McpUnavailable
from minibot.core.mcp import McpResult, McpToolInfo
from minibot.core.ports.host_resolver import HostResolver

log = logging.getLogger(__name__)

CLIENT_INFO = mcp_types.Implementation(name="minibot", version="0.1")
# A server that lists more pages than this is refused rather than read forever.
MAX_PAGES = 50


class SdkMcpConnector:
    """McpConnector over the `mcp` SDK for one `[mcp.servers.<name>]`. Every SDK and
    transport failure becomes `McpUnavailable` here, so the rest of minibot never sees
    the SDK's types."""

    def __init__(
        self,
        name: str,
        settings: McpServerSettings,
        resolver: HostResolver,
        *,
        connect_timeout_seconds: float = 30.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._connect_timeout = connect_timeout_seconds
        self.name = name
        self._settings = settings
        self._resolver = resolver
        self._environ = os.environ if environ is None else environ

    @asynccontextmanager
    async def connect(self, on_tools_changed: Callable[[], None]) -> AsyncIterator[SdkMcpSession]:
        try:
            async with AsyncExitStack() as stack:
                session = await self._open(stack, on_tools_changed)
                yield SdkMcpSession(self.name, session)
        except ExceptionGroup as group:
            # The transports' task groups wrap what ends them, ours included: the
            # caller gets the one error that matters.
            first = _first_error(group)
            if isinstance(first, McpUnavailable | AddressRefused):
                raise first from None
            raise McpUnavailable(self.name, describe(first)) from None

    async def _open(
        self, stack: AsyncExitStack, on_tools_changed: Callable[[], None]
    ) -> ClientSession:
        async def on_message(message: Any) -> None:
            if isinstance(message, mcp_types.ToolListChangedNotification):
                on_tools_changed()

        try:
            read, write = await stack.enter_async_context(await self._transport(stack))
            session = await stack.enter_async_context(
                ClientSession(
                    read,
                    write,
                    read_timeout_seconds=self._connect_timeout,
                    message_handler=on_message,
                    client_info=CLIENT_INFO,
                )
            )
            await session.initialize()
        except (AddressRefused, McpUnavailable):
            raise
        except Exception as exc:  # the SDK and its transports raise many kinds
            raise McpUnavailable(self.name, describe(exc)) from None
        return session

    async def _transport(self, stack: AsyncExitStack) -> Any:
        s = self._settings
        if s.command:
            named = {k: v.get_secret_value() for k, v in s.env.items()}
            params = StdioServerParameters(
                command=s.command,
                args=list(s.args),
                env=server_environment(named, self._environ),
                cwd=s.cwd or None,
            )
            return stdio_client(params)
        host, port, address = await checked_address(s.url, self._resolver)
        client = httpx2.AsyncClient(
            transport=PinnedTransport(host, port, address),
            headers={k: v.get_secret_value() for k, v in s.headers.items()},
            timeout=httpx2.Timeout(s.timeout_seconds, read=None),
            trust_env=False,
        )
        await stack.enter_async_context(client)
        return streamable_http_client(s.url, http_client=client)


class SdkMcpSession:
    def __init__(self, server: str, session: ClientSession) -> None:
        self._server = server
        self._session = session

    async def list_tools(self) -> tuple[McpToolInfo, ...]:
        tools: list[McpToolInfo] = []
        cursor: str | None = None
        try:
            for _ in range(MAX_PAGES):
                params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await self._session.list_tools(params=params)
                tools += [
                    McpToolInfo(t.name, t.description or "", dict(t.input_schema))
                    for t in page.tools
                ]
                cursor = page.next_cursor
                if not cursor:
                    return tuple(tools)
        except Exception as exc:
            raise McpUnavailable(self._server, describe(exc)) from None
        raise McpUnavailable(self._server, f"more than {MAX_PAGES} pages of tools")

    async def ping(self) -> None:
        try:
            await self._session.send_ping()
        except Exception as exc:
            raise McpUnavailable(self._server, describe(exc)) from None

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], *, timeout_seconds: float
    ) -> McpResult:
        try:
            # The SDK's own limit first (it tells the server the call is cancelled); the
            # outer one bounds anything the SDK might still wait on.
            async with asyncio.timeout(timeout_seconds + 1):
                result = await self._session.call_tool(
                    name, dict(arguments), read_timeout_seconds=timeout_seconds
                )
        except TimeoutError:
            raise McpUnavailable(self._server, f"no answer within {timeout_seconds:g} s") from None
        except Exception as exc:
            raise McpUnavailable(self._server, describe(exc)) from None
        texts = [block.text for block in result.content if isinstance(block, mcp_types.TextContent)]
        others = [block.type for block in result.content if block.type != "text"]
        if others:
            texts.append(f"[{len(others)} non-text block(s) left out: {', '.join(others)}]")
        return McpResult("\n".join(texts), result.structured_content, result.is_error)


def _first_error(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> str:
    """A one-line reason, from the first real error inside any exception group."""
    exc = _first_error(exc)
    text = str(exc) or type(exc).__name__
    try:
        json.dumps(text)
    except (TypeError, ValueError):
        text = type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
