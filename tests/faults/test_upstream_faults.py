"""Upstream faults through the whole bridge: fake Telegram <-> python-telegram-bot front-end <->
relay (Redis) <-> the real backends <-> the loopback Aurora and Cody fakes.

Each fault asserts four things: nothing is lost (the user sees the reply, or its partial text and
a notice, or a notice saying why there is none), no prompt reached the upstream twice (the fake's
request log), no traceback was logged, and the next message is served.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from core import notices
from core.logs import Redactor
from core.store.base import Store
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    AURORA_TOKEN,
    CODY_KEY,
    make_settings,
    production_logs,
    telegram_bridge,
    telegram_section,
    upstream_backend,
)

ALICE = 501
TEXT = "The upstream's reply, long enough to arrive in many small chunks over the stream."
PARTIAL = TEXT[:15]  # three chunks of five, then the fault
COOLDOWN = 600.0  # long enough that no test depends on timing; tests end it through the store
READ_TIMEOUT = 1.0
NEXT = "and the next message?"

Upstream = AuroraFake | CodyFake


@dataclass
class Rig:
    """The running fakes, and what the test reads afterwards."""

    tg: FakeTelegram
    up: Upstream
    kind: str
    store: Store
    errors: list[logging.LogRecord] = field(default_factory=list)

    def prompts_posted(self) -> list[str]:
        """Every prompt POSTed to the upstream, accepted or not, in order."""
        if isinstance(self.up, AuroraFake):
            return [
                r.json.get("message")
                for r in self.up.requests
                if r.method == "POST" and r.path.endswith("/message") and isinstance(r.json, dict)
            ]
        return [
            r.json.get("content")
            for r in self.up.requests
            if r.method == "POST" and "/messages" in r.path and isinstance(r.json, dict)
        ]

    async def say(self, text: str, *, then: Callable[[str], bool]) -> str:
        """Alice says ``text``; wait for the bot's newest message to satisfy ``then``."""
        before = len(self.tg.chat_texts(ALICE))
        self.tg.user_says(ALICE, text, user_id=ALICE)

        def answered() -> bool:
            texts = self.tg.chat_texts(ALICE)
            return len(texts) > before and then(texts[-1]) and not self.up.open_streams

        await self.tg.wait_for(answered, within=30)
        return self.tg.chat_texts(ALICE)[-1]


class _Tracebacks(logging.Handler):
    """Keeps every record that carries a traceback, except the fakes' own server's."""

    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        if (record.exc_info or record.stack_info) and not record.name.startswith("aiohttp"):
            self._into.append(record)


@pytest.fixture
async def rig(
    upstream: Upstream, tg: FakeTelegram, redis_url: str, prefix: str
) -> AsyncIterator[Rig]:
    """The bridge with its Telegram front-end and one backend, logging as in production."""
    kind = "aurora" if isinstance(upstream, AuroraFake) else "cody"
    options: dict[str, Any] = {
        "read_timeout": READ_TIMEOUT,
        "connect_timeout": 2.0,
        "quota_cooldown": COOLDOWN,
        "max_retry_after": 5.0,
    }
    backend = upstream_backend(upstream, **options)
    settings = make_settings(
        backends={"up": backend},
        redis_url=redis_url,
        prefix=prefix,
        telegram=telegram_section(tg),
    )
    errors: list[logging.LogRecord] = []
    catcher = _Tracebacks(errors)
    with production_logs(Redactor([tg.token, AURORA_TOKEN, CODY_KEY])):
        root = logging.getLogger()
        root.addHandler(catcher)
        try:
            async with telegram_bridge(settings) as (rt, _):
                yield Rig(tg, upstream, kind, rt.store, errors)
        finally:
            root.removeHandler(catcher)


async def served_next(rig: Rig) -> None:
    """The message after the fault gets its whole reply."""
    await rig.say(NEXT, then=lambda text: text == f"echo: {NEXT}")


def assert_clean(rig: Rig, *, posted: list[str], accepted: list[str]) -> None:
    """The request log and the logs after the fault and the next message."""
    assert rig.prompts_posted() == posted
    assert rig.up.messages_sent == accepted
    assert not rig.errors, [r.getMessage() for r in rig.errors]


def stored_reply(rig: Rig) -> str | None:
    """What the upstream stored as the reply to "first": what a history look-up would find."""
    (messages,) = rig.up.stored_history().values()
    for turn, following in itertools.pairwise(messages):
        asked = turn.get("role") == "user" or turn.get("machine") is False
        if asked and turn["content"] == "first":
            replied = following.get("role") == "assistant" or (
                following.get("machine") and not following.get("failed_responding")
            )
            return following["content"] if replied else None
    return None


def partial_then(notice: str) -> str:
    return f"{PARTIAL.rstrip()}\n\n{notice}"


# --- refusals before the message is taken: a notice, nothing stored upstream -------------------


async def test_401_is_the_setup_notice(rig: Rig) -> None:
    rig.up.fail_next(401)
    assert await rig.say("first", then=bool) == notices.unauthorized()
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=[NEXT])


async def test_quota_pauses_the_backend_then_serves_again(rig: Rig) -> None:
    if isinstance(rig.up, AuroraFake):
        rig.up.fail_next(429, kind="quota")
    else:
        rig.up.fail_next(402)
    assert await rig.say("first", then=bool) == notices.quota(COOLDOWN)
    # During the cooldown nothing goes upstream; the user is told why.
    assert await rig.say("during the pause", then=bool) == notices.quota(COOLDOWN)
    await rig.store.set_cooldown("up", 0)  # the pause ends
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=[NEXT])


