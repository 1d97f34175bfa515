"""End to end: the real discord.py client against the fake Discord, the real relay and Redis,
and the fake Aurora API upstream."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from discord.http import Route

from bots.discord.frontend import INTENT_HELP, DiscordFrontEnd
from bots.run import StartupError
from bots.runtime import open_runtime
from core import notices
from core.model import ReplyMode
from core.notices import Notice, Texts
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.harness import (
    ADMIN_ID,
    MANAGER_ID,
    MEMBER_ID,
    DiscordChat,
    bridge_run,
    discord_section,
    luna_settings,
    open_discord,
)


@pytest.fixture
def env(discord_chat: DiscordChat) -> DiscordChat:
    return discord_chat


def assert_no_pings(fake: DiscordFake) -> None:
    writes = [w for w in fake.writes if w.kind in ("create", "edit")]
    assert writes, "the bot wrote nothing"
    for w in writes:
        assert w.allowed_mentions is not None and w.allowed_mentions.get("parse") == [], w
        assert w.pinged == [], w


# --- where it answers --------------------------------------------------------------------------


async def test_mention_in_guild_channel_streams_the_exact_text(
    discord_chat: DiscordChat,
) -> None:
    chat, env = discord_chat, discord_chat
    reply = "Hello there! " * 30
    env.up.reply_with(reply, chunk_size=7, chunk_delay=0.01)
    mid = await chat.say("hi bot", mention_bot=True)
    assert await chat.reply() == reply
    assert chat.texts == [reply]
    assert env.up.messages_sent == ["user2: hi bot"]  # the bot's own mention is stripped
    ch = chat.channel
    first = env.fake.writes_to(ch)[0]
    assert first.kind == "create"
    assert first.message_reference is not None
    assert int(first.message_reference["message_id"]) == mid
    assert first.allowed_mentions == {"parse": [], "replied_user": False}
    assert env.fake.typing.get(ch, 0) >= 1
    assert_no_pings(env.fake)


async def test_unaddressed_guild_message_is_ignored_in_mentions_mode(
    discord_chat: DiscordChat,
) -> None:
    chat, env = discord_chat, discord_chat
    await chat.say("just chatting")
    env.up.reply_with("answer")
    await chat.say("now you", mention_bot=True)
    assert await chat.reply() == "answer"
    assert chat.texts == ["answer"]
    assert env.up.messages_sent == ["user2: now you"]


async def test_reply_to_the_bot_counts_as_addressing_it(env: DiscordChat) -> None:
    ch = env.fake.default_channel_id
    env.up.reply_with("first")
    await env.fake.user_says(ch, "q1", user_id=MEMBER_ID, mention_bot=True)
    await env.shown(ch, ["first"])
    bot_msg = next(
        int(m["id"])
        for m in env.fake.channel_messages(ch)
        if m["author"]["id"] == str(env.fake.bot_id)
    )
    env.up.reply_with("second")
    await env.fake.user_says(ch, "q2", user_id=MEMBER_ID, reply_to=bot_msg)
    await env.shown(ch, ["first", "second"])
    assert env.up.messages_sent == ["user2: q1", "user2: q2"]


async def test_message_in_a_thread_streams_the_exact_text(env: DiscordChat) -> None:
    reply = "Threads work too. " * 20
    env.up.reply_with(reply, chunk_size=5, chunk_delay=0.005)
    thread_id = env.fake.snowflake()
    await env.fake.user_says(
        thread_id, "in thread", user_id=MEMBER_ID, mention_bot=True, thread=True
    )
    await env.shown(thread_id, [reply])
    assert env.fake.channel_texts(env.fake.default_channel_id) == []
    assert_no_pings(env.fake)


async def test_dm_is_answered_without_mention(discord_chat: DiscordChat) -> None:
    dm = discord_chat.dm()
    reply = "Private answer, streamed. " * 10
    dm.up.reply_with(reply, chunk_size=9, chunk_delay=0.005)
    await dm.say("hello in DM")
    assert await dm.reply() == reply
    assert dm.texts == [reply]
    assert dm.up.messages_sent == ["hello in DM"]


async def test_mode_all_answers_every_message_and_off_none(env: DiscordChat) -> None:
    ch = env.fake.default_channel_id
    rec = await env.fake.slash(ch, "bridge", "mode", {"mode": "all"}, user_id=ADMIN_ID)
    assert rec.text == notices.mode_set(ReplyMode.ALL)
    env.up.reply_with("everyone gets one")
    await env.fake.user_says(ch, "no mention", user_id=MEMBER_ID)
    await env.shown(ch, ["everyone gets one"])
    await env.fake.slash(ch, "bridge", "mode", {"mode": "off"}, user_id=ADMIN_ID)
    await env.fake.user_says(ch, "quiet please", user_id=MEMBER_ID, mention_bot=True)
    await env.settle()
    assert env.up.messages_sent == ["user2: no mention"]


async def test_messages_from_bots_are_ignored(env: DiscordChat) -> None:
    ch = env.fake.default_channel_id
    await env.fake.user_says(ch, "I am a bot", user_id=MEMBER_ID + 50, mention_bot=True, bot=True)
    dm = env.fake.snowflake()
    await env.fake.user_says(dm, "bot DM", user_id=MEMBER_ID + 51, guild=False, bot=True)
    env.up.reply_with("for the human")
    await env.fake.user_says(ch, "human here", user_id=MEMBER_ID, mention_bot=True)
    await env.shown(ch, ["for the human"])
    assert env.up.messages_sent == ["user2: human here"]
    assert env.fake.channel_texts(dm) == []


async def test_attachment_without_text_gets_the_short_answer(env: DiscordChat) -> None:
    dm = env.fake.snowflake()
    await env.fake.user_says(dm, "", user_id=MEMBER_ID, guild=False, attachments=1)
    await env.shown(dm, [notices.attachment_only()])
    # In a server, even in mode all, only a file meant for the bot gets the answer.
    ch = env.fake.default_channel_id
    await env.fake.slash(ch, "bridge", "mode", {"mode": "all"}, user_id=ADMIN_ID)
    await env.fake.user_says(ch, "", user_id=MEMBER_ID, attachments=1)
    await env.fake.user_says(ch, "", user_id=MEMBER_ID, attachments=1, mention_bot=True)
    await env.shown(ch, [notices.attachment_only()])
    assert env.up.messages_sent == []


# --- what it writes ----------------------------------------------------------------------------


async def test_everyone_and_role_mentions_in_a_reply_ping_nobody(env: DiscordChat) -> None:
    role = env.fake.pingable_role_id
    reply = f"@everyone look! @here too, <@&{role}> and <@{MEMBER_ID}>, " + "more text " * 40
    env.up.reply_with(reply, chunk_size=11, chunk_delay=0.005)
    ch = env.fake.default_channel_id
    await env.fake.user_says(ch, "ping them", user_id=MEMBER_ID, mention_bot=True)
    await env.shown(ch, [reply])
    assert len(env.fake.writes_to(ch)) >= 2  # a send and at least one edit
    assert_no_pings(env.fake)


async def test_a_6000_character_reply_arrives_whole_and_in_order(env: DiscordChat) -> None:
    paragraphs = [f"Paragraph {i:02d}: " + ("lorem ipsum dolor " * 18).strip() for i in range(18)]
    reply = "\n\n".join(paragraphs)
    assert len(reply) > 6000
    env.up.reply_with(reply, chunk_size=200, chunk_delay=0.002)
    ch = env.fake.default_channel_id
    await env.fake.user_says(ch, "long please", user_id=MEMBER_ID, mention_bot=True)

    def whole() -> bool:
        texts = env.fake.channel_texts(ch)
        return " ".join("\n".join(texts).split()) == " ".join(reply.split())

    await env.fake.wait_for(whole, within=30)
    await env.settle()
    texts = env.fake.channel_texts(ch)
    assert len(texts) >= 4
    assert all(0 < len(t) <= 2000 for t in texts)
    assert [w for w in env.fake.writes if w.status == 400] == []
    # Only the first message is a reply; continuations are plain messages.
    creates = [w for w in env.fake.writes_to(ch) if w.kind == "create"]
    assert creates[0].message_reference is not None
    assert all(w.message_reference is None for w in creates[1:])
    assert_no_pings(env.fake)


async def test_429_mid_stream_loses_nothing(env: DiscordChat) -> None:
    reply = "".join(f"word{i} " for i in range(150)).strip()
    env.up.reply_with(reply, chunk_size=6, chunk_delay=0.01)
    ch = env.fake.default_channel_id
    await env.fake.user_says(ch, "go", user_id=MEMBER_ID, mention_bot=True)
    await env.fake.wait_for(lambda: len(env.fake.writes_to(ch)) >= 1)
    env.fake.force_429(ch, 0.3, 0.2)
    await env.shown(ch, [reply])
    assert len(env.fake.rate_limited) == 2
    assert_no_pings(env.fake)


async def test_tight_channel_limit_without_headers_still_delivers(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    # No X-RateLimit headers: discord.py only learns from the 429s themselves.
    async with (
        DiscordFake(rate_limit=2, rate_window=0.5, advertise_limits=False) as fake,
        open_discord(fake, aurora, redis_url, prefix) as env,
    ):
        reply = "".join(f"tok{i} " for i in range(120)).strip()
        env.up.reply_with(reply, chunk_size=4, chunk_delay=0.005)
        ch = fake.default_channel_id
        await fake.user_says(ch, "go", user_id=MEMBER_ID, mention_bot=True)
        await env.shown(ch, [reply], within=30)
        assert fake.rate_limited, "the tight limit was never hit"


async def test_quota_error_gives_the_notice(discord_chat: DiscordChat) -> None:
    chat = discord_chat
    chat.up.fail_next(429, kind="quota")
    await chat.say("anything", mention_bot=True)
    quota_start = notices.quota().split(" Please")[0]
    assert (await chat.reply()).startswith(quota_start)
    assert len(chat.texts) == 1
    assert_no_pings(chat.fake)


async def test_two_channels_streaming_at_once_both_finish(env: DiscordChat) -> None:
    a, b = env.fake.default_channel_id, env.fake.snowflake()
    reply_a = "Alpha " * 80
    reply_b = "Bravo " * 80
    env.up.reply_with(reply_a, chunk_size=10, chunk_delay=0.01)
    env.up.reply_with(reply_b, chunk_size=10, chunk_delay=0.01)
    await env.fake.user_says(a, "one", user_id=MEMBER_ID, mention_bot=True)
    await env.fake.user_says(b, "two", user_id=MEMBER_ID + 1, mention_bot=True)
    await env.fake.wait_for(
        lambda: (
            sorted(env.fake.channel_texts(a) + env.fake.channel_texts(b))
            == sorted([reply_a, reply_b])
        )
    )
    await env.settle()
    assert len(env.fake.channel_texts(a)) == len(env.fake.channel_texts(b)) == 1


# --- /bridge -----------------------------------------------------------------------------------


async def test_commands_are_synced_with_manage_server_default(env: DiscordChat) -> None:
    [bridge] = [c for c in env.fake.commands if c["name"] == "bridge"]
    assert int(bridge["default_member_permissions"]) == 1 << 5  # Manage Server
    subs = {o["name"]: o for o in bridge["options"]}
    # Generated from the one command table in core.
    assert set(subs) == {c.name for c in env.rt.bridge.commands.listed()}
    assert set(subs) == {"help", "status", "reset", "bind", "unbind", "mode", "scope", "block"} | {
        "unblock",
        "usage",
        "grant",
        "stop",
    }
    choices = {o["name"]: {c["value"] for c in o["options"][0]["choices"]} for o in subs.values()
               if o.get("options") and o["options"][0].get("choices")}  # fmt: skip
    assert choices == {"mode": {"mentions", "all", "off"}, "scope": {"shared", "user"}}
    [backend, remote] = subs["bind"]["options"]
    assert (backend["name"], backend["required"], backend.get("autocomplete")) == (
        "backend",
        True,
        True,
    )
    assert (remote["name"], remote.get("required", False)) == ("remote", False)
    [user] = subs["block"]["options"]
    assert user["type"] == 6  # a user picker
    # Everyone's commands are also top-level, visible to every member.
    top = {c["name"]: c for c in env.fake.commands if c["name"] != "bridge"}
    assert set(top) == {"help", "status", "reset", "usage", "stop"}
    assert all(c.get("default_member_permissions") is None for c in top.values())


async def test_descriptions_come_in_each_users_language(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    # German for everyone by default (with an override); other clients' languages as shipped.
    language = {"language": "de", "texts": {"arg_backend": "Das Backend deiner Wahl"}}
    async with DiscordFake() as fake:
        sections = {"notices": language}
        async with open_discord(fake, aurora, redis_url, prefix, sections=sections) as env:
            [bridge] = [c for c in env.fake.commands if c["name"] == "bridge"]
            subs = {o["name"]: o for o in bridge["options"]}
            [backend, remote] = subs["bind"]["options"]
            [status] = [c for c in env.fake.commands if c["name"] == "status"]
    de, fr, en = Texts("de"), Texts("fr"), Texts("en")

    def shown(part: dict[str, Any]) -> dict[str, str]:
        return {"default": part["description"], **part.get("description_localizations", {})}

    for part, name in ((bridge, "cmd_bridge"), (status, "cmd_status"), (remote, "arg_remote")):
        localised = shown(part)
        assert localised["default"] == de.render(Notice(name))
        assert localised["fr"] == fr.render(Notice(name))
        assert localised["en-US"] == localised["en-GB"] == en.render(Notice(name))
        assert localised["pt-BR"] == Texts("pt").render(Notice(name))
        assert localised["es-419"] == localised["es-ES"] == Texts("es").render(Notice(name))
        assert "de" not in localised and "ja" not in localised  # the default serves them
    assert shown(backend)["default"] == "Das Backend deiner Wahl"
    assert shown(backend)["uk"] == Texts("uk").render(Notice("arg_backend"))
    # Names and choices are typed words: never translated.
    assert not bridge.get("name_localizations") and not backend.get("name_localizations")
    [mode] = subs["mode"]["options"]
    assert all(not c.get("name_localizations") for c in mode["choices"])


async def test_bind_by_a_member_without_manage_server_is_refused(env: DiscordChat) -> None:
    ch = env.fake.default_channel_id
    rec = await env.fake.slash(ch, "bridge", "bind", {"backend": "luna"}, user_id=MEMBER_ID)
    assert rec.callback_type == 5  # deferred at once, answered by the core's check
    assert rec.ephemeral
    assert rec.text == notices.not_admin()
    assert await env.rt.store.get_binding(f"dc:{ch}") is None
    assert env.up.conversations == []


async def test_bind_by_an_admin_changes_the_store(env: DiscordChat) -> None:
    ch = env.fake.default_channel_id
    rec = await env.fake.slash(
        ch, "bridge", "bind", {"backend": "luna"}, user_id=MANAGER_ID, manage_guild=True
    )
    assert rec.callback_type == 5  # deferred first: creating a conversation may be slow
    assert rec.ephemeral
    binding = await env.rt.store.get_binding(f"dc:{ch}")
    assert binding is not None and binding.backend == "luna"
    assert binding.bound_by == f"dc:{MANAGER_ID}"
    assert rec.text == notices.bound(binding)
    # A configured admin id works without Manage Server, with explicit remote ids.
    rec = await env.fake.slash(
        ch, "bridge", "bind", {"backend": "luna", "remote": "42 777"}, user_id=ADMIN_ID
    )
    binding = await env.rt.store.get_binding(f"dc:{ch}")
    assert binding is not None and rec.text == notices.bound(binding)


async def test_bind_with_an_unknown_backend_answers_the_core_error(env: DiscordChat) -> None:
    ch = env.fake.default_channel_id
    rec = await env.fake.slash(ch, "bridge", "bind", {"backend": "nope"}, user_id=ADMIN_ID)
    assert rec.ephemeral
    assert "nope" in (rec.text or "")
    assert await env.rt.store.get_binding(f"dc:{ch}") is None


async def test_backend_autocomplete_offers_configured_names(env: DiscordChat) -> None:
    choices = await env.fake.autocomplete(
        env.fake.default_channel_id, "bridge", "bind", {"backend": "lu"},
        focused="backend", user_id=ADMIN_ID,
    )  # fmt: skip
    assert choices == [{"name": "luna", "value": "luna"}]


async def test_reset_gives_a_new_conversation(env: DiscordChat) -> None:
    ch = env.fake.default_channel_id
    env.up.reply_with("before")
    await env.fake.user_says(ch, "hello", user_id=MEMBER_ID, mention_bot=True)
    await env.shown(ch, ["before"])
    old = await env.rt.store.get_binding(f"dc:{ch}")
    assert old is not None
    rec = await env.fake.slash(ch, "bridge", "reset", user_id=MANAGER_ID, manage_guild=True)
    new = await env.rt.store.get_binding(f"dc:{ch}")
    assert new is not None and new.remote != old.remote
    assert rec.text == notices.reset_done(new)
    refused = await env.fake.slash(ch, "bridge", "reset", user_id=MEMBER_ID)
    assert refused.text == notices.not_admin() and refused.ephemeral
    assert await env.rt.store.get_binding(f"dc:{ch}") == new


async def test_in_a_dm_reset_and_status_work_for_the_user(env: DiscordChat) -> None:
    dm = env.fake.snowflake()
    status = await env.fake.slash(dm, "bridge", "status", user_id=MEMBER_ID, guild=False)
    assert status.ephemeral
    shown = (await env.rt.bridge.conversations.status(f"dc:{dm}")).describe(private=True)
    assert status.text == shown and "Mode:" not in shown  # a DM has no reply mode or scope
    reset = await env.fake.slash(dm, "bridge", "reset", user_id=MEMBER_ID, guild=False)
    binding = await env.rt.store.get_binding(f"dc:{dm}")
    assert binding is not None and reset.text == notices.reset_done(binding)
    bind = await env.fake.slash(
        dm, "bridge", "bind", {"backend": "luna"}, user_id=MEMBER_ID, guild=False
    )
    assert bind.text == notices.not_admin()


async def test_status_and_unbind_in_a_server(env: DiscordChat) -> None:
    ch = env.fake.default_channel_id
    await env.fake.slash(ch, "bridge", "bind", {"backend": "luna"}, user_id=ADMIN_ID)
    status = await env.fake.slash(ch, "bridge", "status", user_id=ADMIN_ID)
    assert status.text == (await env.rt.bridge.conversations.status(f"dc:{ch}")).describe()
    unbind = await env.fake.slash(ch, "bridge", "unbind", user_id=ADMIN_ID)
    assert unbind.text == notices.unbound(True)
    assert await env.rt.store.get_binding(f"dc:{ch}") is None


# --- start-up ----------------------------------------------------------------------------------


async def test_refused_message_content_intent_logs_one_line_and_keeps_running(
    aurora: AuroraFake, redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with (
        DiscordFake(message_content_allowed=False) as fake,
        open_discord(fake, aurora, redis_url, prefix) as env,
    ):
        assert env.frontend.connected
        assert not env.frontend.has_content_intent
        assert [r.getMessage() for r in caplog.records].count(INTENT_HELP) == 1
        ch = fake.default_channel_id
        await fake.user_says(ch, "unseen", user_id=MEMBER_ID)  # content withheld: ignored
        env.up.reply_with("still here")
        await fake.user_says(ch, "seen", user_id=MEMBER_ID, mention_bot=True)
        await env.shown(ch, ["still here"])
        assert env.up.messages_sent == ["user2: seen"]
    assert fake.token not in caplog.text


async def test_bridge_run_with_discord_enabled_answers_a_mention(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with DiscordFake(rate_window=1.0) as fake:
        settings = luna_settings(
            aurora, redis_url, prefix, discord=discord_section(fake, fast=False)
        )
        async with bridge_run(settings, fake.gateway_url):
            await fake.wait_ready(within=20)
            aurora.reply_with("from bridge run")
            ch = fake.default_channel_id
            await fake.user_says(ch, "are you there?", user_id=MEMBER_ID, mention_bot=True)
            await fake.wait_for(lambda: fake.channel_texts(ch) == ["from bridge run"], within=20)
        assert aurora.messages_sent == ["user2: are you there?"]


async def test_a_refused_token_is_one_clear_startup_error(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with DiscordFake() as fake:
        wrong = "wrong-token-abcdef123456"
        section = discord_section(fake, fast=False, token=wrong)
        settings = luna_settings(aurora, redis_url, prefix, discord=section)
        async with open_runtime(settings) as rt:
            saved = Route.BASE
            frontend = DiscordFrontEnd(settings.discord, rt.bridge, gateway_url=fake.gateway_url)
            with pytest.raises(StartupError) as err:
                await frontend.start()
            assert "discord.token" in str(err.value) and wrong not in str(err.value)
            assert not frontend.connected
            assert saved == Route.BASE  # endpoints put back after a failed start


async def test_refused_requests_count_toward_the_invalid_request_guard(
    discord_chat: DiscordChat,
) -> None:
    chat = discord_chat

    def guard() -> float:
        return chat.rt.metrics.registry.get_sample_value("bridge_discord_invalid_requests") or 0

    assert guard() == 0
    chat.fake.forbidden.add(chat.channel)  # the bot may not write here: Discord answers 403
    await chat.say("are you there?", mention_bot=True)
    await chat.fake.wait_for(lambda: guard() >= 1)
    chat.fake.forbidden.discard(chat.channel)
    assert b"bridge_discord_invalid_requests" in chat.rt.metrics.exposition()
