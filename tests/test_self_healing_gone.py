"""A conversation gone upstream: an operator deleted it in the provider's app, or the provider
expired it. The bridge starts a new one on the same backend, sends the prompt there once and
says so once; only the speaker's own conversation in user scope; a conversation an admin bound
by its ids is not replaced, and a character or bot the upstream refuses is told to the channel
and, privately, to the admins."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from core import notices
from core.backends.aurora import AuroraBackend
from core.backends.cody import CodyBackend
from core.errors import AssistantRefused, ConversationGone, Rejected
from core.model import Binding, ChannelRecord
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    ADMIN,
    ADMIN_ID,
    ALICE,
    BOB,
    GROUP,
    aurora_backend,
    cody_backend,
    collect_until_error,
    make_settings,
    open_discord,
    telegram_bridge,
    telegram_section,
)
from tests.harness.chat import TelegramChat

BACKENDS = ["aurora", "cody"]
REMOTE_KEY = {"aurora": "chat_id", "cody": "conversation_id"}
PROMPT_KEY = {"aurora": "chatId", "cody": "conversation_id"}
REPLACED = str(notices.conversation_replaced())


@contextlib.asynccontextmanager
async def bridge_on(
    kind: str, tg: FakeTelegram, aurora: AuroraFake, cody: CodyFake, redis_url: str, prefix: str
) -> AsyncIterator[TelegramChat]:
    """The bridge on Telegram with one backend, ``luna``, of ``kind``; ``ADMIN`` an admin."""
    up: Any = aurora if kind == "aurora" else cody
    backend = aurora_backend(aurora) if kind == "aurora" else cody_backend(cody)
    settings = make_settings(
        backends={"luna": backend},
        redis_url=redis_url,
        prefix=prefix,
        telegram=telegram_section(tg, admins=[ADMIN]),
    )
    async with telegram_bridge(settings) as (rt, frontend):
        yield TelegramChat(tg, up, rt, frontend)


def prompts(kind: str, up: Any) -> list[tuple[str, str]]:
    """(conversation, text) of every message POST the upstream received, in order."""
    paths = ("/api/v11/message", "/api/v1/messages", "/api/v1/messages/stream")
    key = PROMPT_KEY[kind]
    text = "message" if kind == "aurora" else "content"
    return [
        (str(r.json.get(key)), r.json.get(text))
        for r in up.requests
        if r.method == "POST" and r.path in paths
    ]


async def settled(chat: TelegramChat, count: int) -> None:
    """Until the chat shows ``count`` bot messages and nothing is being handled."""
    await chat.tg.wait_for(lambda: len(chat.texts) == count and chat.rt.relay.in_flight == 0)


async def binding_of(chat: TelegramChat, key: str) -> Binding:
    binding = await chat.rt.store.get_binding(key)
    assert binding is not None
    return binding


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_private_chat_gets_a_new_conversation_and_its_prompt_once(
    kind: str, tg: FakeTelegram, aurora: AuroraFake, cody: CodyFake, redis_url: str, prefix: str
) -> None:
    async with bridge_on(kind, tg, aurora, cody, redis_url, prefix) as chat:
        await chat.say("first")
        assert (await chat.reply()).endswith("first")
        old = (await binding_of(chat, f"tg:{ALICE}")).remote[REMOTE_KEY[kind]]
        chat.up.delete_conversation(old)

        await chat.say("second")
        assert await chat.reply() == REPLACED
        assert (await chat.reply()).endswith("second")
        new = (await binding_of(chat, f"tg:{ALICE}")).remote[REMOTE_KEY[kind]]
        assert new != old

        await chat.say("third")  # the new conversation is kept
        assert (await chat.reply()).endswith("third")
    assert chat.texts.count(REPLACED) == 1
    assert prompts(kind, chat.up) == [
        (old, "first"),
        (old, "second"),  # refused: the conversation was gone
        (new, "second"),
        (new, "third"),
    ]
    assert chat.up.messages_sent == ["first", "second", "third"]


@pytest.mark.parametrize("kind", BACKENDS)
async def test_in_user_scope_only_the_speakers_conversation_is_replaced(
    kind: str, tg: FakeTelegram, aurora: AuroraFake, cody: CodyFake, redis_url: str, prefix: str
) -> None:
    async with bridge_on(kind, tg, aurora, cody, redis_url, prefix) as admin:
        group = admin.to(GROUP, user_id=ADMIN)
        await group.say("/scope user")
        await group.reply()
        alice, bob = group.to(GROUP, user_id=ALICE), group.to(GROUP, user_id=BOB)
        await alice.say("@bridge_bot I am Alice")
        await settled(group, 2)
        await bob.say("@bridge_bot I am Bob")
        await settled(group, 3)
        alices = await binding_of(group, f"tg:{GROUP}@tg:{ALICE}")
        bobs = await binding_of(group, f"tg:{GROUP}@tg:{BOB}")
        old = alices.remote[REMOTE_KEY[kind]]
        group.up.delete_conversation(old)

        await alice.say("@bridge_bot still me")
        await settled(group, 5)
        assert group.texts[3] == REPLACED and group.texts[4].endswith("still me")
        await bob.say("@bridge_bot me too")
        await settled(group, 6)
        assert group.texts[5].endswith("me too")

        new = (await binding_of(group, f"tg:{GROUP}@tg:{ALICE}")).remote[REMOTE_KEY[kind]]
        assert new != old
        assert await binding_of(group, f"tg:{GROUP}@tg:{BOB}") == bobs
    assert group.texts.count(REPLACED) == 1
    sent = prompts(kind, group.up)
    assert [c for c, text in sent if text.endswith("still me")] == [old, new]
    assert [c for c, text in sent if text.endswith("me too")] == [bobs.remote[REMOTE_KEY[kind]]]


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_conversation_bound_by_its_ids_is_not_replaced(
    kind: str, tg: FakeTelegram, aurora: AuroraFake, cody: CodyFake, redis_url: str, prefix: str
) -> None:
    async with bridge_on(kind, tg, aurora, cody, redis_url, prefix) as chat:
        admin = chat.to(ADMIN)
        remote = await chat.rt.backends["luna"].create_conversation("made in the app")
        ids = " ".join(remote.values())
        await admin.say(f"/bind luna {ids}")
        await admin.reply()
        pinned = await binding_of(admin, f"tg:{ADMIN}")
        assert pinned.pinned and pinned.remote == remote
        await admin.say("hello")
        assert (await admin.reply()).endswith("hello")
        chat.up.delete_conversation(remote[REMOTE_KEY[kind]])
        made = len(chat.up.conversations)

        await admin.say("anyone there?")
        assert await admin.reply() == str(notices.conversation_gone())
        assert await binding_of(admin, f"tg:{ADMIN}") == pinned
        assert len(chat.up.conversations) == made  # no new conversation
    assert REPLACED not in admin.texts
    assert chat.up.messages_sent == ["hello"]


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_refused_character_or_bot_is_told_to_the_chat_and_the_admins(
    kind: str, tg: FakeTelegram, aurora: AuroraFake, cody: CodyFake, redis_url: str, prefix: str
) -> None:
    async with bridge_on(kind, tg, aurora, cody, redis_url, prefix) as chat:
        admin = chat.to(ADMIN)  # an admin who has a private chat with the bot
        await admin.say("/status")
        await admin.reply()
        await chat.say("first")
        assert (await chat.reply()).endswith("first")
        old = (await binding_of(chat, f"tg:{ALICE}")).remote[REMOTE_KEY[kind]]
        chat.up.delete_conversation(old)
        if kind == "aurora":
            aurora.refused_characters.add(aurora.character_id)
        else:
            cody.bots.clear()  # the bot was deleted in the dashboard

        await chat.say("second")
        assert await chat.reply() == str(notices.assistant_refused())
        told = await admin.reply()
        assert f"tg:{ALICE}" in told and ("character_id" in told or "bot_id" in told)
        # A chat without a conversation yet meets the same refusal; the admins knew already.
        other = chat.to(BOB)
        await other.say("hello")
        assert await other.reply() == str(notices.assistant_refused())
        await chat.say("third")
        assert await chat.reply() == str(notices.assistant_refused())
    assert tg.chat_texts(ADMIN)[1:] == [told]  # told once, not once per message
    assert chat.up.messages_sent == ["first"]
    assert REPLACED not in chat.texts


async def test_on_discord_the_admins_hear_of_a_refused_character_by_direct_message(
    dc: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    aurora.refused_characters.add(aurora.character_id)
    async with open_discord(dc, aurora, redis_url, prefix) as chat:
        await chat.say("hello", mention_bot=True)
        assert await chat.reply() == str(notices.assistant_refused())
        await dc.wait_for(lambda: len(dc.dm_texts(ADMIN_ID)) == 1)
    told = dc.dm_texts(ADMIN_ID)[0]
    assert f"dc:{chat.channel}" in told and "character_id" in told
    assert aurora.messages_sent == []


def test_an_exported_binding_keeps_being_bound_by_its_ids() -> None:
    pinned = ChannelRecord("tg:1", binding=Binding("luna", {"chat_id": "7"}, "tg:1", 5.0, True))
    assert ChannelRecord.from_json(pinned.to_json()) == pinned
    plain = ChannelRecord("tg:2", binding=Binding("luna", {"chat_id": "8"}, "auto", 5.0))
    assert "pinned" not in plain.to_json()["binding"]
    assert ChannelRecord.from_json(plain.to_json()) == plain


async def test_cody_names_a_gone_conversation_and_a_refused_bot(
    cody: CodyFake, make_cody: Callable[..., CodyBackend]
) -> None:
    backend = make_cody()
    remote = await backend.create_conversation("t")
    cody.delete_conversation(remote["conversation_id"])
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, ConversationGone) and error.not_taken and not error.maybe_stored
    assert str(error) == "The selected conversation id is invalid."
    cody.fail_next(404)
    _, error = await collect_until_error(backend, await backend.create_conversation("t"), "hi")
    assert isinstance(error, ConversationGone)
    cody.bots.clear()
    with pytest.raises(AssistantRefused, match=r"^backends\.\w+\.bot_id: The selected bot id"):
        await backend.create_conversation("t")
    assert cody.messages_sent == []


async def test_aurora_tells_a_gone_chat_from_another_refusal(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.fail_next(400)  # the chat is still listed: a refusal of this message
    _, error = await collect_until_error(backend, remote, "hi")
    assert type(error) is Rejected
    aurora.delete_conversation(remote["chat_id"])
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, ConversationGone) and error.not_taken
    aurora.refused_characters.add(aurora.character_id)
    with pytest.raises(AssistantRefused, match=r"^backends\.\w+\.character_id: "):
        await backend.create_conversation("t")
    assert aurora.messages_sent == []
