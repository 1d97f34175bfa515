"""Links in the AI's output: only http(s) links become Telegram ``text_link`` entities; a
``javascript:``, ``tg://`` or other link stays plain text."""

from __future__ import annotations

import pytest

from bots.telegram.format import markdown_to_entities
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import ALICE, telegram_runtime

REPLY = (
    "See **this** [page](https://example.org/a), [click](javascript:alert(1)), "
    "[me](tg://user?id=42) and [mail](mailto:a@example.org)."
)
SHOWN = "See this page, click, me and mail."


def links(entities: list[dict[str, object]]) -> list[tuple[str, object]]:
    return [(str(e["type"]), e.get("url")) for e in entities]


async def test_only_http_links_become_links_in_a_telegram_reply(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        tg.chat(ALICE)
        aurora.reply_with(REPLY)
        tg.user_says(ALICE, "links please", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == [SHOWN])
    (message,) = tg.bot_messages(ALICE)
    assert links(message.entities) == [("bold", None), ("text_link", "https://example.org/a")]


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "tg://user?id=42", "mailto:a@b.c", "ftp://x.org", "/relative", "x"],
)
def test_a_link_that_is_not_http_is_no_entity(url: str) -> None:
    formatted = markdown_to_entities(f"**bold** [text]({url}) [web](HTTPS://Example.org)")
    assert formatted is not None
    text, entities = formatted
    assert text == "bold text web"
    assert [(e.type, e.url) for e in entities] == [
        ("bold", None),
        ("text_link", "HTTPS://Example.org"),
    ]


def test_a_reply_whose_only_link_is_refused_is_sent_as_written() -> None:
    assert markdown_to_entities("[x](javascript:alert(1))") is None
