"""Conversation controls across a kill -9 of `bridge run`: a stopped reply stays as it was (never
completed from the upstream's stored history); a queued message's edit and a deletion are in
the journal, so the next process sends the edited text and nothing for the deleted message."""

from __future__ import annotations

import asyncio

from core import notices
from tests.fakes.cody import CodyFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import MakeBridge, no_traceback
from tests.harness.faults import GROUP, MEMBER, STORY, prompts_once

STOPPED = f"\n\n{notices.stopped()}"


async def test_kill_9_after_a_stop_leaves_the_stopped_reply_as_it_was(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake
) -> None:
    first = make_bridge()
    await first.start()
    # The server generates and stores the whole story whatever happens to the stream: a
    # recovery that completed replies from the stored history would show all of it.
    cody.reply_with(STORY, chunk_size=4, chunk_delay=0.5, server_finishes=True)
    tg.user_says(GROUP, "@bridge_bot tell me a story", user_id=501, chat_type="supergroup")

    def button() -> list[tuple[int, str]]:
        return [
            (m.message_id, b)
            for m in tg.bot_messages(GROUP)
            for b in tg.buttons(GROUP, m.message_id)
        ]

    await tg.wait_for(lambda: bool(button()), within=20)
    message_id, tag = button()[0]
    tg.user_presses(GROUP, message_id, tag, user_id=501)
    await tg.wait_for(lambda: tg.chat_texts(GROUP)[0].endswith(STOPPED), within=20)
    stopped = tg.chat_texts(GROUP)
    before = await first.kill()

    second = make_bridge()
    await second.start()
    await asyncio.sleep(1.5)  # recovery's first passes (a third of the 3 s lease) have run
    tg.user_says(610, "still there?", user_id=610)
    await tg.wait_for(lambda: tg.chat_texts(610) == ["echo: still there?"], within=30)
    assert tg.chat_texts(GROUP) == stopped
    partial = stopped[0].removesuffix(STOPPED)
    assert partial and STORY.startswith(partial) and partial != STORY
    assert tg.buttons(GROUP, message_id) == []
    prompts_once(cody, "tell me a story")
    no_traceback(before, second.output)


async def test_kill_9_after_an_edit_and_a_deletion_of_queued_messages(
    make_bridge: MakeBridge, tg: FakeTelegram, dc: DiscordFake, cody: CodyFake
) -> None:
    first = make_bridge()
    await first.start()
    channel = dc.default_channel_id
    # Long enough that both queued messages still wait when the process dies.
    cody.reply_with(STORY, chunk_size=6, chunk_delay=1.0, server_finishes=True)
    cody.reply_with(STORY, chunk_size=6, chunk_delay=1.0, server_finishes=True)
    tg.user_says(GROUP, "@bridge_bot tell me a story", user_id=501, chat_type="supergroup")
    await dc.user_says(channel, "tell me a story", user_id=MEMBER, mention_bot=True)
    await tg.wait_for(lambda: bool(tg.chat_texts(GROUP)), within=20)
    await dc.wait_for(lambda: bool(dc.channel_texts(channel)), within=20)
    typo = tg.user_says(GROUP, "@bridge_bot waht then?", user_id=501, chat_type="supergroup")[
        "message"
    ]["message_id"]
    gone = await dc.user_says(channel, "forget it", user_id=MEMBER, mention_bot=True)
    await asyncio.sleep(1.0)  # both are admitted and wait their turn
    tg.user_edits(GROUP, typo, "@bridge_bot what then?")
    await dc.user_deletes(channel, gone)
    await asyncio.sleep(1.0)  # the journal has the edit and the deletion
    before = await first.kill()
    assert "what then?" not in cody.messages_sent and "waht then?" not in cody.messages_sent

    second = make_bridge()
    await second.start()
    await tg.wait_for(lambda: tg.chat_texts(GROUP)[1:] == ["echo: what then?"], within=40)
    await dc.wait_for(lambda: dc.channel_texts(channel) == [STORY], within=40)
    prompts_once(cody, "what then?")
    assert "waht then?" not in cody.messages_sent and "forget it" not in cody.messages_sent
    no_traceback(before, second.output)
