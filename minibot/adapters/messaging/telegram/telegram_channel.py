"""The Telegram channel: wires aiogram, the shared intake and delivery, polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from urllib.parse import urlparse

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand

from minibot.adapters.config.schema import TelegramSettings
from minibot.adapters.messaging.telegram import file_download
from minibot.adapters.messaging.telegram.api_errors import call_api
from minibot.adapters.messaging.telegram.polling import ALLOWED_UPDATES, LongPoller
from minibot.adapters.messaging.telegram.telegram_sender import TelegramSender
from minibot.adapters.messaging.telegram.update_mapper import CHANNEL, UpdateMapper
from minibot.adapters.messaging.telegram.webhook_server import WebhookServer
from minibot.app.channels.allowlist import Allowlist
from minibot.app.channels.channel_intake import ChannelIntake
from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.app.channels.draft_editor import DraftEditor
from minibot.app.channels.reply_delivery import ReplyDelivery
from minibot.core.conversation import ConversationKey
from minibot.core.errors import ChannelError, ConfigError, MediaServiceFailed
from minibot.core.health import Health, HealthBoard
from minibot.core.media import MediaAttachment
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Bus
from minibot.core.ports.delivery_ledger import DeliveryLedger
from minibot.core.ports.inbox import Inbox
from minibot.core.ports.leadership import Leadership
from minibot.core.ports.send_limits import SendLimits
from minibot.core.ports.tracer import Tracer
from minibot.core.tracing import NO_TRACER
from minibot.shared import fast_json
from minibot.shared.background import watch
from minibot.shared.lone_surrogates import without_lone_surrogates

log = logging.getLogger(__name__)

# At stop, how long chunks already on their way to Telegram may take to finish.
_SEND_GRACE_SECONDS = 5.0
_TOKEN_REFUSED = (
    "Telegram refuses the bot token (401 Unauthorized): replies wait until it is accepted "
    "again (check channels.telegram.bot_token with @BotFather)"
)


class TelegramChannel:
    """The Channel port over the Telegram Bot API (aiogram 3), by long polling or webhook.
    The allowlist, the durable inbox and the ledgered delivery are the app layer's
    (`ChannelIntake`, `ReplyDelivery`); Telegram gives its parser (`UpdateMapper`), its
    sender (`TelegramSender`), streamed drafts, and the transport.

    `start` checks the token (getMe), registers the commands, publishes again the inbox
    items a previous run left unanswered, then begins receiving. `close_intake` stops
    receiving; `deliver` keeps working until `stop` (but a reply waiting on a refused
    token is then left for the restart). `health` is degraded while Telegram refuses to
    hand over updates (condition "polling": a revoked token, a second poller) or refuses
    the token for sending (condition "delivery")."""

    name = "telegram"

    def __init__(
        self,
        settings: TelegramSettings,
        bus: Bus,
        inbox: Inbox,
        ledger: DeliveryLedger,
        commands: Sequence[tuple[str, str]] = (),
        tracer: Tracer = NO_TRACER,
        *,
        accepts_media: bool = False,
        leadership: Leadership | None = None,
        send_limits: SendLimits | None = None,
    ) -> None:
        self._settings = settings
        self._accepts_media = accepts_media
        # Replicas of one bot: only the holder polls (and republishes the pending inbox).
        self._leadership = leadership
        self._bus = bus
        self._tracer = tracer
        self._inbox = inbox
        self._ledger = ledger
        self._commands = tuple(commands)
        self._bot: Bot | None = None
        self._delivery: ReplyDelivery | None = None
        self._drafts: DraftEditor | None = None
        self._health = HealthBoard()
        self._throttle = ChatThrottle(
            settings.max_send_attempts,
            self._health,
            platform=CHANNEL,
            token_refused_reason=_TOKEN_REFUSED,
            publish=bus.publish,
            limits=send_limits,
        )
        self._poller: LongPoller | None = None
        self._polling: asyncio.Task[None] | None = None
        self._receiving = False
        self._webhook: WebhookServer | None = None

    @property
    def health(self) -> Health:
        return self._health.health

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook server listens on (useful when configured as 0)."""
        return self._webhook.port if self._webhook is not None else None

    async def start(self) -> None:
        settings = self._settings
        secret = settings.secret_token.get_secret_value()
        if settings.mode == "webhook" and not secret:
            raise ConfigError("channels.telegram.secret_token", "is required in webhook mode")
        try:
            session = AiohttpSession(
                api=TelegramAPIServer.from_base(settings.api_base),
                json_loads=fast_json.loads,
                json_dumps=fast_json.dumps,
            )
            self._bot = bot = Bot(settings.bot_token.get_secret_value(), session=session)
        except Exception as exc:
            raise ConfigError("channels.telegram.bot_token", "is not a valid bot token") from exc
        try:
            await self._begin(bot, secret)
        except BaseException:
            await self.stop()
            raise

    async def _begin(self, bot: Bot, secret: str) -> None:
        settings = self._settings
        try:
            me = await call_api("", bot.get_me)
        except ChannelError as exc:
            raise ChannelError(f"telegram getMe failed: {exc}", chat_id="") from exc
        if self._commands:
            commands = [BotCommand(command=name, description=text) for name, text in self._commands]
            await call_api("", lambda: bot.set_my_commands(commands))
        sender = TelegramSender(
            bot, self._throttle, self._ledger, edit_interval_seconds=settings.edit_interval_seconds
        )
        self._drafts = sender.drafts
        self._delivery = ReplyDelivery(
            channel=CHANNEL,
            sender=sender,
            throttle=self._throttle,
            ledger=self._ledger,
            inbox=self._inbox,
            publish=self._bus.publish,
            tracer=self._tracer,
        )
        mapper = UpdateMapper(
            me.id, me.username or "", always_in_groups=settings.group_reply == "always"
        )
        allowlist = Allowlist(
            map(str, settings.allowed_user_ids),
            map(str, settings.allowed_chat_ids),
            open_mode=settings.open_mode,
        )
        intake = ChannelIntake(
            channel=CHANNEL,
            parser=mapper,
            sender=sender,
            allowlist=allowlist,
            inbox=self._inbox,
            bus=self._bus,
            notify=self._delivery.notify,
            tracer=self._tracer,
            accepts_media=self._accepts_media,
        )
        if self._leadership is None or settings.mode == "webhook":
            await intake.republish_pending()
        if settings.mode == "webhook":
            self._webhook = WebhookServer(
                host=settings.listen_host,
                port=settings.listen_port,
                path=urlparse(settings.url).path,
                secret_token=secret,
                handle=intake.handle,
                set_aside=intake.set_aside_body,
            )
            await self._webhook.start()
            await call_api(
                "",
                lambda: bot.set_webhook(
                    settings.url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
                ),
            )
        else:
            # A webhook left from an earlier webhook-mode run would make getUpdates fail.
            await call_api("", lambda: bot.delete_webhook(drop_pending_updates=False))
            self._poller = LongPoller(
                bot,
                intake.handle_batch,
                timeout_seconds=settings.polling_timeout_seconds,
                durable=intake.durable,
                health=self._health,
                leadership=self._leadership,
                on_leading=intake.republish_pending,
            )
            self._polling = asyncio.create_task(self._poller.run(), name="telegram-polling")
            self._receiving = True
        self._health.started()
        log.info("telegram channel started", extra={"mode": settings.mode, "bot": me.username})

    async def run(self) -> None:
        """The long-polling loop, for the daemon's supervisor: returns once intake
        closes, raises if the loop died, and a new `run` starts a new loop. (A webhook
        has no loop of ours: aiohttp serves it, so `run` returns at once.)"""
        while self._receiving and self._poller is not None:
            polling = self._polling
            if polling is None:
                polling = self._polling = asyncio.create_task(
                    self._poller.run(), name="telegram-polling"
                )
            try:
                await watch(polling)
            finally:
                if polling.done() and self._polling is polling:
                    self._polling = None  # the next run starts a new loop
            if self._receiving:
                # It never returns while intake is open: something cancelled it.
                raise RuntimeError("telegram polling ended on its own")

    async def close_intake(self) -> None:
        self._receiving = False
        # The daemon drains next: a reply waiting on a refused token would hold the drain
        # for nothing, so it is left for the restart now.
        self._throttle.drain()
        if self._polling is not None:
            polling, self._polling = self._polling, None
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
            if self._poller is not None:
                await self._poller.confirm()
        if self._leadership is not None:
            await self._leadership.release()
        if self._webhook is not None:
            webhook, self._webhook = self._webhook, None
            await webhook.stop()

    async def stop(self) -> None:
        await self.close_intake()
        # Calls still waiting (a rate limit, a back-off) give up now; their inbox items
        # bring the replies back after a restart. Calls already sent are waited for below.
        self._throttle.close()
        self._health.stopped()
        if self._drafts is not None:
            await self._drafts.close()
        if self._delivery is not None:
            await self._delivery.close(_SEND_GRACE_SECONDS)
        if self._bot is not None:
            bot, self._bot = self._bot, None
            await bot.session.close()

    async def deliver(self, reply: OutgoingMessage) -> None:
        # A lone surrogate (a model echoing one back) cannot be encoded into a request.
        text = without_lone_surrogates(reply.text)
        if text is not reply.text:
            reply = dataclasses.replace(reply, text=text)
        await self._require_delivery().deliver(reply)

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        if self._settings.stream_edits and self._drafts is not None:
            await self._drafts.show(conversation, turn_id, without_lone_surrogates(text))

    async def show_typing(self, conversation: ConversationKey) -> None:
        chat_id = conversation.chat_id
        if self._bot is None or self._throttle.paused(chat_id):
            return
        bot = self._bot
        try:
            await call_api(
                chat_id, lambda: bot.send_chat_action(chat_id=int(chat_id), action="typing")
            )
        except ChannelError as exc:
            # Typing is a courtesy; it never holds up or fails a reply.
            log.debug("telegram typing not shown", extra={"error": str(exc)})

    async def fetch(self, attachment: MediaAttachment, *, max_bytes: int) -> bytes:
        """`MediaSource`: a file a person sent, through the Bot API's file API."""
        if self._bot is None:
            raise MediaServiceFailed("telegram channel is not started")
        return await file_download.download(self._bot, attachment, max_bytes=max_bytes)

    def _require_delivery(self) -> ReplyDelivery:
        if self._delivery is None:
            raise ChannelError("telegram channel is not started", chat_id="")
        return self._delivery
