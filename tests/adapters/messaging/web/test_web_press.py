"""A press on a web chat button: stored in the inbox, published once, kept over a restart."""

from __future__ import annotations

import asyncio

import pytest

from minibot.adapters.messaging.web.web_channel import WebChannel
from minibot.adapters.messaging.web.web_sender import WebSender
from minibot.app.event_bus import EventBus
from minibot.core.events import ButtonPressed
from minibot.core.messages import Button
from tests.fakes.memory import InMemoryDeliveryLedger, InMemoryInbox

pytestmark = pytest.mark.asyncio

BUTTONS = (Button("Approve", "approve:7"), Button("Deny", "deny:7"))


class Page:
    """A web channel on a bus that records every press it publishes."""

    def __init__(self, inbox: InMemoryInbox, sender: WebSender) -> None:
        self.inbox, self.sender = inbox, sender
        self.pressed: list[ButtonPressed] = []

    async def open(self) -> WebChannel:
        self.bus = EventBus()

        async def on_press(event: ButtonPressed) -> None:
            self.pressed.append(event)

        self.bus.subscribe(ButtonPressed, on_press, name="approvals")
        await self.bus.start()
        self.web = WebChannel(
            self.bus, self.inbox, InMemoryDeliveryLedger(), user_id="owner", sender=self.sender
        )
        await self.web.start()
        return self.web

    async def close(self) -> None:
        await self.web.close_intake()
        await self.bus.stop()
        await self.web.stop()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_a_press_is_stored_and_published_once_however_often_pressed() -> None:
    page = Page(InMemoryInbox(), WebSender())
    web = await page.open()
    try:
        shown = await page.sender.send_chunk(
            web.conversation, "Run save_note?", formatted=False, buttons=BUTTONS
        )
        assert [b.label for b in web.transcript()[-1].buttons] == ["Approve", "Deny"]
        assert "[Approve]" not in web.transcript()[-1].text
        assert await web.press(shown, "approve:7")
        assert await web.press(shown, "approve:7")
        await _settle()
        assert [(p.action, p.sender.user_id) for p in page.pressed] == [("approve:7", "owner")]
        assert page.pressed[0].conversation == web.conversation
        assert page.pressed[0].inbox_id is not None
        assert not await web.press(shown, "delete-everything"), "only a shown button is taken"
        assert not await web.press("no-such-message", "approve:7")
    finally:
        await page.close()


async def test_an_unanswered_press_is_published_again_after_a_restart() -> None:
    inbox, sender = InMemoryInbox(), WebSender()
    page = Page(inbox, sender)
    web = await page.open()
    shown = await sender.send_chunk(web.conversation, "Snooze?", formatted=False, buttons=BUTTONS)
    assert await web.press(shown, "deny:7")
    await _settle()
    await page.close()
    assert [p.action for p in page.pressed] == ["deny:7"]

    again = Page(inbox, sender)
    await again.open()
    try:
        await _settle()
        assert [p.action for p in again.pressed] == ["deny:7"], "the stored press is lost"
    finally:
        await again.close()
