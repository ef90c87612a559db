"""A replica that hands bus messages on to a conversation's lane, as the dispatcher does,
where the work never finishes: the contract suite kills it with SIGKILL to show the
broker delivers them again to another replica (nothing is acknowledged before its work
has run).
Usage: python -m tests.core.ports.bus_replica URL NAMESPACE PARTITIONS"""

from __future__ import annotations

import asyncio
import sys

from minibot.adapters.bus.rabbitmq_bus import RabbitMqBus
from minibot.app.lanes import KeyedLanes
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

    lanes = KeyedLanes("doomed", max_concurrent=4, max_pending=16)

    async def work_forever() -> None:
        await asyncio.Event().wait()

    async def hang(event: MessageReceived) -> None:
        await lanes.submit(event.message.conversation, work_forever)
        print(f"got {event.message.text}", flush=True)

    bus.subscribe(MessageReceived, hang, name="doomed")
    await bus.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
