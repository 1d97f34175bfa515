"""Who may talk to the assistant: the config's allow and block lists, and the runtime block
lists admins keep in the store. Admins are always allowed (the caller asks only when needed).

Front-ends hand over ids (:class:`core.model.Origin`); the rule is here, once for both platforms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.config import DiscordSettings, TelegramSettings
from core.live import Current, current
from core.model import Origin
from core.store.base import Store

NOTICE_EVERY = 3600.0  # a refused user hears about it at most this often (private chats only)


def space_of(platform: str, group: int | str | None) -> str:
    """The block-list space of a chat: its group or server, or the whole platform when private.

    In a private chat only a configured admin is an admin, and their word goes for the whole
    platform; in a group or server an admin's block covers that group or server.
    """
    return f"{platform}:*" if group is None else f"{platform}:{group}"


@dataclass(frozen=True, slots=True)
class AccessLists:
    """One platform's lists from the config (ids); an empty ``allowed_*`` list allows everyone."""

    allowed_users: frozenset[int] = frozenset()
    blocked_users: frozenset[int] = frozenset()
    allowed_roles: frozenset[int] = frozenset()
    blocked_roles: frozenset[int] = frozenset()
    allowed_places: frozenset[int] = frozenset()

    @classmethod
    def of_telegram(cls, settings: TelegramSettings) -> AccessLists:
        """``[telegram] allowed_users, blocked_users, allowed_chats``."""
        return cls(
            allowed_users=frozenset(settings.allowed_users),
            blocked_users=frozenset(settings.blocked_users),
            allowed_places=frozenset(settings.allowed_chats),
        )

    @classmethod
    def of_discord(cls, settings: DiscordSettings) -> AccessLists:
        """``[discord] allowed_users, blocked_users, allowed_roles, blocked_roles,
        allowed_channels`` (a channel id covers its threads, a category id its channels)."""
        return cls(
            allowed_users=frozenset(settings.allowed_users),
            blocked_users=frozenset(settings.blocked_users),
            allowed_roles=frozenset(settings.allowed_roles),
            blocked_roles=frozenset(settings.blocked_roles),
            allowed_places=frozenset(settings.allowed_channels),
        )

    def permits(self, origin: Origin) -> bool:
        """The config's verdict, admins aside.

        Blocked users and roles never; with allowed users or roles, only those; with allowed
        chats or channels, only there (private chats are governed by the user lists alone).
        """
        roles = frozenset(origin.roles)
        if origin.user in self.blocked_users or roles & self.blocked_roles:
            return False
        if (self.allowed_users or self.allowed_roles) and not (
            origin.user in self.allowed_users or roles & self.allowed_roles
        ):
            return False
        if self.allowed_places and not origin.private:
            return bool(frozenset(origin.places) & self.allowed_places)
        return True


class Access:
    """The access rule for every platform, and the runtime block lists in the store."""

    def __init__(
        self,
        store: Store,
        lists: Mapping[str, AccessLists] | Current[Mapping[str, AccessLists]],
    ) -> None:
        self._store = store
        self._lists = current(lists)  # a reload applies from the next message

    def permits(self, platform: str, origin: Origin, *, blocked: bool) -> bool:
        """Whether a (non-admin) user may be relayed; ``blocked``: on a runtime block list."""
        return not blocked and self._lists().get(platform, AccessLists()).permits(origin)

    @staticmethod
    def spaces(author: str, origin: Origin) -> list[str]:
        """The block lists that apply to ``author`` (``tg:<id>``, ``dc:<id>``) in a message's
        place: its group's or server's, and the whole platform's."""
        everywhere = space_of(author.partition(":")[0], None)
        return [origin.space, everywhere] if origin.space else [everywhere]

    async def refuses(self, user: str, platform: str, origin: Origin) -> bool:
        """Whether the rule keeps ``user`` out here, admins aside (reads the block lists)."""
        rules = await self._store.rules(channels=[], spaces=self.spaces(user, origin), user=user)
        return not self.permits(platform, origin, blocked=rules.blocked)

    async def set_blocked(self, space: str, user: str, blocked: bool) -> bool:
        """Block or unblock ``user`` in ``space``; True when the list changed."""
        return await self._store.set_blocked(space, user, blocked)

    async def notice_due(self, user: str) -> bool:
        """True at most once per :data:`NOTICE_EVERY` per user (shared by every process)."""
        return await self._store.claim(f"access-notice:{user}", NOTICE_EVERY)
