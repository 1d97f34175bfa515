"""The small interface every front-end offers to ``bridge run`` (start, stop, connected)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from core.surface import Surface


class StartupError(Exception):
    """A front-end (or the bridge) cannot start, and only an edit of the config fixes it;
    ``str()`` is one clear line without secrets, naming the setting."""


class StartupUnavailable(StartupError):
    """Something the bridge needs did not answer at start (the store, a platform's API): it may
    answer later, so a supervisor should try again."""


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """What a platform said about the bot's token (``bridge check``): who the bot is, and
    whether it may read every message of a group or channel (Telegram privacy mode off,
    Discord's message-content intent on)."""

    who: str
    reads_all: bool


class FrontEnd(ABC):
    """A chat platform connection that feeds the relay."""

    name: str

    @abstractmethod
    async def start(self) -> None:
        """Connect and start receiving; return once messages are being taken."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop taking new messages and close every connection (replies in flight are the
        relay's to finish)."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while the platform connection is up (for /healthz)."""

    async def settings_reloaded(self) -> None:
        """The settings in force changed (SIGHUP): bring what the platform shows in line with
        them, such as the command menus in the notices' language. Never raises."""

    def status(self) -> list[tuple[str, bool | None]]:
        """(part, connected) for /healthz: the front-end itself, or each of its shards; None is
        a part still starting (a shard waiting its turn to IDENTIFY), not a failed one."""
        return [(self.name, self.connected)]

    async def tell_admin(self, user_id: int, text: str) -> None:
        """Write ``text`` to the admin with platform id ``user_id`` in a private chat (the core
        decides when: plan alerts)."""
        raise NotImplementedError

    def surface_for(self, channel: str, locator: dict[str, str]) -> Surface | None:
        """A surface for a chat a journal record names, so recovery can finish or answer a
        message another process took; None when this front-end cannot write there now."""
        return None
