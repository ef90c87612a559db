"""HTTP GET that cannot reach inside: every hop's host checked, then connected to as checked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from minibot.adapters.web.pinned_resolver import PinnedResolver
from minibot.core import address_rules
from minibot.core.address_rules import HostEntry, IPAddress
from minibot.core.errors import AddressRefused, ToolError
from minibot.core.ports.host_resolver import HostResolver
from minibot.core.web import FetchedBody, WebRules

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 65536
USER_AGENT = "minibot/0.1 (+personal assistant; fetches on its owner's request)"


@dataclass(frozen=True, slots=True)
class _Hop:
    url: URL
    host: str
    port: int
    addresses: list[IPAddress]


class PinnedFetcher:
    """GETs a URL under `WebRules`. On every hop (the first request and each redirect)
    the host is resolved once through the `HostResolver`, every address is checked
    against the address rules (unless the host is in `allowed_hosts`), and aiohttp is
    handed only those addresses through a `PinnedResolver`: it has no way to look the
    name up again. Only http and https; proxies from the environment are ignored."""

    def __init__(self, resolver: HostResolver, rules: WebRules) -> None:
        self._resolver = resolver
        self._rules = rules
        self._allowed = tuple(HostEntry.parse(e) for e in rules.allowed_hosts)
        self._blocked = tuple(HostEntry.parse(e) for e in rules.blocked_hosts)

    @property
    def rules(self) -> WebRules:
        return self._rules

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> FetchedBody:
        """The last hop's answer; raises AddressRefused before any connection to a
        forbidden place, ToolError on a network failure, the time cap or too many hops."""
        pins = PinnedResolver()
        connector = aiohttp.TCPConnector(resolver=pins, use_dns_cache=False, limit=4)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._rules.timeout_seconds)
        try:
            async with (
                asyncio.timeout(self._rules.timeout_seconds),
                aiohttp.ClientSession(
                    connector=connector,
                    timeout=timeout,
                    trust_env=False,
                    headers={"User-Agent": USER_AGENT, **(headers or {})},
                    auto_decompress=True,
                ) as session,
            ):
                return await self._follow(session, pins, url)
        except TimeoutError:
            raise ToolError(f"{url}: no answer within {self._rules.timeout_seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise ToolError(f"{url}: {type(exc).__name__}: {exc}") from None

    async def _follow(
        self, session: aiohttp.ClientSession, pins: PinnedResolver, url: str
    ) -> FetchedBody:
        current = url
        for _ in range(self._rules.max_redirects + 1):
            hop = await self.check(current)
            pins.pin(hop.host, hop.addresses)
            async with session.get(hop.url, allow_redirects=False) as response:
                location = response.headers.get("Location")
                if response.status in _REDIRECTS and location:
                    current = str(hop.url.join(URL(location)))
                    continue
                return await self._body(response, hop.url)
        raise ToolError(f"{url}: more than {self._rules.max_redirects} redirects")

    async def check(self, url: str) -> _Hop:
        """Parses and checks one hop's URL and resolves its host (once)."""
        try:
            parsed = URL(url)
        except (ValueError, TypeError) as exc:
            raise AddressRefused(url, f"not a URL ({exc})") from None
        if parsed.scheme not in ("http", "https"):
            raise AddressRefused(url, "only http and https URLs may be fetched")
        host = (parsed.raw_host or "").lower().rstrip(".")
        if not host or parsed.port is None:
            raise AddressRefused(url, "the URL has no host")
        if parsed.user or parsed.password:
            raise AddressRefused(url, "URLs with a user name or password are not fetched")
        port = parsed.port
        if address_rules.blocked(self._blocked, host, port):
            raise AddressRefused(url, f"{host} is in blocked_hosts")
        allowed = address_rules.listed(self._allowed, host, port)
        addresses = await self._addresses(url, host, port, allowed)
        if not allowed:
            for address in addresses:
                reason = address_rules.forbidden_reason(address)
                if reason:
                    log.warning("fetch refused", extra={"host": host, "reason": reason})
                    raise AddressRefused(url, f"{host} is {reason}")
        return _Hop(parsed, host, port, addresses)

    async def _addresses(self, url: str, host: str, port: int, allowed: bool) -> list[IPAddress]:
        literal = address_rules.parse_ip_literal(host)
        if literal is not None:
            return [literal]
        if not allowed and address_rules.inside_name(host):
            raise AddressRefused(url, f"{host} names this machine or a private network")
        return await self._resolve(url, host, port)

    async def _resolve(self, url: str, host: str, port: int) -> list[IPAddress]:
        try:
            return await self._resolver.resolve(host, port)
        except OSError as exc:
            raise ToolError(f"{url}: cannot resolve {host} ({exc})") from None

    async def _body(self, response: aiohttp.ClientResponse, url: URL) -> FetchedBody:
        cap = self._rules.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        truncated = False
        while chunk := await response.content.read(_CHUNK_BYTES):
            if size + len(chunk) > cap:
                chunks.append(chunk[: cap - size])
                truncated = True
                break
            chunks.append(chunk)
            size += len(chunk)
        return FetchedBody(
            final_url=str(url),
            status=response.status,
            content_type=response.content_type,
            body=b"".join(chunks),
            truncated=truncated,
            charset=response.charset,
        )
