"""Groups on Discord, end to end: speaker names, conversation scope, access control by users,
roles, channels and categories, runtime blocks with the user picker, and /status for everyone.

The real discord.py talks to the fake Discord; state is in Redis; the fake Aurora echoes.
"""

from __future__ import annotations

import pytest

from core import notices
from core.model import ReplyMode, Scope
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake, UserOption
from tests.harness import ADMIN_ID, MANAGER_ID, MEMBER_ID
from tests.harness import DiscordChat as DiscordEnv
from tests.harness import open_discord as started

OTHER_ID = 900_004
STRANGER_ID = 900_005


@pytest.fixture
def fake(dc: DiscordFake) -> DiscordFake:
    return dc


@pytest.fixture
def env(discord_chat: DiscordEnv) -> DiscordEnv:
    return discord_chat


async def test_two_members_are_named_upstream_and_a_dm_is_bare(env: DiscordEnv) -> None:
    ch = env.fake.default_channel_id
    first = await env.fake.user_says(
        ch, "shall we meet on Friday?", user_id=MEMBER_ID, mention_bot=True,
        nick="Ally", global_name="Alice G",
    )  # fmt: skip
    await env.shown(ch, ["echo: Ally: shall we meet on Friday?"])
    await env.fake.user_says(
        ch, "what do you think?", user_id=OTHER_ID, mention_bot=True, reply_to=first,
        global_name="Bobby",
    )  # fmt: skip
    await env.fake.user_says(ch, "me too", user_id=STRANGER_ID, mention_bot=True, global_name="")
    dm = env.fake.snowflake()
    await env.fake.user_says(dm, "just us", user_id=MEMBER_ID, guild=False, global_name="Alice G")
    await env.shown(dm, ["echo: just us"])
    await env.fake.wait_for(lambda: len(env.fake.channel_texts(ch)) == 3)
    await env.settle()

    assert env.up.messages_sent[0] == "Ally: shall we meet on Friday?"  # the server nickname
    assert sorted(env.up.messages_sent[1:]) == [
        # Replying to a member's message carries it, named; the global name stands in for a nick.
        "> Ally: shall we meet on Friday?\nBobby: what do you think?",
        "just us",  # a DM goes up as written
        "user5: me too",  # neither nick nor global name: the username
    ]


async def test_user_scope_and_only_admins_change_it(env: DiscordEnv) -> None:
    ch = env.fake.default_channel_id
    refused = await env.fake.slash(ch, "bridge", "scope", {"scope": "user"}, user_id=MEMBER_ID)
    assert refused.text == notices.not_admin()
    assert await env.rt.store.get_scope(f"dc:{ch}") is None
    done = await env.fake.slash(ch, "bridge", "scope", {"scope": "user"}, user_id=MANAGER_ID,
                                manage_guild=True)  # fmt: skip
    assert done.text == notices.scope_set(Scope.USER)

    await env.fake.user_says(ch, "I am one", user_id=MEMBER_ID, mention_bot=True)
    await env.fake.user_says(ch, "I am two", user_id=OTHER_ID, mention_bot=True)
    await env.fake.wait_for(lambda: len(env.fake.channel_texts(ch)) == 2)
    await env.settle()
    one = await env.rt.store.get_binding(f"dc:{ch}@dc:{MEMBER_ID}")
    two = await env.rt.store.get_binding(f"dc:{ch}@dc:{OTHER_ID}")
    assert one is not None and two is not None and one.remote != two.remote
    assert len(env.up.chats) == 2

    # Everyone's commands are top-level and answer any member, privately.
    status = await env.fake.slash(ch, "status", user_id=OTHER_ID)
    assert status.ephemeral and "Scope: user." in (status.text or "")
    assert two.remote["chat_id"] in (status.text or "")
    reset = await env.fake.slash(ch, "reset", user_id=OTHER_ID)
    renewed = await env.rt.store.get_binding(f"dc:{ch}@dc:{OTHER_ID}")
    assert renewed is not None and renewed.remote != two.remote
    assert reset.text == notices.reset_done(renewed, own=True)
    assert await env.rt.store.get_binding(f"dc:{ch}@dc:{MEMBER_ID}") == one


async def test_a_thread_follows_its_channels_scope(env: DiscordEnv) -> None:
    ch = env.fake.default_channel_id
    await env.fake.slash(ch, "bridge", "scope", {"scope": "user"}, user_id=ADMIN_ID)
    thread = env.fake.snowflake()
    await env.fake.user_says(thread, "in thread", user_id=MEMBER_ID, mention_bot=True, thread=True)
    await env.shown(thread, ["echo: user2: in thread"])
    assert await env.rt.store.get_binding(f"dc:{thread}@dc:{MEMBER_ID}") is not None
    assert await env.rt.store.get_binding(f"dc:{thread}") is None


