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

from bots.telegram.facts import channel_key, is_private, origin_of, parent_key, replied_author
from core.access import space_of
from core.commands import ChatCommands, Invocation, Who


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
    message: Message, *, bot_username: str, bot_id: int, is_admin: Callable[[], Awaitable[bool]]
) -> Invocation:
    """The core's view of a command message; a reply to someone names them for /block."""
    private = is_private(message)
    replied = replied_author(message)
    user = message.from_user
    return Invocation(
        platform="telegram",
        origin=origin_of(message),
        answers_privately=private,
        channel=channel_key(message),
        parent=parent_key(message),
        user=f"tg:{user.id if user else 0}",
        space=space_of("tg", None if private else message.chat_id),
        private=private,
        bot=f"@{bot_username}",
        is_admin=is_admin,
        target=str(replied.id) if replied is not None and replied.id != bot_id else "",
    )
