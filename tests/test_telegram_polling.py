"""The poller against the fake Bot API, with the real python-telegram-bot Bot: an update is
confirmed (the next getUpdates offset) only once it is recorded, each is handed out once, and
an update that waits does not hold up the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, Update
from telegram.request import HTTPXRequest

from bots.telegram.polling import Poller
from tests.fakes.telegram import FakeTelegram


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    # Two connections for getUpdates, as the front-end builds it: the stop's confirming call
    # must not wait for the long poll it cancelled.
    request = HTTPXRequest(connection_pool_size=2)
    async with Bot(tg.token, base_url=tg.base_url, get_updates_request=request) as b:
        yield b


class Handler:
    """A dispatch whose updates are recorded only when the test says so."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.finish = asyncio.Event()

    def gate(self, update_id: int) -> asyncio.Event:
        return self.gates.setdefault(update_id, asyncio.Event())

    async def __call__(self, update: Update, recorded: asyncio.Event) -> None:
        self.seen.append(update.update_id)
        await self.gate(update.update_id).wait()
        recorded.set()
        await self.finish.wait()  # the reply goes on long after it was recorded


def offsets(tg: FakeTelegram) -> list[int]:
    return [int(c.get("offset") or 0) for c in tg.calls_of("getUpdates")]


async def test_offsets_move_only_past_recorded_updates_in_order(tg: FakeTelegram, bot: Bot) -> None:
    handler = Handler()
    poller = Poller(bot, handler)
    poller.start()
    try:
        ids = [tg.user_says(chat, "hi", user_id=chat)["update_id"] for chat in (11, 12, 13)]
        await tg.wait_for(lambda: handler.seen == ids)
        # The later two are recorded, the first is not: nothing may be confirmed.
        handler.gate(ids[1]).set()
        handler.gate(ids[2]).set()
        calls = len(offsets(tg))
        await tg.wait_for(lambda: len(offsets(tg)) >= calls + 3)
        assert max(offsets(tg)) <= ids[0]
        # The first one is recorded: all three are confirmed at once, none handed out again.
        handler.gate(ids[0]).set()
        await tg.wait_for(lambda: ids[2] + 1 in offsets(tg))
        assert max(offsets(tg)) == ids[2] + 1
        later = tg.user_says(14, "hi", user_id=14)["update_id"]
        await tg.wait_for(lambda: later in handler.seen)
        assert handler.seen == [*ids, later]
    finally:
        handler.finish.set()
        await poller.stop()
        await poller.wait_handled(within=5)
    assert poller.running is False


async def test_an_unrecorded_update_does_not_hold_up_other_chats(
    tg: FakeTelegram, bot: Bot
) -> None:
    handler = Handler()
    poller = Poller(bot, handler)
    poller.start()
    try:
        stuck = tg.user_says(21, "waits its turn", user_id=21)["update_id"]
        await tg.wait_for(lambda: handler.seen == [stuck])
        others = [tg.user_says(chat, "hi", user_id=chat)["update_id"] for chat in (22, 23)]
        await tg.wait_for(lambda: handler.seen == [stuck, *others])
    finally:
        handler.finish.set()
        await poller.stop()
        await poller.wait_handled(within=5)


async def test_stop_confirms_what_was_recorded(tg: FakeTelegram, bot: Bot) -> None:
    handler = Handler()
    poller = Poller(bot, handler)
    poller.start()
    first = tg.user_says(31, "hi", user_id=31)["update_id"]
    await tg.wait_for(lambda: handler.seen == [first])
    handler.gate(first).set()
    await tg.wait_for(lambda: first + 1 in offsets(tg))
    second = tg.user_says(32, "hi", user_id=32)["update_id"]
    await tg.wait_for(lambda: second in handler.seen)
    handler.gate(second).set()
    handler.finish.set()
    await poller.stop()
    await poller.wait_handled(within=5)
    last = tg.calls_of("getUpdates")[-1]  # the stop's own call: a restart will not refetch it
    assert (int(last["offset"]), int(last["limit"])) == (second + 1, 1)
