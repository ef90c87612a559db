"""One tree of errors; each carries what is needed to act on it."""

from __future__ import annotations

from typing import TYPE_CHECKING


class MinibotError(Exception):
    """Base of every error minibot raises on purpose."""


class ConfigError(MinibotError):
    """The configuration is invalid; `key` is the dotted path of the culprit."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class LLMError(MinibotError):
    """The model could not produce an answer."""


class LLMUnavailable(LLMError):
    """A transient failure (429, 5xx, timeout, dropped connection), possibly retried."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_seconds: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_seconds = retry_after_seconds


class LLMRejected(LLMError):
    """The provider refused the request (400, 401, 403): retrying will not help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class LLMAttemptFailed(LLMError):
    """One attempt at the provider failed (an HTTP error status, a broken stream): the
    model adapter decides whether to try again, and raises `LLMUnavailable` or
    `LLMRejected` when it stops; this one never leaves the adapter."""


class StreamInterrupted(LLMUnavailable):
    """A stream broke after part of the answer had already been shown."""

    def __init__(self, message: str, *, partial_text: str) -> None:
        super().__init__(message)
        self.partial_text = partial_text


class StoreError(MinibotError):
    """A persistence adapter failed to read or write."""


class StoreUnavailable(StoreError):
    """The store cannot write anything now (a full disk, a dead or locked database):
    nothing was stored, and the same write may succeed later."""


class EntryRejected(StoreError):
    """The store refused what it was given (text it cannot encode, a value out of its
    range), not for want of space or a connection: the same write would fail again."""


class BackupRefused(StoreError):
    """A backup, restore or export that cannot be done as asked (a corrupt or partial
    backup, a store in use, a backend it does not copy); nothing was changed. `path`
    names the file at fault, when there is one."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class MigrationRefused(StoreError):
    """`minibot jobs migrate` cannot copy as asked (a daemon holds a store, the target
    holds a different version of a job); nothing was written. `store` names the store
    at fault (`file` or `sql`)."""

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store


class SchemaBehind(StoreError):
    """The database's schema is not the one this code needs, and migrating it is not
    allowed here (`[memory] auto_migrate = false`) or not possible (a newer release's)."""

    def __init__(self, message: str, *, current: str | None, head: str) -> None:
        super().__init__(message)
        self.current = current
        self.head = head


class NotFound(MinibotError):
    """The thing asked for does not exist (or is not visible to this owner)."""


class IllegalTransition(MinibotError):
    """A job was asked to move between states that do not connect."""

    def __init__(self, job_id: str, current: str, target: str) -> None:
        super().__init__(f"job {job_id}: cannot go from {current} to {target}")
        self.job_id = job_id
        self.current = current
        self.target = target


class RunFailed(MinibotError):
    """A job's run did not produce its effect; it may be retried."""


class RunMissed(MinibotError):
    """A job's run was not made on purpose (a budget stopped it): recorded as missed with
    this reason, never retried."""


class JobRefused(MinibotError):
    """A job was not created or changed; the message says why and what to do."""


class ToolError(MinibotError):
    """A tool call failed in a way the model should be told about."""


class ChannelError(MinibotError):
    """A channel could not deliver; `retry_after_seconds` is set for flood control."""

    def __init__(
        self, message: str, *, chat_id: str, retry_after_seconds: float | None = None
    ) -> None:
        super().__init__(message)
        self.chat_id = chat_id
        self.retry_after_seconds = retry_after_seconds


class NoHandler(MinibotError):
    """A command was published that no service handles (a wiring mistake)."""

    def __init__(self, command_type: str) -> None:
        super().__init__(f"no handler for command {command_type}")
        self.command_type = command_type


class DeliveryRefused(ChannelError):
    """The platform refused a reply for good (the bot blocked, the chat gone, a request it
    will never take): the reply is given up and recorded as failed."""


class ChannelStopped(ChannelError):
    """The channel stopped before the reply went out; its inbox item brings it back after
    a restart."""


# What a messaging platform answers a call with, translated once by the channel's adapter
# (for Telegram, `adapters/messaging/telegram/api_errors.py`) so callers catch by type.
# Refusals a caller can act on (send plain text, send anew, nothing to do) are kinds of
# `DeliveryRefused`: one not acted on gives the reply up like any other refusal.


class FloodControl(ChannelError):
    """Rate limited (Telegram's 429): the same call succeeds after `retry_after_seconds`.
    `scope` is "chat" when the call was for one chat, "bot" for a call without one."""

    retry_after_seconds: float

    def __init__(
        self, message: str, *, chat_id: str, retry_after_seconds: float, scope: str
    ) -> None:
        super().__init__(message, chat_id=chat_id, retry_after_seconds=retry_after_seconds)
        self.scope = scope


class ChannelUnavailable(ChannelError):
    """Network trouble or a server error (5xx): a moment later the same call may succeed."""


class TokenRefused(ChannelError):
    """The platform refuses the bot's credentials (401): nothing goes out until it takes
    them again."""


class ChannelConflict(ChannelError):
    """Someone else holds the bot's updates (409: another poller, or a webhook is set)."""


class FormattingRejected(DeliveryRefused):
    """The platform could not parse the text's formatting: send it plain instead."""


class NotModified(DeliveryRefused):
    """An edit asked for what the message shows already: nothing to do."""


class MessageGone(DeliveryRefused):
    """The message to edit was deleted or can no longer be edited: send a new one."""


class MediaError(MinibotError):
    """A file a person sent cannot be used; `reason` is said to them as it is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MediaTooLarge(MediaError):
    """Longer or larger than the limits: refused before anything is downloaded."""


class MediaUnsupported(MediaError):
    """A kind of file minibot does not read."""


class MediaUnreadable(MediaError):
    """A corrupt or password-protected file."""


class MediaServiceFailed(MediaError):
    """The transcription, speech or image service failed for good."""


class AddressRefused(ToolError):
    """A web tool refused a URL before connecting: `url` and `reason` say which and why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"refused {url}: {reason}")
        self.url = url
        self.reason = reason


class BudgetExceeded(MinibotError):
    """A request was not made: its estimated cost would cross a spending limit.
    `breach` says which limit, what was spent and when it resets."""

    def __init__(self, breach: BudgetBreach) -> None:
        super().__init__(f"{breach.period} budget reached")
        self.breach = breach


if TYPE_CHECKING:
    from minibot.core.budgets import BudgetBreach


class McpUnavailable(ToolError):
    """An MCP server could not be reached or did not answer in time: `server` names it."""

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(f"MCP server {server!r} is unavailable: {reason}")
        self.server = server
        self.reason = reason
