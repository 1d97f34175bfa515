"""The ``/bridge`` slash-command group: bind, unbind, reset, status, mode."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Literal

import discord
from discord import app_commands

from core import notices
from core.errors import CommandError
from core.live import Current, current
from core.model import ReplyMode
from core.relay import Relay

log = logging.getLogger(__name__)

MAX_CHOICES = 25  # Discord's limit for autocomplete answers


def channel_key(channel_id: int) -> str:
    """The relay's channel key for a Discord channel, thread or DM."""
    return f"dc:{channel_id}"


def is_admin(interaction: discord.Interaction, admins: Collection[int]) -> bool:
    """Configured admin ids anywhere; in a server, also members with Manage Server.

    ``default_permissions`` only hides the commands (server admins can change it), so this
    check is the one that counts. ``interaction.permissions`` is what Discord resolved for the
    member in this channel; the cached roles are a second opinion.
    """
    if interaction.user.id in admins:
        return True
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    user = interaction.user
    return isinstance(user, discord.Member) and user.guild_permissions.manage_guild


class BridgeCommands(app_commands.Group):
    """``/bridge ...``: hidden from members without Manage Server, and checked again on use."""

    def __init__(self, relay: Relay, admins: Collection[int] | Current[Collection[int]]) -> None:
        super().__init__(
            name="bridge",
            description="Connect this channel to an AI assistant",
            default_permissions=discord.Permissions(manage_guild=True),
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True),
            allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
        )
        self._relay = relay
        self._admins = current(admins)

    async def _answer(
        self,
        interaction: discord.Interaction,
        action: Callable[[str, str], Awaitable[str]],
        *,
        admin_only: bool,
    ) -> None:
        """Refuse, or defer at once (the 3-second deadline) and follow up with the result."""
        if admin_only and not is_admin(interaction, self._admins()):
            await interaction.response.send_message(notices.not_admin(), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = channel_key(interaction.channel_id or 0)
        try:
            text = await action(channel, f"dc:{interaction.user.id}")
        except CommandError as exc:
            text = str(exc)
        except Exception:
            log.exception("/bridge %s failed", interaction.command and interaction.command.name)
            text = notices.failed()
        await interaction.followup.send(text, ephemeral=True)

    @app_commands.command(name="bind", description="Talk to a backend here (new conversation)")
    @app_commands.describe(
        backend="Which configured backend",
        remote="Existing remote conversation ids, space-separated (optional)",
    )
    async def bind(
        self, interaction: discord.Interaction, backend: str, remote: str | None = None
    ) -> None:
        """Bind the channel to ``backend``, to a new or the given remote conversation."""

        async def action(channel: str, by: str) -> str:
            args = remote.split() if remote else []
            return notices.bound(await self._relay.bind(channel, backend, args, by))

        await self._answer(interaction, action, admin_only=True)

    @bind.autocomplete("backend")
    async def _backend_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip().lower()
        names = [n for n in self._relay.backend_names if typed in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:MAX_CHOICES]]

    @app_commands.command(name="unbind", description="Forget this channel's conversation")
    async def unbind(self, interaction: discord.Interaction) -> None:
        """Drop the channel's binding (it falls back to the default backend)."""

        async def action(channel: str, by: str) -> str:
            return notices.unbound(await self._relay.unbind(channel))

        await self._answer(interaction, action, admin_only=True)

    @app_commands.command(name="reset", description="Start a fresh conversation here")
    async def reset(self, interaction: discord.Interaction) -> None:
        """A new remote conversation, same backend (anyone may in their own DM)."""

        async def action(channel: str, by: str) -> str:
            return notices.reset_done(await self._relay.reset(channel, by))

        await self._answer(interaction, action, admin_only=interaction.guild_id is not None)

    @app_commands.command(name="status", description="What this channel is connected to")
    async def status(self, interaction: discord.Interaction) -> None:
        """Binding, backend, mode and cooldown (anyone may in their own DM)."""

        async def action(channel: str, by: str) -> str:
            return (await self._relay.status(channel)).describe()

        await self._answer(interaction, action, admin_only=interaction.guild_id is not None)

    @app_commands.command(name="mode", description="When the bot answers in this channel")
    @app_commands.describe(mode="mentions: when mentioned or replied to; all: every message; off")
    async def mode(
        self, interaction: discord.Interaction, mode: Literal["mentions", "all", "off"]
    ) -> None:
        """Set the channel's reply mode."""

        async def action(channel: str, by: str) -> str:
            chosen = ReplyMode(mode)
            await self._relay.set_mode(channel, chosen)
            return notices.mode_set(chosen)

        await self._answer(interaction, action, admin_only=True)


class BridgeTree(app_commands.CommandTree):
    """A command tree whose unexpected failures reach the user as a short notice, not silence."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """Log the failure; tell the user something went wrong (ephemeral)."""
        name = interaction.command.qualified_name if interaction.command else "?"
        log.error("slash command /%s failed: %r", name, getattr(error, "original", error))
        try:
            if interaction.response.is_done():
                await interaction.followup.send(notices.failed(), ephemeral=True)
            else:
                await interaction.response.send_message(notices.failed(), ephemeral=True)
        except discord.HTTPException:
            pass
