"""Telegram's side of the chat commands: the command menus and one invocation per message.

What the commands do and who may use them is :mod:`core.commands`; this only translates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeDefault,
    Message,
)
from telegram.constants import ChatType

from core.access import space_of
from core.commands import ChatCommands, Invocation, Who
from core.model import Origin


def menus(commands: ChatCommands) -> list[tuple[BotCommandScope, list[BotCommand]]]:
    """setMyCommands per scope: everyone sees their commands; chat administrators see the
    admin commands too."""
    everyone = [BotCommand(c.name, commands.describe(c)) for c in commands.listed(Who.EVERYONE)]
    admins = [BotCommand(c.name, commands.describe(c)) for c in commands.listed(Who.ADMINS)]
    return [
        (BotCommandScopeDefault(), everyone),
        (BotCommandScopeAllChatAdministrators(), everyone + admins),
    ]


def invocation(
    message: Message,
    *,
    channel: str,
    parent: str,
    bot_username: str,
    bot_id: int,
    is_admin: Callable[[], Awaitable[bool]],
    origin: Origin,
) -> Invocation:
    """The core's view of a command message; a reply to someone names them for /block."""
    private = message.chat.type == ChatType.PRIVATE
    replied = message.reply_to_message
    target = ""
    if (
        replied is not None
        and replied.forum_topic_created is None  # topic messages "reply" to the topic root
        and replied.from_user is not None
        and replied.from_user.id != bot_id
    ):
        target = str(replied.from_user.id)
    user = message.from_user
    return Invocation(
        platform="telegram",
        origin=origin,
        answers_privately=private,
        channel=channel,
        parent=parent,
        user=f"tg:{user.id if user else 0}",
        space=space_of("tg", None if private else message.chat_id),
        private=private,
        bot=f"@{bot_username}",
        is_admin=is_admin,
        target=target,
    )
