"""The Slack channel: wires slack-bolt and slack_sdk, the shared intake and delivery."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from minibot.adapters.config.schema import SlackSettings
from minibot.adapters.messaging.slack import slack_files
from minibot.adapters.messaging.slack.api_errors import call_api
from minibot.adapters.messaging.slack.event_parser import CHANNEL, SlackEventParser
from minibot.adapters.messaging.slack.events_server import SlackEventsServer
from minibot.adapters.messaging.slack.slack_sender import SlackSender
from minibot.adapters.messaging.slack.socket_mode import SlackSocketMode
from minibot.app.channels.allowlist import Allowlist
from minibot.app.channels.channel_intake import ChannelIntake
from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.app.channels.reply_delivery import ReplyDelivery
from minibot.core.conversation import ConversationKey
from minibot.core.errors import ChannelError, MediaServiceFailed
from minibot.core.health import Health, HealthBoard
from minibot.core.media import MediaAttachment
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Bus
from minibot.core.ports.delivery_ledger import DeliveryLedger
from minibot.core.ports.inbox import Inbox
from minibot.core.ports.tracer import Tracer
from minibot.core.tracing import NO_TRACER
from minibot.shared.lone_surrogates import without_lone_surrogates

log = logging.getLogger(__name__)

# At stop, how long chunks already on their way to Slack may take to finish.
_SEND_GRACE_SECONDS = 5.0
_TOKEN_REFUSED = (
    "Slack refuses the bot token (invalid_auth): replies wait until it is accepted again "
    "(check channels.slack.bot_token)"
)


# The health condition of Socket Mode's connection, read when health is asked.
_SOCKET = "socket"
_SOCKET_DOWN = (
    "the Slack Socket Mode connection is down: Slack keeps events until it is back (reconnecting)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Identity:
    """Who the bot is in its workspace, from auth.test."""

    user_id: str
    bot_id: str
    team_id: str | None


class SlackChannel:
    """The Channel port over Slack: the Events API served by a slack-bolt `AsyncApp`
    (every request's signature checked by bolt; a missing, wrong or stale one gets 401
    and touches nothing), or Socket Mode (`SlackSocketMode`: envelopes acknowledged once
    stored). The allowlist, the durable inbox and the ledgered delivery are
    the app layer's (`ChannelIntake`, `ReplyDelivery`); Slack gives its parser
    (`SlackEventParser`), its sender (`SlackSender`) and the transport.

    `start` asks auth.test who the bot is (a refused token fails the start), publishes
    again the inbox items a previous run left unanswered, then listens. Each event is
    stored before its 200 (bolt runs our middleware before it answers:
    `process_before_response`), so Slack's retries of an event not yet stored find it
    again, and those of one stored are dropped by its `event_id`. `health` is degraded
    while Slack refuses the token for sending (condition "delivery") and, in Socket
    Mode, while no WebSocket is open (condition "socket"). With `accepts_media` a
    message with a file is stored too, and the channel is the `MediaSource` that
    downloads it (`fetch`)."""

    name = CHANNEL

    def __init__(
        self,
        settings: SlackSettings,
        bus: Bus,
        inbox: Inbox,
        ledger: DeliveryLedger,
        tracer: Tracer = NO_TRACER,
        *,
        accepts_media: bool = False,
    ) -> None:
        self._settings = settings
        self._accepts_media = accepts_media
        self._bus = bus
        self._tracer = tracer
        self._inbox = inbox
        self._ledger = ledger
        self._health = HealthBoard()
        self._throttle = ChatThrottle(
            settings.max_send_attempts,
            self._health,
            platform=CHANNEL,
            token_refused_reason=_TOKEN_REFUSED,
            publish=bus.publish,
        )
        self._session: aiohttp.ClientSession | None = None
        self._delivery: ReplyDelivery | None = None
        self._sender: SlackSender | None = None
        self._server: SlackEventsServer | None = None
        self._socket: SlackSocketMode | None = None
        self._client: AsyncWebClient | None = None

    @property
    def health(self) -> Health:
        if self._socket is not None and not self._socket.connected:
            self._health.degrade(_SOCKET, _SOCKET_DOWN)
        else:
            self._health.recover(_SOCKET)
        return self._health.health

    @property
    def events_port(self) -> int | None:
        """The port the events server listens on (useful when configured as 0)."""
        return self._server.port if self._server is not None else None

    async def start(self) -> None:
        settings = self._settings
        self._session = aiohttp.ClientSession()
        client = AsyncWebClient(
            token=settings.bot_token.get_secret_value(),
            base_url=settings.api_base,
            session=self._session,
            # One attempt per call: waiting and retrying are the throttle's.
            retry_handlers=[],
        )
        self._client = client
        try:
            await self._begin(client)
        except BaseException:
            await self.stop()
            raise

    async def _begin(self, client: AsyncWebClient) -> None:
        settings = self._settings
        try:
            answer = await call_api("", client.auth_test)
        except ChannelError as exc:
            raise ChannelError(f"slack auth.test failed: {exc}", chat_id="") from exc
        me = _Identity(
            str(answer["user_id"]), str(answer.get("bot_id") or ""), answer.get("team_id")
        )
        sender = SlackSender(
            client,
            settings.max_message_chars,
            self._throttle,
            self._ledger,
            edit_interval_seconds=settings.edit_interval_seconds,
            session=self._session,
        )
        self._sender = sender
        self._delivery = ReplyDelivery(
            channel=CHANNEL,
            sender=sender,
            throttle=self._throttle,
            ledger=self._ledger,
            inbox=self._inbox,
            publish=self._bus.publish,
            tracer=self._tracer,
        )
        parser = SlackEventParser(me.user_id, always_in_channels=settings.channel_reply == "always")
        intake = ChannelIntake(
            channel=CHANNEL,
            parser=parser,
            sender=sender,
            allowlist=Allowlist(
                settings.allowed_user_ids,
                settings.allowed_channel_ids,
                open_mode=settings.open_mode,
            ),
            inbox=self._inbox,
            bus=self._bus,
            notify=self._delivery.notify,
            tracer=self._tracer,
            accepts_media=self._accepts_media,
        )
        await intake.republish_pending()
        if settings.mode == "socket":
            self._socket = SlackSocketMode(
                client, settings.app_token.get_secret_value(), intake.handle
            )
            await self._socket.start()
        else:
            app = self._bolt_app(client, me, intake)
            self._server = SlackEventsServer(
                app,
                host=settings.listen_host,
                port=settings.listen_port,
                path=settings.events_path,
            )
            await self._server.start()
        self._health.started()
        log.info("slack channel started", extra={"mode": settings.mode, "bot": me.user_id})

    def _bolt_app(self, client: AsyncWebClient, me: _Identity, intake: ChannelIntake) -> AsyncApp:
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            # Who we are was asked once at start: bolt's own auth.test on a request
            # could fail and answer 200, and that event would be lost.
            return AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id or me.team_id,
                bot_user_id=me.user_id,
                bot_id=me.bot_id,
                bot_token=self._settings.bot_token.get_secret_value(),
            )

        async def store(body: dict[str, Any]) -> BoltResponse:
            # Stored (or set aside) before the 200; an exception makes bolt answer 500,
            # and Slack retries the event.
            await intake.handle(body)
            return BoltResponse(status=200, body="")

        app = AsyncApp(
            client=client,
            signing_secret=self._settings.signing_secret.get_secret_value(),
            authorize=authorize,
            process_before_response=True,
            logger=logging.getLogger("slack_bolt"),
        )
        app.use(store)
        return app

    async def run(self) -> None:
        """Nothing to supervise: aiohttp serves the events."""

    async def close_intake(self) -> None:
        # The daemon drains next: a reply waiting on a refused token would hold the drain
        # for nothing, so it is left for the restart now.
        self._throttle.drain()
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.stop()

    async def stop(self) -> None:
        await self.close_intake()
        self._throttle.close()
        self._health.stopped()
        if self._sender is not None:
            await self._sender.drafts.close()
        if self._delivery is not None:
            await self._delivery.close(_SEND_GRACE_SECONDS)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def deliver(self, reply: OutgoingMessage) -> None:
        text = without_lone_surrogates(reply.text)
        if text is not reply.text:
            reply = dataclasses.replace(reply, text=text)
        await self._require_delivery().deliver(reply)

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        """With `stream_edits`, the reply grows in one message updated with `chat.update`
        (throttled); the final delivery takes that message over as its first chunk."""
        if self._settings.stream_edits and self._sender is not None:
            await self._sender.drafts.show(conversation, turn_id, without_lone_surrogates(text))

    async def show_typing(self, conversation: ConversationKey) -> None:
        """Slack's Web API has no typing indicator for bots."""

    async def fetch(self, attachment: MediaAttachment, *, max_bytes: int) -> bytes:
        """`MediaSource`: a file a person sent, by `files.info` (its size checked before
        anything is downloaded) and its `url_private_download` with the bot token."""
        if self._client is None or self._session is None:
            raise MediaServiceFailed("slack channel is not started")
        client = self._client
        try:
            answer = await call_api("", lambda: client.files_info(file=attachment.file_id))
        except ChannelError as exc:
            raise MediaServiceFailed("Slack would not hand over that file; try again.") from exc
        info = answer.get("file")
        url = slack_files.download_url(
            info if isinstance(info, dict) else {},
            self._settings.api_base,
            max_bytes=max_bytes,
        )
        token = self._settings.bot_token.get_secret_value()
        return await slack_files.download(self._session, url, token, max_bytes=max_bytes)

    def _require_delivery(self) -> ReplyDelivery:
        if self._delivery is None:
            raise ChannelError("slack channel is not started", chat_id="")
        return self._delivery
