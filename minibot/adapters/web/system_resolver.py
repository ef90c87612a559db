"""The host resolver over the system's getaddrinfo."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from minibot.core.address_rules import IPAddress


class SystemHostResolver:
    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        seen: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in seen:
                seen.append(address)
        if not seen:
            raise OSError(f"{host} has no address")
        return seen
