"""Builds the llm-async provider named in the config, with our HTTP pool, timeouts and hooks."""

from __future__ import annotations

import enum
from typing import Any

from aiosonic.connection import Connection  # type: ignore[import-untyped]
from aiosonic.connectors import TCPConnector  # type: ignore[import-untyped]
from aiosonic.pools import PoolConfig  # type: ignore[import-untyped]
from aiosonic.timeout import Timeouts  # type: ignore[import-untyped]
from llm_async.models import Response, StreamChunk  # type: ignore[import-untyped]
from llm_async.providers import (  # type: ignore[import-untyped]
    BaseProvider,
    ClaudeProvider,
    GoogleProvider,
    OpenAIProvider,
    OpenAIResponsesProvider,
    OpenRouterProvider,
)
from llm_async.utils.http import stream_json  # type: ignore[import-untyped]
from llm_async.utils.retry import RetryConfig  # type: ignore[import-untyped]

from minibot.adapters.config.schema import LLMSettings
from minibot.adapters.llm.http_failures import raise_for_http_error

# llm-async treats `retry_config=None` as "its default: 3 attempts", so the only way to keep
# retries ours alone is an explicit single attempt; our RetryPolicy does the real work.
NO_LIBRARY_RETRY = RetryConfig(max_attempts=1)


class _ClosingConnection(Connection):  # type: ignore[misc]
    """An aiosonic connection that is closed when its request fails or is cancelled.

    aiosonic keeps a connection open for reuse when an earlier request on it was kept
    alive, even if the current request was abandoned mid-way (our timeout cancels it):
    the next request would then read the abandoned answer, or wait behind it."""

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.keep = False
        await super().__aexit__(exc_type, exc, tb)


class Protocol(enum.Enum):
    """The wire format a provider speaks; decides how messages and answers are mapped."""

    CHAT = "chat"  # OpenAI chat completions (also OpenRouter and OpenAI-compatible servers)
    RESPONSES = "responses"
    CLAUDE = "claude"
    GOOGLE = "google"


class _RawStream:
    """Hands every parsed SSE event to us untouched.

    llm-async's own stream drops events without text, which loses tool-call deltas and the
    final usage event; the provider still builds the URL, headers and payload.
    """

    client: Any

    def _stream_response(
        self, url: str, payload: dict[str, Any], headers: Any, parse_provider: str = ""
    ) -> Response:
        async def events() -> Any:
            async for event in stream_json(
                self.client, url, payload, headers, retry_config=NO_LIBRARY_RETRY
            ):
                yield StreamChunk(None, event)

        return Response({}, "raw", stream=True, stream_generator=events())


class _OpenAI(_RawStream, OpenAIProvider):  # type: ignore[misc]
    pass


class _OpenRouter(_RawStream, OpenRouterProvider):  # type: ignore[misc]
    pass


class _Claude(_RawStream, ClaudeProvider):  # type: ignore[misc]
    pass


class _Google(_RawStream, GoogleProvider):  # type: ignore[misc]
    pass


class _OpenAIResponses(_RawStream, OpenAIResponsesProvider):  # type: ignore[misc]
    def _stream_responses_request(self, url: str, payload: dict[str, Any], headers: Any) -> Any:
        return self._stream_response(url, payload, headers)


_PROVIDERS: dict[str, tuple[type[BaseProvider], Protocol]] = {
    "openai": (_OpenAI, Protocol.CHAT),
    "openrouter": (_OpenRouter, Protocol.CHAT),
    "openai_responses": (_OpenAIResponses, Protocol.RESPONSES),
    "claude": (_Claude, Protocol.CLAUDE),
    "google": (_Google, Protocol.GOOGLE),
}


def protocol_of(provider: str) -> Protocol:
    return _PROVIDERS[provider][1]


def build_provider(settings: LLMSettings) -> BaseProvider:
    """Opens no connection yet; aiosonic connects on the first request."""
    cls, protocol = _PROVIDERS[settings.provider]
    base_url = settings.base_url.rstrip("/")
    if base_url and protocol is Protocol.GOOGLE:
        base_url += "/"  # Google's provider appends "<model>:generateContent" directly
    timeout = settings.request_timeout_seconds
    connector = TCPConnector(
        connection_cls=_ClosingConnection,
        # aiosonic's default pool holds 30 connections, which caps requests in flight.
        # Its per-connection request limit is left off: aiosonic never resets a
        # connection's count when it reconnects, so past the limit every request would
        # open a new TCP and TLS connection. Idle connections are still closed.
        pool_configs={
            ":default": PoolConfig(size=settings.max_connections, max_conn_requests=None)
        },
        # Reads are bounded by our own deadlines (a whole answer, or each wait for the next
        # streamed event: see LlmAsyncModel); aiosonic's read and request timeouts would
        # each wrap every request in one more task. Connecting keeps its own timeout.
        timeouts=Timeouts(
            sock_connect=timeout, sock_read=None, pool_acquire=None, request_timeout=None
        ),
    )
    client_kwargs = {"connector": connector, "event_hooks": {"response": [raise_for_http_error]}}
    return cls(
        api_key=settings.api_key.get_secret_value(),
        base_url=base_url,
        retry_config=NO_LIBRARY_RETRY,
        client_kwargs=client_kwargs,
    )
