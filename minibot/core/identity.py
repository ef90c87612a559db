"""Whose data is whose: the owner id of a sender, resolved on the server side."""

from __future__ import annotations

from collections.abc import Mapping

from minibot.core.messages import Sender


class OwnerResolver:
    """Maps a sender to the owner id that scopes their notes, jobs and usage.

    By default a person's owner id is their channel identity (`telegram:123`); a
    configured mapping may join one person's identities across channels
    (`{"telegram:123": "alice", "console:local": "alice"}`). Nobody falls into a shared
    bucket by default.
    """

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self._mapping = dict(mapping or {})

    def owner_of(self, sender: Sender) -> str:
        return self.owner_of_identity(sender.identity)

    def owner_of_identity(self, identity: str) -> str:
        """The owner id of a channel identity such as `telegram:123`."""
        return self._mapping.get(identity, identity)
