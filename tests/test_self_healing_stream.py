"""Surrogates in a reply stream, through the whole bridge: the Aurora and Cody fakes cut a reply
in UTF-16 code units (as a server slicing JavaScript strings does), so an emoji arrives as two
JSON-escaped halves in two SSE events, or a half arrives alone. The user sees the emoji whole,
or U+FFFD for the lone half, and the rest of the reply."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from core.backends.cody import CodyBackend
from core.text import SurrogateJoiner, well_formed
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    collect,
    make_settings,
    telegram_bridge,
    telegram_section,
    upstream_backend,
)

ALICE = 501
Upstream = AuroraFake | CodyFake


@pytest.fixture
async def chat(
    upstream: Upstream, tg: FakeTelegram, redis_url: str, prefix: str
) -> AsyncIterator[FakeTelegram]:
    """The bridge with its Telegram front-end on one backend; Alice's private chat is open."""
    options: dict[str, Any] = {"read_timeout": 2.0, "connect_timeout": 2.0}
    backend = upstream_backend(upstream, **options)
    settings = make_settings(
        backends={"up": backend},
        redis_url=redis_url,
        prefix=prefix,
        telegram=telegram_section(tg),
    )
    async with telegram_bridge(settings):
        tg.chat(ALICE)
        yield tg


async def answer(tg: FakeTelegram, up: Upstream, text: str) -> str:
    """Alice says ``text``; the bot's whole answer once the stream is over."""
    tg.user_says(ALICE, text, user_id=ALICE)
    await tg.wait_for(lambda: bool(tg.chat_texts(ALICE)) and not up.open_streams, within=30)
    await up.wait_streams_closed()
    return tg.chat_texts(ALICE)[-1]


async def test_an_emoji_split_over_two_events_is_shown_whole(
    chat: FakeTelegram, upstream: Upstream
) -> None:
    reply = "Smile 😀 then 👍🏽 and the rest of the reply."
    # Seven code units a piece: "Smile \ud83d" | "\ude00 then" | ... ; the halves arrive apart.
    upstream.reply_with(reply, chunk_size=7, utf16=True)
    assert (await answer(chat, upstream, "hi")) == reply
    assert upstream.messages_sent == ["hi"]


async def test_a_lone_surrogate_is_the_replacement_character(
    chat: FakeTelegram, upstream: Upstream
) -> None:
    upstream.reply_with("A lone \ud800 half, then \udc00 and the rest.", chunk_size=5, utf16=True)
    shown = await answer(chat, upstream, "hi")
    assert shown == "A lone \ufffd half, then \ufffd and the rest."


async def test_a_high_half_at_the_end_of_the_stream_is_the_replacement_character(
    chat: FakeTelegram, upstream: Upstream
) -> None:
    upstream.reply_with("Cut after this.\ud83d", chunk_size=4, utf16=True)
    assert (await answer(chat, upstream, "hi")) == "Cut after this.\ufffd"


def test_well_formed_joins_pairs_and_replaces_lone_halves() -> None:
    assert well_formed("plain") == "plain"
    assert well_formed("a\ud83d\ude00b") == "a😀b"
    assert well_formed("\udc00x\ud800") == "\ufffdx\ufffd"


def test_the_joiner_holds_a_high_half_for_the_next_piece() -> None:
    joiner = SurrogateJoiner()
    assert joiner.feed("ab\ud83d") == "ab"
    assert joiner.feed("\ude00c") == "😀c"
    assert joiner.feed("\ud83d") == ""
    assert joiner.feed("d") == "\ufffdd"
    assert joiner.feed("\ud83d") == ""
    assert joiner.end() == "\ufffd"
    assert joiner.end() == ""


async def test_a_lone_surrogate_in_a_json_answer_is_the_replacement_character(
    cody: CodyFake, make_cody: Callable[..., CodyBackend]
) -> None:
    backend = make_cody(streaming=False)
    remote = await backend.create_conversation("t")
    cody.reply_with("Blocking \ud83d answer.")
    assert await collect(backend, remote, "hi") == ["Blocking \ufffd answer."]
    # The history look-up reads the same JSON.
    assert await backend.find_reply(remote, "hi") == "Blocking \ufffd answer."
