"""The floor: a minimal aiogram 3 echo bot (long polling, no LLM, no database)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def run(api_base: str, token: str, polling_timeout: int) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    bot = Bot(token, session=session)
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    # start_polling handles SIGINT/SIGTERM itself and closes the session on the way out.
    await dispatcher.start_polling(bot, polling_timeout=polling_timeout, handle_as_tasks=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--token", default="123456:TEST-fake-token-abcdefghijklmnopqrstuvwxyz")
    parser.add_argument("--polling-timeout", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.api_base, args.token, args.polling_timeout))


if __name__ == "__main__":
    main()
