"""The bot's commands: what they answer, and who may use them. Texts come from core.notices."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import BotCommand

from core import notices
from core.errors import CommandError
from core.model import ReplyMode
from core.relay import Relay

log = logging.getLogger(__name__)

COMMANDS: dict[str, str] = {
    "start": "What this bot is and how to talk to it",
    "help": "What this bot is and how to talk to it",
    "reset": "Start a fresh conversation in this chat",
    "status": "What this chat is connected to",
    "bind": "Admins: connect this chat to a backend",
    "unbind": "Admins: disconnect this chat",
    "mode": "Admins: when to answer here (mentions, all, off)",
}
ADMIN_ONLY = frozenset({"bind", "unbind", "mode"})


def bot_commands() -> list[BotCommand]:
    """The list registered with setMyCommands."""
    return [BotCommand(name, description) for name, description in COMMANDS.items()]


@dataclass(frozen=True, slots=True)
class CommandContext:
    """One command invocation: where, by whom, and how to learn whether they are an admin."""

    name: str
    args: list[str]
    channel: str
    author: str
    private: bool
    bot_username: str
    is_admin: Callable[[], Awaitable[bool]]


async def answer_command(relay: Relay, cmd: CommandContext) -> str:
    """Run one command and return the text to show (never raises)."""
    try:
        return await _run(relay, cmd)
    except CommandError as err:
        return str(err)
    except Exception:
        log.exception("command /%s failed in %s", cmd.name, cmd.channel)
        return notices.failed()


async def _run(relay: Relay, cmd: CommandContext) -> str:
    needs_admin = cmd.name in ADMIN_ONLY or (cmd.name == "reset" and not cmd.private)
    if needs_admin and not await cmd.is_admin():
        return notices.not_admin()
    if cmd.name in ("start", "help"):
        return notices.help_text(
            cmd.bot_username, group=not cmd.private, backends=relay.backend_names
        )
    if cmd.name == "status":
        status = await relay.status(cmd.channel)
        return notices.status_text(
            binding=status.binding,
            backend=status.backend,
            mode=status.mode,
            cooldown=status.cooldown,
        )
    if cmd.name == "reset":
        return notices.reset_done(await relay.reset(cmd.channel, by=cmd.author))
    if cmd.name == "bind":
        if not cmd.args:
            return notices.usage("/bind", "<backend> [remote ids]")
        binding = await relay.bind(cmd.channel, cmd.args[0], cmd.args[1:], by=cmd.author)
        return notices.bound(binding)
    if cmd.name == "unbind":
        return notices.unbound(await relay.unbind(cmd.channel))
    if cmd.name == "mode":
        choices = [m.value for m in ReplyMode]
        if len(cmd.args) != 1 or cmd.args[0].lower() not in choices:
            return notices.usage("/mode", "|".join(choices))
        mode = ReplyMode(cmd.args[0].lower())
        await relay.set_mode(cmd.channel, mode)
        return notices.mode_set(mode)
    return notices.unknown_command(f"/{cmd.name}")
