"""An httpx2 transport for one MCP server: connects only to its checked, pinned address."""

from __future__ import annotations

import httpx2

from minibot.core import address_rules
from minibot.core.address_rules import IPAddress
from minibot.core.errors import AddressRefused
from minibot.core.ports.host_resolver import HostResolver

_DEFAULT_PORTS = {"http": 80, "https": 443}


async def checked_address(url: str, resolver: HostResolver) -> tuple[str, int, IPAddress]:
    """The host, port and address of a configured server's URL, resolved once and
    checked (`address_rules.configured_server_refusal`); AddressRefused otherwise."""
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError) as exc:
        raise AddressRefused(url, f"not a URL ({exc})") from None
    if parsed.scheme not in _DEFAULT_PORTS:
        raise AddressRefused(url, "an MCP server URL must be http or https")
    if parsed.userinfo:
        raise AddressRefused(url, "put credentials in headers, not in the URL")
    host = parsed.host.lower().rstrip(".")
    if not host:
        raise AddressRefused(url, "the URL has no host")
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    literal = address_rules.parse_ip_literal(host)
    try:
        addresses = [literal] if literal is not None else await resolver.resolve(host, port)
    except OSError as exc:
        raise AddressRefused(url, f"cannot resolve {host} ({exc})") from None
    for address in addresses:
        reason = address_rules.configured_server_refusal(address)
        if reason:
            raise AddressRefused(url, f"{host} is {reason}")
    return host, port, addresses[0]


class PinnedTransport(httpx2.AsyncBaseTransport):
    """Every request must go to the configured host and port (a redirect anywhere else
    fails here, whatever the SDK decided), and is sent to the address checked when the
    session opened: the name is never looked up again. TLS still verifies the name."""

    def __init__(self, host: str, port: int, address: IPAddress) -> None:
        self._host = host
        self._port = port
        self._address = address
        self._inner = httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        port = url.port or _DEFAULT_PORTS.get(url.scheme, 0)
        if url.host.lower().rstrip(".") != self._host or port != self._port:
            raise httpx2.ConnectError(
                f"{url.host}:{port} is not the configured MCP server "
                f"({self._host}:{self._port}); not contacted",
                request=request,
            )
        request.url = url.copy_with(host=str(self._address))
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": self._host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
