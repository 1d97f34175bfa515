"""Telegram's side of the chat commands: the command menus and one invocation per message.

What the commands do and who may use them is :mod:`core.commands`; this only translates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
from core.translations import LANGUAGES


@dataclass(frozen=True, slots=True)
class Menu:
    """One setMyCommands call: a scope's commands for the users of one app language."""

    scope: BotCommandScope
    language: str | None
    """An IETF code such as ``de``; None for every user whose language has no menu of its own."""
    commands: list[BotCommand]

    def to_json(self) -> list[object]:
        """What the call sets, to compare with what was set last."""
        return [self.scope.to_dict(), self.language, [c.to_dict() for c in self.commands]]


def menus(commands: ChatCommands) -> list[Menu]:
    """setMyCommands per scope and language: everyone sees their commands, chat administrators
    the admin commands too. Each user reads the descriptions in their app's language when the
    notices come in it (as on Discord), else in the configured one, with the operator's
    overrides; the configured language gets its menu too, so a change of it leaves none stale."""
    found = []
    for language in (None, *LANGUAGES):
        everyone, admins = (
            [BotCommand(c.name, commands.describe(c, language)) for c in commands.listed(who)]
            for who in (Who.EVERYONE, Who.ADMINS)
        )
        found += [
            Menu(BotCommandScopeDefault(), language, everyone),
            Menu(BotCommandScopeAllChatAdministrators(), language, everyone + admins),
        ]
    return found


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
