"""Whether and how the bridge answers one message, decided from facts before anything acts.

Both front-ends translate what their platform delivers into :class:`Facts`; the rule is here,
once, so a Discord thread and a Telegram topic behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core import notices
from core.model import ReplyMode


@dataclass(frozen=True, slots=True)
class Facts:
    """What a front-end saw of one message, in platform-neutral terms."""

    private: bool
    """A private chat or DM (always answered), not a group, server channel, thread or topic."""
    from_bot: bool = False
    """Sent by a bot, the bridge's own included (or a webhook)."""
    mentioned: bool = False
    replies_to_bot: bool = False
    """A reply to one of the bot's messages (not a topic's root)."""
    has_text: bool = True
    """Words remain once the bot's mention is taken out."""
    attachments: bool = False
    """A sticker, photo or file came along."""
    withheld: bool = False
    """The platform withheld the content (Discord without the message-content intent)."""
    mode: ReplyMode | None = None
    """The channel's own reply mode; None when never set."""
    parent_mode: ReplyMode | None = None
    """The reply mode of a thread's or topic's parent channel; None when never set or none."""

    @property
    def addressed(self) -> bool:
        """Spoken to the bot: in private, by a mention, or by a reply to the bot."""
        return self.private or self.mentioned or self.replies_to_bot


class Action(StrEnum):
    """What to do with a message."""

    IGNORE = "ignore"
    RELAY = "relay"
    NOTICE = "notice"


@dataclass(frozen=True, slots=True)
class Decision:
    """The action, and for :attr:`Action.NOTICE` the notice to post."""

    action: Action
    notice: notices.Notice | None = None


IGNORE = Decision(Action.IGNORE)
RELAY = Decision(Action.RELAY)


def effective_mode(own: ReplyMode | None, parent: ReplyMode | None) -> ReplyMode:
    """A channel's reply mode: its own, else its parent's (a thread or topic), else mentions."""
    return own or parent or ReplyMode.MENTIONS


def decide(facts: Facts) -> Decision:
    """Ignore, relay, or answer with a short notice; pure, so every rule is one table."""
    if facts.from_bot:
        return IGNORE
    if not facts.private:
        mode = effective_mode(facts.mode, facts.parent_mode)
        if mode is ReplyMode.OFF or (mode is ReplyMode.MENTIONS and not facts.addressed):
            return IGNORE
    if facts.has_text:
        return RELAY
    if facts.withheld or not facts.addressed:
        return IGNORE  # nothing to read, and a busy group is not nagged about it
    if facts.attachments:
        return Decision(Action.NOTICE, notices.attachment_only())
    return Decision(Action.NOTICE, notices.empty())
