"""What the core is told about a Discord message or interaction: channel keys, the ids the
access rule needs, who is an admin, and whether the bot is mentioned or replied to.

Messages and slash commands both use these, so the two never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import discord

from core.access import space_of
from core.model import Origin


def channel_key(channel_id: int) -> str:
    """The relay's channel key for a Discord channel, thread or DM."""
    return f"dc:{channel_id}"


def origin_of(
    user: discord.abc.User,
    channel: object,
    *,
    channel_id: int,
    guild_id: int | None,
    private: bool,
) -> Origin:
    """The ids access control and scope need: user, roles, channel, parent, category, server.

    ``channel`` may be a partial one (a server not cached yet); ``private`` says a DM.
    """
    parent_id = getattr(channel, "parent_id", None) if isinstance(channel, discord.Thread) else None
    category_id = getattr(channel, "category_id", None)
    roles = tuple(r.id for r in user.roles) if isinstance(user, discord.Member) else ()
    return Origin(
        user=user.id,
        private=private,
        roles=roles,
        places=tuple(p for p in (channel_id, parent_id, category_id) if p),
        space="" if private or guild_id is None else space_of("dc", f"guild:{guild_id}"),
        parent=channel_key(parent_id) if parent_id else "",
    )


def is_admin(
    user: discord.abc.User,
    admins: Collection[int],
    permissions: discord.Permissions | None = None,
) -> bool:
    """Configured admin ids anywhere; in a server, also members with Manage Server or
    Administrator.

    ``permissions`` is what Discord resolved for the member in the channel of an interaction;
    the member's cached roles are a second opinion (and all a message has).
    """
    if user.id in admins:
        return True
    granted = [] if permissions is None else [permissions]
    if isinstance(user, discord.Member):
        granted.append(user.guild_permissions)
    return any(p.manage_guild or p.administrator for p in granted)


def strip_mention(content: str, bot_id: int) -> str:
    """``content`` without the bot's own mention(s), trimmed."""
    return re.sub(rf"<@!?{bot_id}>\s?", "", content).strip()


def replied_to(message: discord.Message) -> discord.Message | None:
    """The message this one replies to, when Discord sent or cached it."""
    ref = message.reference
    if ref is None:
        return None
    return ref.resolved if isinstance(ref.resolved, discord.Message) else ref.cached_message
