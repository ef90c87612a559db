"""Files on the web chat: stored on disk by an id, the inbox keeping the id only; a turn
republished after a crash reads the file again; the file goes once the turn is answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from minibot.adapters.messaging.web.web_channel import WebChannel
from minibot.adapters.messaging.web.web_uploads import WebUploads
from minibot.app.event_bus import EventBus
from minibot.core.delivery import TurnRef
from minibot.core.errors import MediaServiceFailed, MediaTooLarge
from minibot.core.events import MessageReceived
from minibot.core.media import MediaAttachment, MediaKind
from minibot.core.messages import OutgoingMessage
from tests.fakes.memory import InMemoryDeliveryLedger, InMemoryInbox

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(20)]

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
ATTACHMENT = MediaAttachment(MediaKind.PHOTO, "", "image/png", "cat.png", len(PHOTO))


class Page:
    """A web channel taking files, on a bus that records what it publishes."""

    def __init__(self, inbox: InMemoryInbox, uploads: Path) -> None:
        self.inbox, self.uploads = inbox, uploads
        self.received: list[MessageReceived] = []

    async def open(self) -> WebChannel:
        self.bus = EventBus()

        async def on_message(event: MessageReceived) -> None:
            self.received.append(event)

        self.bus.subscribe(MessageReceived, on_message, name="dispatcher")
        await self.bus.start()
        self.web = WebChannel(
            self.bus,
            self.inbox,
            InMemoryDeliveryLedger(),
            user_id="owner",
            uploads=WebUploads(self.uploads),
        )
        await self.web.start()
        return self.web

    async def published(self, count: int) -> list[MessageReceived]:
        async with asyncio.timeout(5):
            while len(self.received) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return self.received

    async def close(self) -> None:
        await self.web.close_intake()
        await self.bus.stop()
        await self.web.stop()


def files_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


async def test_a_file_is_stored_by_reference_and_read_again_after_a_crash(tmp_path: Path) -> None:
    inbox, uploads = InMemoryInbox(), tmp_path / "uploads"
    first = Page(inbox, uploads)
    web = await first.open()
    await web.receive_file("m1", "what is this?", ATTACHMENT, PHOTO)
    (event,) = await first.published(1)
    media = event.message.media
    assert media is not None and media.kind is MediaKind.PHOTO
    assert await web.fetch(media, max_bytes=10_000) == PHOTO
    (item,) = inbox.items.values()
    assert media.file_id in item.payload and "cat.png" in item.payload
    assert len(item.payload) < 400, "the inbox keeps the file's id, never its bytes"
    await first.close()  # the turn never answered: as after a kill

    again = Page(inbox, uploads)
    web = await again.open()
    try:
        (replayed,) = await again.published(1)
        assert replayed.message.media == media
        assert replayed.message.text == "what is this?"
        assert await web.fetch(media, max_bytes=10_000) == PHOTO, "read again, from disk"
        turn = TurnRef.of_inbox(web.conversation, item.id)
        await web.deliver(OutgoingMessage.answering(turn, web.conversation, "A cat."))
        assert files_in(uploads) == [], "answered: the file is gone"
        with pytest.raises(MediaServiceFailed):
            await web.fetch(media, max_bytes=10_000)
    finally:
        await again.close()


async def test_a_duplicate_leaves_no_file_and_a_restart_sweeps_orphans(tmp_path: Path) -> None:
    inbox, uploads = InMemoryInbox(), tmp_path / "uploads"
    page = Page(inbox, uploads)
    web = await page.open()
    await web.receive_file("m1", "", ATTACHMENT, PHOTO)
    await web.receive_file("m1", "", ATTACHMENT, PHOTO)
    await page.published(1)
    await asyncio.sleep(0.05)
    assert len(page.received) == 1, "the same message id is handled once"
    assert len(files_in(uploads)) == 1, "the second copy was dropped"
    await page.close()

    orphan = uploads / ("ab" * 16)
    orphan.write_bytes(b"left by a crash before the inbox write")
    again = Page(inbox, uploads)
    await again.open()
    try:
        await again.published(1)
        assert orphan.name not in files_in(uploads)
        assert len(files_in(uploads)) == 1, "the open item's file is kept"
    finally:
        await again.close()


async def test_uploads_refuse_ids_that_are_paths_and_files_past_the_cap(tmp_path: Path) -> None:
    uploads = WebUploads(tmp_path)
    upload_id = uploads.new_id()
    await uploads.save(upload_id, b"x" * 100)
    assert (tmp_path / upload_id).stat().st_mode & 0o777 == 0o600
    with pytest.raises(MediaTooLarge):
        await uploads.read(upload_id, max_bytes=99)
    for bad in ("../minibot.db", "/etc/passwd", "ABC"):
        with pytest.raises(MediaServiceFailed):
            await uploads.read(bad, max_bytes=1000)


async def test_a_channel_without_uploads_takes_no_files(tmp_path: Path) -> None:
    bus = EventBus()
    web = WebChannel(bus, InMemoryInbox(), InMemoryDeliveryLedger(), user_id="owner")
    assert not web.accepts_files
    with pytest.raises(MediaServiceFailed):
        await web.receive_file("m1", "", ATTACHMENT, PHOTO)
