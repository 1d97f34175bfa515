"""Discord's side of the chat commands, generated from :mod:`core.commands`.

Every command sits in the ``/bridge`` group, which ``default_permissions`` shows to members
with Manage Server only; the commands for everyone are also top-level (``/status``, ``/reset``,
``/help``) so every member can use them. Who may run a command is checked in the core again on
every use. Answers are ephemeral.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import discord
from discord import app_commands

from bots.discord.facts import channel_key, is_admin, origin_of
from core import notices
from core.access import space_of
from core.bridge import Bridge
from core.commands import Arg, ChatCommands, Command, Invocation, Kind, Who
from core.live import Current, current
from core.translations import LANGUAGES

log = logging.getLogger(__name__)

MAX_CHOICES = 25  # Discord's limit for choices and autocomplete answers
MAX_DESCRIPTION = 100  # Discord's limit for a command's or an option's description
GROUP = "bridge"
GROUP_SUMMARY = "cmd_bridge"  # the notice that describes the /bridge group


def build_commands(
    bridge: Bridge, admins: Collection[int] | Current[Collection[int]]
) -> list[app_commands.Command[Any, ..., None] | app_commands.Group]:
    """``/bridge`` with every command, and the commands for everyone at the top level."""
    slash = _Slash(bridge, current(admins))
    group = app_commands.Group(
        name=GROUP,
        description=described(bridge.commands, GROUP_SUMMARY),
        default_permissions=discord.Permissions(manage_guild=True),
        allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True),
        allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
    )
    table = bridge.commands
    for command in table.listed():
        group.add_command(slash.command(command))
    top: list[app_commands.Command[Any, ..., None] | app_commands.Group] = [group]
    for command in table.listed(Who.EVERYONE):
        top.append(slash.command(command))
    return top


class _Slash:
    """Makes a discord.py command of a core command, and answers its interactions."""

    def __init__(self, bridge: Bridge, admins: Current[Collection[int]]) -> None:
        self._bridge = bridge
        self._admins = admins

    def command(self, command: Command) -> app_commands.Command[Any, ..., None]:
        """A slash command whose options are ``command``'s arguments."""

        async def callback(interaction: discord.Interaction, **options: Any) -> None:
            await self._answer(interaction, command, options)

        params = [
            inspect.Parameter(
                "interaction",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=discord.Interaction,
            )
        ]
        for arg in command.args:
            params.append(
                inspect.Parameter(
                    arg.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=_annotation(arg),
                    default=inspect.Parameter.empty if arg.required else None,
                )
            )
        callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        # What app_commands.describe / choices / autocomplete would set on a written function.
        callback.__discord_app_commands_param_description__ = {  # type: ignore[attr-defined]
            a.name: described(self._bridge.commands, a) for a in command.args
        }
        callback.__discord_app_commands_param_choices__ = {  # type: ignore[attr-defined]
            a.name: [app_commands.Choice(name=c, value=c) for c in a.choices[:MAX_CHOICES]]
            for a in command.args
            if a.kind is Kind.CHOICE
        }
        callback.__discord_app_commands_param_autocomplete__ = {  # type: ignore[attr-defined]
            a.name: self._backend_choices for a in command.args if a.kind is Kind.BACKEND
        }
        slash: app_commands.Command[Any, ..., None] = app_commands.Command(
            name=command.name,
            description=described(self._bridge.commands, command),
            callback=callback,
        )
        return slash

    async def _backend_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip().lower()
        names = [n for n in self._bridge.commands.backend_names() if typed in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:MAX_CHOICES]]

    async def _answer(
        self, interaction: discord.Interaction, command: Command, options: dict[str, Any]
    ) -> None:
        """Defer at once (the 3-second deadline), run the core command, follow up privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        origin = origin_of(
            interaction.user,
            interaction.channel,
            channel_id=interaction.channel_id or 0,
            guild_id=interaction.guild_id,
            private=interaction.guild_id is None,
        )
        inv = Invocation(
            platform="discord",
            channel=channel_key(interaction.channel_id or 0),
            parent=origin.parent,
            user=f"dc:{interaction.user.id}",
            space=space_of(
                "dc", None if interaction.guild_id is None else f"guild:{interaction.guild_id}"
            ),
            private=origin.private,
            bot=interaction.client.user.mention if interaction.client.user else "@bot",
            is_admin=self._is_admin(interaction),
            prefix="/",
            admin_prefix=f"/{GROUP} ",
            origin=origin,
            answers_privately=True,  # every answer is ephemeral
        )
        args = {k: _value(v) for k, v in options.items() if v is not None}
        text = await self._bridge.commands.run(command, args, inv)
        await interaction.followup.send(text, ephemeral=True)

    def _is_admin(self, interaction: discord.Interaction) -> Callable[[], Awaitable[bool]]:
        # Discord resolves a member's permissions in a server's channel only.
        resolved = None if interaction.guild_id is None else interaction.permissions

        async def check() -> bool:
            return is_admin(interaction.user, self._admins(), resolved)

        return check


def described(commands: ChatCommands, part: Command | Arg | str) -> app_commands.locale_str:
    """A description in the configured language, marked with its notice for the translator."""
    summary = part if isinstance(part, str) else part.summary
    text = commands.describe(summary)[:MAX_DESCRIPTION]
    return app_commands.locale_str(text, summary=summary)


class NoticeTranslator(app_commands.Translator):
    """Each Discord user sees the descriptions of the commands and their options in their own
    client's language when the notices come in it; the configured language, with the operator's
    overrides, is the default every other locale sees."""

    def __init__(self, commands: ChatCommands) -> None:
        self._commands = commands

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The description in ``locale``'s language; None (the default) for names, choices,
        the configured language and languages the notices do not come in."""
        summary = string.extras.get("summary")
        language = locale.value.partition("-")[0]  # "pt-BR" -> "pt", "es-419" -> "es"
        if summary is None or language not in LANGUAGES:
            return None
        if language == self._commands.texts.language:
            return None
        return self._commands.describe(summary, language)[:MAX_DESCRIPTION]


def _annotation(arg: Arg) -> Any:
    kind: Any = discord.User if arg.kind is Kind.USER else str
    return kind if arg.required else kind | None


def _value(value: Any) -> str:
    """An option's value as the core takes it (a user becomes their id)."""
    if isinstance(value, discord.abc.User):
        return str(value.id)
    return str(value).strip()


class BridgeTree(app_commands.CommandTree):
    """A command tree whose unexpected failures reach the user as a short notice, not silence."""

    def __init__(self, client: discord.Client, bridge: Bridge) -> None:
        super().__init__(client)
        self._bridge = bridge

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """Log the failure; tell the user something went wrong (ephemeral)."""
        name = interaction.command.qualified_name if interaction.command else "?"
        log.error("slash command /%s failed: %r", name, getattr(error, "original", error))
        text = self._bridge.render(notices.failed())
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            pass
