"""What the core is told about a Telegram message: its channel key, the ids the access rule
needs, and whose message it replies to.

Messages and commands both use these, so the two never disagree.
"""

from __future__ import annotations

from telegram import Message, User
from telegram.constants import ChatType

from core.access import space_of
from core.model import Origin


def channel_key(message: Message) -> str:
    """``tg:<chat>``, or ``tg:<chat>:<topic>`` for a forum topic (a channel of its own)."""
    thread = topic_of(message)
    return f"tg:{message.chat_id}" if thread is None else f"tg:{message.chat_id}:{thread}"


def topic_of(message: Message) -> int | None:
    """The forum topic a message belongs to (reply threads of ordinary groups are not topics)."""
    return message.message_thread_id if message.is_topic_message else None


def parent_key(message: Message) -> str:
    """A forum topic's group, whose mode and scope the topic inherits; "" for anything else."""
    return f"tg:{message.chat_id}" if topic_of(message) is not None else ""


def is_private(message: Message) -> bool:
    """A private chat with the bot (not a group, supergroup or channel)."""
    return message.chat.type == ChatType.PRIVATE


def origin_of(message: Message) -> Origin:
    """The ids the access rule and scope need: the user, the chat, the group's block list."""
    private = is_private(message)
    return Origin(
        user=message.from_user.id if message.from_user else 0,
        private=private,
        places=(message.chat_id,),
        space="" if private else space_of("tg", message.chat_id),
        parent=parent_key(message),
    )


def replied_author(message: Message) -> User | None:
    """Who wrote the message this one replies to; None when there is none, and for a topic's
    root (every message in a topic "replies" to it)."""
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None
    return replied.from_user
