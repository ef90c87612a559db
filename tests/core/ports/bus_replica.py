"""A replica that takes bus messages and never finishes handling them: the contract suite
kills it with SIGKILL to show the broker delivers them again to another replica.
Usage: python -m tests.core.ports.bus_replica URL NAMESPACE PARTITIONS"""

from __future__ import annotations

import asyncio
import sys

from minibot.adapters.bus.rabbitmq_bus import RabbitMqBus
from minibot.core.envelope import EnvelopeCodec
from minibot.core.events import MessageReceived
from tests.core.test_envelope import payload_types


async def main(url: str, namespace: str, partitions: int) -> None:
    bus = RabbitMqBus(
        url=url,
        partitions=partitions,
        namespace=namespace,
        codec=EnvelopeCodec(payload_types()),
        replica="doomed",
    )

    async def hang(event: MessageReceived) -> None:
        print(f"got {event.message.text}", flush=True)
        await asyncio.Event().wait()

    bus.subscribe(MessageReceived, hang, name="doomed")
    await bus.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
