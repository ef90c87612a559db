"""The Telegram channel: aiogram 3, long polling or webhook, with a durable inbox."""

from minibot.adapters.messaging.telegram.telegram_channel import TelegramChannel

__all__ = ["TelegramChannel"]