async def test_a_thread_follows_its_channels_mode_unless_it_has_its_own(env: DiscordEnv) -> None:
    ch = env.fake.default_channel_id
    await env.fake.slash(ch, "bridge", "mode", {"mode": "all"}, user_id=ADMIN_ID)
    thread = env.fake.snowflake()
    await env.fake.user_says(thread, "no mention", user_id=MEMBER_ID, thread=True)
    await env.shown(thread, ["echo: user2: no mention"])
    status = await env.fake.slash(thread, "status", user_id=MEMBER_ID)
    assert "Mode: all." in (status.text or "").splitlines()
    await env.fake.slash(thread, "bridge", "mode", {"mode": "off"}, user_id=ADMIN_ID)
    await env.fake.user_says(thread, "anyone?", user_id=MEMBER_ID, mention_bot=True)
    status = await env.fake.slash(thread, "status", user_id=MEMBER_ID)
    assert "Mode: off." in (status.text or "").splitlines()
    await env.fake.user_says(ch, "in the channel", user_id=MEMBER_ID)  # still mode all
    await env.shown(ch, ["echo: user2: in the channel"])
    assert env.up.messages_sent == ["user2: no mention", "user2: in the channel"]


async def test_the_administrator_permission_makes_an_admin_of_messages_and_commands(
    fake: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    boss = fake.admin_role_id  # Administrator, without Manage Server
    async with started(
        fake, aurora, redis_url, prefix, allowed_roles=[fake.pingable_role_id]
    ) as env:
        ch = fake.default_channel_id
        await fake.user_says(ch, "not a friend", user_id=MEMBER_ID, mention_bot=True)
        await fake.user_says(ch, "the boss", user_id=OTHER_ID, mention_bot=True, roles=(boss,))
        await env.shown(ch, ["echo: user4: the boss"])
        rec = await fake.slash(
            ch, "bridge", "mode", {"mode": "all"}, user_id=OTHER_ID, administrator=True
        )
        assert rec.text == notices.mode_set(ReplyMode.ALL)
        refused = await fake.slash(ch, "bridge", "mode", {"mode": "off"}, user_id=MEMBER_ID)
        assert refused.text == notices.not_admin()

    assert aurora.messages_sent == ["user4: the boss"]


async def test_a_blocked_member_never_reaches_upstream(env: DiscordEnv) -> None:
    ch = env.fake.default_channel_id
    rec = await env.fake.slash(ch, "bridge", "block", {"user": UserOption(MEMBER_ID)},
                               user_id=ADMIN_ID)  # fmt: skip
    assert rec.ephemeral and rec.text == notices.blocked(str(MEMBER_ID), True)
    await env.fake.user_says(ch, "hello?", user_id=MEMBER_ID, mention_bot=True)
    await env.fake.user_says(ch, "hi", user_id=OTHER_ID, mention_bot=True)
    await env.shown(ch, ["echo: user4: hi"])  # the blocked member got no answer at all
    status = await env.fake.slash(ch, "status", user_id=MEMBER_ID)
    assert status.ephemeral and status.text == notices.access_denied()
    rec = await env.fake.slash(ch, "bridge", "unblock", {"user": UserOption(MEMBER_ID)},
                               user_id=MEMBER_ID)  # fmt: skip
    assert rec.text == notices.not_admin()
    rec = await env.fake.slash(ch, "bridge", "unblock", {"user": UserOption(MEMBER_ID)},
                               user_id=ADMIN_ID)  # fmt: skip
    assert rec.text == notices.unblocked(str(MEMBER_ID), True)
    await env.fake.user_says(ch, "back", user_id=MEMBER_ID, mention_bot=True)
    await env.shown(ch, ["echo: user4: hi", "echo: user2: back"])
    assert env.up.messages_sent == ["user4: hi", "user2: back"]


async def test_allowed_roles_and_a_category_of_channels(
    fake: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    category, inside, outside = fake.snowflake(), fake.snowflake(), fake.snowflake()
    friends = fake.pingable_role_id
    access = {"allowed_roles": [friends], "allowed_channels": [category]}
    async with started(fake, aurora, redis_url, prefix, **access) as env:
        await fake.add_category(category, inside)
        await fake.ensure_channel(outside)
        await fake.user_says(inside, "not a friend", user_id=OTHER_ID, mention_bot=True)
        await fake.user_says(outside, "wrong place", user_id=MEMBER_ID, mention_bot=True,
                             roles=(friends,))  # fmt: skip
        await fake.user_says(inside, "friend here", user_id=MEMBER_ID, mention_bot=True,
                             roles=(friends,))  # fmt: skip
        await env.shown(inside, ["echo: user2: friend here"])
        # A thread in a channel of the category is covered too.
        thread = fake.snowflake()
        await fake.user_says(thread, "in a thread", user_id=MEMBER_ID, mention_bot=True,
                             thread=True, parent=inside, roles=(friends,))  # fmt: skip
        await env.shown(thread, ["echo: user2: in a thread"])
        # A stranger's DM: one short answer, not a second within the hour.
        dm = fake.snowflake()
        await fake.user_says(dm, "hi", user_id=STRANGER_ID, guild=False)
        await env.shown(dm, [notices.access_denied()])
        await fake.user_says(dm, "hi?", user_id=STRANGER_ID, guild=False)
        # The configured admin is always answered, even without the role.
        await fake.user_says(outside, "admin", user_id=ADMIN_ID, mention_bot=True)
        await env.shown(outside, ["echo: user1: admin"])
        await env.shown(dm, [notices.access_denied()])

    assert fake.channel_texts(inside) == ["echo: user2: friend here"]
    assert aurora.messages_sent == ["user2: friend here", "user2: in a thread", "user1: admin"]