@pytest.mark.parametrize("upstream", ["aurora"], indirect=True)
async def test_aurora_alternative_quota_body_is_a_quota_error(rig: Rig) -> None:
    body = {
        "statusCode": 429,
        "error": "Too Many Requests",
        "message": "You have exceeded your Message/TTS quota.",
    }
    rig.up.fail_next(429, body=body, headers={"retry-after": "1"})
    assert await rig.say("first", then=bool) == notices.quota(COOLDOWN)
    assert await rig.say("during the pause", then=bool) == notices.quota(COOLDOWN)
    await rig.store.set_cooldown("up", 0)  # the pause ends
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=[NEXT])


async def test_429_short_is_waited_out_and_answered(rig: Rig) -> None:
    rig.up.fail_next(429, retry_after=1)
    assert await rig.say("first", then=bool) == "echo: first"
    await served_next(rig)
    # The throttled POST never reached the handler: the one retry is the only delivery.
    assert_clean(rig, posted=["first", "first", NEXT], accepted=["first", NEXT])


async def test_429_long_is_the_busy_notice(rig: Rig) -> None:
    rig.up.fail_next(429, retry_after=120)
    assert await rig.say("first", then=bool) == notices.throttled(120)
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=[NEXT])


async def test_validation_refusal_is_the_servers_reason(rig: Rig) -> None:
    # Cody validates with a Laravel 422; Aurora's validation answer is its generic 400.
    if isinstance(rig.up, AuroraFake):
        rig.up.fail_next(400)
        reason = "One or more API parameters are malformed. Please check your request and try again"
    else:
        rig.up.fail_next(422)
        reason = "The content field is required."
    assert await rig.say("first", then=bool) == notices.rejected(reason)
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=[NEXT])


# --- failures after the message was taken: the reply may be stored upstream ------------------
# The backend marks these errors maybe_stored; the relay then looks the reply up in the stored
# history (never sending the prompt again): the whole reply when the server stored it
# (server_finishes), else what came plus a notice.


@pytest.mark.parametrize("stored", [False, True], ids=["nothing-stored", "reply-stored"])
async def test_500_after_the_post(rig: Rig, stored: bool) -> None:
    if stored:
        rig.up.reply_with(TEXT)  # what the server generated and stored before failing
    rig.up.fail_next(500, server_finishes=stored)
    expected = TEXT if stored else notices.unavailable()
    assert await rig.say("first", then=bool) == expected
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=["first", NEXT])
    assert stored_reply(rig) == (TEXT if stored else None)


@pytest.mark.parametrize("stored", [False, True], ids=["nothing-stored", "reply-stored"])
async def test_stall_before_the_first_chunk(rig: Rig, stored: bool) -> None:
    rig.up.reply_with(TEXT, fault="stall", fault_after=0, server_finishes=stored)
    expected = TEXT if stored else notices.unavailable()
    assert await rig.say("first", then=bool) == expected
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=["first", NEXT])


async def test_stall_mid_stream_keeps_the_partial_text(rig: Rig) -> None:
    rig.up.reply_with(TEXT, chunk_size=5, fault="stall", fault_after=3)
    assert await rig.say("first", then=bool) == partial_then(notices.interrupted())
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=["first", NEXT])


@pytest.mark.parametrize("stored", [False, True], ids=["nothing-stored", "reply-stored"])
async def test_drop_mid_stream(rig: Rig, stored: bool) -> None:
    rig.up.reply_with(TEXT, chunk_size=5, fault="drop", fault_after=3, server_finishes=stored)
    expected = TEXT if stored else partial_then(notices.interrupted())
    assert await rig.say("first", then=bool) == expected
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=["first", NEXT])
    assert stored_reply(rig) == (TEXT if stored else None)


@pytest.mark.parametrize("stored", [False, True], ids=["nothing-stored", "reply-stored"])
async def test_early_clean_close(rig: Rig, stored: bool) -> None:
    # Aurora has no end marker: the backend compares an unfinished-looking reply with the
    # history. Cody's stream lacks its [END]: a break, looked up like any other.
    rig.up.reply_with(TEXT, chunk_size=5, fault="close", fault_after=3, server_finishes=stored)
    shown = await rig.say("first", then=bool)
    if stored:
        assert shown == TEXT
    elif isinstance(rig.up, AuroraFake):
        assert shown == PARTIAL  # nothing to compare with: what came is taken as the reply
    else:
        assert shown == partial_then(notices.interrupted())
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=["first", NEXT])


async def test_malformed_event_is_skipped(rig: Rig) -> None:
    rig.up.reply_with(TEXT, chunk_size=5, fault="malformed", fault_after=2)
    assert await rig.say("first", then=bool) == TEXT
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=["first", NEXT])


async def test_wrong_content_type_is_the_unavailable_notice(rig: Rig) -> None:
    rig.up.reply_with(TEXT, fault="wrong_content_type")
    assert await rig.say("first", then=bool) == notices.unavailable()
    await served_next(rig)
    assert_clean(rig, posted=["first", NEXT], accepted=["first", NEXT])
