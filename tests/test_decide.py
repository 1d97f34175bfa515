"""The reply rule both front-ends share: one table of facts and what the bridge does with them."""

from __future__ import annotations

from typing import Any

import pytest

from core import notices
from core.decide import IGNORE, RELAY, Action, Decision, Facts, decide, effective_mode
from core.model import ReplyMode

ALL, MENTIONS, OFF = ReplyMode.ALL, ReplyMode.MENTIONS, ReplyMode.OFF
ATTACHMENT = Decision(Action.NOTICE, notices.attachment_only())
EMPTY = Decision(Action.NOTICE, notices.empty())


def dm(**facts: Any) -> Facts:
    """A private chat or DM."""
    return Facts(private=True, **facts)


def group(**facts: Any) -> Facts:
    """A group, server channel, thread or topic."""
    return Facts(private=False, **facts)


NO_TEXT = {"has_text": False}
STICKER = {"has_text": False, "attachments": True}

CASES: list[tuple[str, Facts, Decision]] = [
    # private chats and DMs: always answered, whatever the mode says
    ("a DM", dm(), RELAY),
    ("a DM where the mode is off", dm(mode=OFF), RELAY),
    ("a sticker in a DM", dm(**STICKER), ATTACHMENT),
    ("an empty DM", dm(**NO_TEXT), EMPTY),
    ("a bot's DM", dm(from_bot=True), IGNORE),
    # groups in the default mode: only when spoken to
    ("unaddressed in a group", group(), IGNORE),
    ("a mention", group(mentioned=True), RELAY),
    ("a reply to the bot", group(replies_to_bot=True), RELAY),
    ("a bot's mention", group(mentioned=True, from_bot=True), IGNORE),
    ("a bare mention", group(mentioned=True, **NO_TEXT), EMPTY),
    ("a sticker replying to the bot", group(replies_to_bot=True, **STICKER), ATTACHMENT),
    ("an unaddressed sticker", group(**STICKER), IGNORE),
    # mode all: every message, but a busy group is never nagged about what it cannot read
    ("unaddressed, mode all", group(mode=ALL), RELAY),
    ("a sticker, mode all", group(mode=ALL, **STICKER), IGNORE),
    ("a mentioned sticker, mode all", group(mode=ALL, mentioned=True, **STICKER), ATTACHMENT),
    ("a bot, mode all", group(mode=ALL, from_bot=True), IGNORE),
    # mode off: nothing, not even a mention
    ("a mention, mode off", group(mode=OFF, mentioned=True), IGNORE),
    ("a mentioned sticker, mode off", group(mode=OFF, mentioned=True, **STICKER), IGNORE),
    # a thread or topic follows its parent's mode unless it has its own
    ("unaddressed, parent all", group(parent_mode=ALL), RELAY),
    ("a mention, parent off", group(parent_mode=OFF, mentioned=True), IGNORE),
    ("unaddressed, own mentions, parent all", group(mode=MENTIONS, parent_mode=ALL), IGNORE),
    ("a mention, own all, parent off", group(mode=ALL, parent_mode=OFF, mentioned=True), RELAY),
    # content Discord withholds (no message-content intent) is not an empty message
    ("withheld, mode all", group(mode=ALL, withheld=True, **NO_TEXT), IGNORE),
    ("withheld reply to the bot", group(replies_to_bot=True, withheld=True, **STICKER), IGNORE),
]


@pytest.mark.parametrize(("facts", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_rule(facts: Facts, expected: Decision) -> None:
    assert decide(facts) == expected


@pytest.mark.parametrize(
    ("own", "parent", "mode"),
    [
        (None, None, MENTIONS),
        (None, ALL, ALL),
        (OFF, ALL, OFF),
        (ALL, None, ALL),
        (MENTIONS, OFF, MENTIONS),
    ],
)
def test_a_channel_without_a_mode_takes_its_parents(
    own: ReplyMode | None, parent: ReplyMode | None, mode: ReplyMode
) -> None:
    assert effective_mode(own, parent) is mode


def test_a_notice_decision_names_its_notice() -> None:
    decision = decide(dm(**STICKER))
    assert decision.action is Action.NOTICE and decision.notice == notices.attachment_only()
    assert decide(dm()).notice is None and decide(group()).notice is None
