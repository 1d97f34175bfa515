"""Groups on Telegram, end to end: speaker names, conversation scope, access control, notices in
the operator's words, the scoped command menus and a group's upgrade to a supergroup.

The real python-telegram-bot polls the fake Bot API; state is in Redis; replies come from the
fake Aurora (which echoes what it was sent unless told otherwise).
"""

from __future__ import annotations

import asyncio
from typing import Any

from core import notices
from core.model import Scope
from core.notices import Texts
from core.translations import LANGUAGES
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import ADMIN, ALICE, BOB, CAROL, GROUP
from tests.harness import telegram_runtime as bridge

DAVE = 504  # a stranger
ECHO = "echo: "


def group_says(tg: FakeTelegram, text: str, user: int, **extra: Any) -> dict[str, Any]:
    """A message in the supergroup; returns the message."""
    return tg.user_says(GROUP, text, user_id=user, chat_type="supergroup", **extra)["message"]


async def answered(tg: FakeTelegram, chat: int, count: int) -> list[str]:
    """Until the bot has written ``count`` messages in ``chat``; their texts."""
    await tg.wait_for(lambda: len(tg.chat_texts(chat)) >= count)
    return tg.chat_texts(chat)


async def test_two_users_in_a_group_are_named_upstream_and_a_private_chat_is_bare(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with bridge(tg, aurora, redis_url, prefix):
        alice = group_says(
            tg, "@bridge_bot shall we meet on Friday?", ALICE, first_name="Alice", last_name="Lee"
        )
        await answered(tg, GROUP, 1)
        group_says(
            tg,
            "@bridge_bot what do you think?",
            BOB,
            first_name="Bob",
            reply_to=alice["message_id"],
            quote="meet on Friday",
        )
        await answered(tg, GROUP, 2)
        long_one = group_says(tg, "x" * 500, ALICE, first_name="Alice", last_name="Lee")
        group_says(
            tg, "@bridge_bot and this?", BOB, first_name="Bob", reply_to=long_one["message_id"]
        )
        await answered(tg, GROUP, 3)
        tg.user_says(ALICE, "just me here", user_id=ALICE, first_name="Alice", last_name="Lee")
        await answered(tg, ALICE, 1)

    assert aurora.messages_sent == [
        "Alice Lee: shall we meet on Friday?",
        "> Alice Lee: meet on Friday\nBob: what do you think?",
        "> Alice Lee: " + "x" * 299 + "…\nBob: and this?",
        "just me here",
    ]


async def test_names_follow_the_configured_format_or_stay_off(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    relay = {"speaker_format": "[{name}] {text}", "speaker_names": "always"}
    async with bridge(tg, aurora, redis_url, prefix, sections={"relay": relay}):
        group_says(tg, "@bridge_bot hi", BOB, first_name="Bob")
        tg.user_says(ALICE, "hello", user_id=ALICE, first_name="Alice")
        await answered(tg, GROUP, 1)
        await answered(tg, ALICE, 1)
    assert sorted(aurora.messages_sent) == ["[Alice] hello", "[Bob] hi"]

    aurora.messages_sent.clear()
    off = {"speaker_names": "never", "quote_replies": False}
    async with bridge(tg, aurora, redis_url, prefix, sections={"relay": off}):
        first = group_says(tg, "anyone?", ALICE, first_name="Alice")
        group_says(tg, "@bridge_bot hi", BOB, first_name="Bob", reply_to=first["message_id"])
        await answered(tg, GROUP, 2)
    assert aurora.messages_sent == ["hi"]


async def test_user_scope_gives_each_person_a_conversation_and_only_admins_change_it(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    tg.set_admins(GROUP, [CAROL])
    async with bridge(tg, aurora, redis_url, prefix) as rt:
        group_says(tg, "/scope user", BOB)
        assert (await answered(tg, GROUP, 1))[-1] == notices.not_admin()
        group_says(tg, "/scope user", CAROL)
        assert (await answered(tg, GROUP, 2))[-1] == notices.scope_set(Scope.USER)
        assert await rt.store.get_scope(f"tg:{GROUP}") is Scope.USER

        group_says(tg, "@bridge_bot I am Alice", ALICE)
        group_says(tg, "@bridge_bot I am Bob", BOB)
        await answered(tg, GROUP, 4)
        alice = await rt.store.get_binding(f"tg:{GROUP}@tg:{ALICE}")
        bob = await rt.store.get_binding(f"tg:{GROUP}@tg:{BOB}")
        assert alice is not None and bob is not None and alice.remote != bob.remote
        assert len(aurora.chats) == 2

        group_says(tg, "/status", BOB)
        status = (await answered(tg, GROUP, 5))[-1]
        assert "Scope: user." in status and bob.remote["chat_id"] in status
        # In user scope anyone may reset, and only their own conversation.
        group_says(tg, "/reset", BOB)
        reset = (await answered(tg, GROUP, 6))[-1]
        bob_after = await rt.store.get_binding(f"tg:{GROUP}@tg:{BOB}")
        assert bob_after is not None and bob_after.remote != bob.remote
        assert reset == notices.reset_done(bob_after, own=True)
        assert await rt.store.get_binding(f"tg:{GROUP}@tg:{ALICE}") == alice


async def test_a_topic_follows_its_groups_mode_unless_it_has_its_own(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with bridge(tg, aurora, redis_url, prefix):
        group_says(tg, "/mode all", ADMIN)
        await answered(tg, GROUP, 1)
        group_says(tg, "no mention", BOB, thread_id=7)
        await tg.wait_for(lambda: tg.chat_texts(GROUP, 7) == [f"{ECHO}User502: no mention"])
        group_says(tg, "/status", BOB, thread_id=7)
        await tg.wait_for(lambda: len(tg.chat_texts(GROUP, 7)) == 2)
        assert "Mode: all." in tg.chat_texts(GROUP, 7)[1].splitlines()
        group_says(tg, "/mode off", ADMIN, thread_id=7)
        await tg.wait_for(lambda: len(tg.chat_texts(GROUP, 7)) == 3)
        group_says(tg, "@bridge_bot anyone?", BOB, thread_id=7)
        group_says(tg, "/status", BOB, thread_id=7)
        await tg.wait_for(lambda: len(tg.chat_texts(GROUP, 7)) == 4)
        assert "Mode: off." in tg.chat_texts(GROUP, 7)[3].splitlines()
        group_says(tg, "in the group", BOB)  # the group itself is still in mode all
        await tg.wait_for(lambda: tg.chat_texts(GROUP)[-1] == f"{ECHO}User502: in the group")

    assert aurora.messages_sent == ["User502: no mention", "User502: in the group"]


async def test_blocked_users_never_reach_upstream_and_strangers_hear_it_once(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    tg.set_admins(GROUP, [CAROL])
    access = {"allowed_users": [ALICE, BOB, CAROL], "blocked_users": [CAROL]}
    async with bridge(tg, aurora, redis_url, prefix, **access):
        # A stranger in a private chat: one short answer, then silence for the hour.
        tg.user_says(DAVE, "hello?", user_id=DAVE)
        assert await answered(tg, DAVE, 1) == [notices.access_denied()]
        tg.user_says(DAVE, "hello??", user_id=DAVE)
        tg.user_says(ALICE, "hi", user_id=ALICE)
        await answered(tg, ALICE, 1)
        # A configured admin is never refused, listed or not.
        tg.user_says(ADMIN, "admin here", user_id=ADMIN)
        await answered(tg, ADMIN, 1)
        # Carol is blocked in the config but is the group's administrator: admins always pass.
        group_says(tg, "@bridge_bot carol here", CAROL)
        await answered(tg, GROUP, 1)

        # Runtime block by replying to Bob's message; a blocked user is silent in the group.
        bobs = group_says(tg, "@bridge_bot first", BOB)
        await answered(tg, GROUP, 2)
        group_says(tg, "/block", CAROL, reply_to=bobs["message_id"])
        assert (await answered(tg, GROUP, 3))[-1] == notices.blocked(str(BOB), True)
        group_says(tg, "@bridge_bot still me", BOB)
        group_says(tg, f"/unblock {BOB}", BOB)  # not an admin
        assert (await answered(tg, GROUP, 4))[-1] == notices.not_admin()
        group_says(tg, f"/unblock {BOB}", CAROL)
        assert (await answered(tg, GROUP, 5))[-1] == notices.unblocked(str(BOB), True)
        group_says(tg, "@bridge_bot back again", BOB)
        await tg.wait_for(lambda: tg.chat_texts(GROUP)[-1] == ECHO + "User502: back again")

    assert tg.chat_texts(DAVE) == [notices.access_denied()]
    assert aurora.messages_sent == [
        "hi",
        "admin here",
        "User503: carol here",
        "User502: first",
        "User502: back again",
    ]


async def test_the_block_list_of_a_group_is_its_own(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    other = -100777
    tg.set_admins(GROUP, [CAROL])
    async with bridge(tg, aurora, redis_url, prefix):
        group_says(tg, f"/block {BOB}", CAROL)
        await answered(tg, GROUP, 1)
        group_says(tg, "@bridge_bot here?", BOB)
        group_says(tg, "/status", BOB)  # a blocked user's commands get silence in a group too
        tg.user_says(other, "@bridge_bot and here?", user_id=BOB, chat_type="supergroup")
        await answered(tg, other, 1)
        group_says(tg, "/status", ALICE)
        status = (await answered(tg, GROUP, 2))[-1]
        # A configured admin's block in their private chat with the bot covers every chat.
        tg.user_says(ADMIN, f"/block {BOB}", user_id=ADMIN)
        assert await answered(tg, ADMIN, 1) == [notices.blocked(str(BOB), True)]
        tg.user_says(other, "@bridge_bot now?", user_id=BOB, chat_type="supergroup")
        tg.user_says(BOB, "or here?", user_id=BOB)
        assert await answered(tg, BOB, 1) == [notices.access_denied()]
        tg.user_says(BOB, "/reset", user_id=BOB)  # in private, a command gets the short answer
        assert await answered(tg, BOB, 2) == [notices.access_denied()] * 2

    assert aurora.messages_sent == ["User502: and here?"]
    assert tg.chat_texts(GROUP) == [notices.blocked(str(BOB), True), status]
    assert status.startswith("📡 ")
    assert len(aurora.chats) == 1  # the refused /reset created no conversation


async def test_an_override_and_a_language_are_what_users_read(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    sections = {
        "notices": {"language": "de", "texts": {"quota": "Out of messages until {wait}."}},
    }
    async with bridge(tg, aurora, redis_url, prefix, sections=sections):
        aurora.fail_next(429, kind="quota")
        tg.user_says(ALICE, "hello?", user_id=ALICE)
        tg.user_says(BOB, "/frobnicate", user_id=BOB)
        await answered(tg, ALICE, 1)
        await answered(tg, BOB, 1)

    [quota] = tg.chat_texts(ALICE)
    assert quota.startswith("Out of messages until ") and quota.endswith("Minuten.")
    assert tg.chat_texts(BOB) == ["/frobnicate kenne ich nicht. Probier es mit /help."]


async def test_admin_commands_appear_only_in_the_administrators_menu(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with bridge(tg, aurora, redis_url, prefix):
        pass
    everyone = {c["command"] for c in tg.scoped_commands["default"]}
    admins = {c["command"] for c in tg.scoped_commands["all_chat_administrators"]}
    assert everyone == {"help", "status", "reset", "usage"}
    assert admins == everyone | {"bind", "unbind", "mode", "scope", "block", "unblock", "grant"}
    described = {c["command"]: c["description"] for c in tg.scoped_commands["default"]}
    assert described["status"] == "What this chat is connected to"


async def test_each_language_has_its_menus_with_its_descriptions(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    sections = {"notices": {"language": "de", "texts": {"cmd_status": "Was hier verbunden ist"}}}
    async with bridge(tg, aurora, redis_url, prefix, sections=sections):
        pass
    scopes = ("default", "all_chat_administrators")
    assert set(tg.menus) == {(scope, code) for scope in scopes for code in ("", *LANGUAGES)}
    for scope in scopes:
        for code in LANGUAGES:
            menu = tg.menus[(scope, code)]
            listed = {c["command"] for c in menu}
            assert listed == {c["command"] for c in tg.scoped_commands[scope]}
            described = {c["command"]: c["description"] for c in menu}
            wanted = Texts(code).render(notices.Notice("cmd_reset"))
            assert described["reset"] == wanted, (scope, code)
        # The configured language's users, and those of any other, read the operator's text.
        for code in ("", "de"):
            described = {c["command"]: c["description"] for c in tg.menus[(scope, code)]}
            assert described["status"] == "Was hier verbunden ist"
            assert described["reset"] == Texts("de").render(notices.Notice("cmd_reset"))
    french = {c["command"]: c["description"] for c in tg.menus[("all_chat_administrators", "fr")]}
    assert french["status"] == Texts("fr").render(notices.Notice("cmd_status"))
    assert french["bind"] == Texts("fr").render(notices.Notice("cmd_bind"))
    assert len({french["status"], Texts("en").render(notices.Notice("cmd_status"))}) == 2


async def test_a_group_upgraded_to_a_supergroup_keeps_its_settings(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    old, new = -4001, -1004001
    tg.set_admins(old, [CAROL], chat_type="group")
    async with bridge(tg, aurora, redis_url, prefix) as rt:

        async def say(text: str, user: int) -> str:
            count = len(tg.chat_texts(old)) + 1
            tg.user_says(old, text, user_id=user, chat_type="group")
            return (await answered(tg, old, count))[-1]

        await say("/bind luna", CAROL)
        await say("/mode all", CAROL)
        await say(f"/block {BOB}", CAROL)
        await say("/scope user", CAROL)
        tg.user_says(old, "hello from the old group", user_id=ALICE, chat_type="group")
        hello = ECHO + "User501: hello from the old group"
        await tg.wait_for(lambda: tg.chat_texts(old)[-1] == hello)
        before = await rt.store.get_binding(f"tg:{old}")
        mine = await rt.store.get_binding(f"tg:{old}@tg:{ALICE}")

        tg.migrate(old, new)
        await _until(lambda: rt.store.get_binding(f"tg:{new}"), before)
        tg.user_says(new, "no mention needed", user_id=ALICE, chat_type="supergroup")
        tg.user_says(new, "blocked still", user_id=BOB, chat_type="supergroup")
        tg.user_says(new, "and me", user_id=CAROL, chat_type="supergroup")
        expected = [ECHO + "User501: no mention needed", ECHO + "User503: and me"]
        await tg.wait_for(lambda: sorted(tg.chat_texts(new)) == expected)
        assert await rt.store.get_scope(f"tg:{new}") is Scope.USER
        assert await rt.store.get_binding(f"tg:{new}@tg:{ALICE}") == mine
        assert await rt.store.get_binding(f"tg:{old}") is None

    assert sorted(tg.chat_texts(new)) == [
        ECHO + "User501: no mention needed",
        ECHO + "User503: and me",
    ]
    assert "User502: blocked still" not in aurora.messages_sent
    # Alice's own conversation went along: her new message continued it.
    assert mine is not None
    said = [
        m["content"] for m in aurora.history[int(mine.remote["chat_id"])] if m["role"] == "user"
    ]
    assert said == ["User501: hello from the old group", "User501: no mention needed"]


async def _until(read: Any, expected: object, within: float = 20.0) -> None:
    """Until the awaitable ``read()`` returns ``expected`` (test synchronisation only)."""
    async with asyncio.timeout(within):
        while await read() != expected:  # noqa: ASYNC110 (the store has no event to wait on)
            await asyncio.sleep(0.05)
