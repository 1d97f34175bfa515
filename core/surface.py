"""What a front-end implements so the core can show a reply in one chat."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.budget import Budget


@dataclass(frozen=True, slots=True)
class StopButton:
    """The Stop button a streaming reply carries: what a press sends back, and its label."""

    tag: str
    label: str


class Surface(ABC):
    """One chat's output, as the renderer sees it.

    Writes raise :class:`core.errors.FloodControl` when the platform asks to slow down; any
    "message is not modified" answer must be swallowed as success. Other failures are raised as
    :class:`~core.errors.WriteFailed` (safe to retry), :class:`~core.errors.WriteUncertain` (may
    have landed: never repeated) or :class:`~core.errors.ChatUnwritable` (blocked, no permission). ``final=True`` marks the last
    write of a message: the place to apply formatting (with a plain fallback).
    """

    max_length: int = 2000
    """Longest text one message may hold, as measured by :meth:`measure`."""

    write_budget: Budget = Budget(5, 5.0)
    """The platform's write limit for this chat."""

    stop_button: StopButton | None = None
    """Set while a reply streams here: its partial writes carry this button where the platform
    can (no extra write), and the final write of each message takes it off."""

    @property
    @abstractmethod
    def pace_key(self) -> str:
        """The key writes are paced under: every surface of one chat shares it."""

    def budget_for(self, *, final: bool) -> tuple[str, Budget]:
        """The budget the next write spends (its key and limit); a platform with a separate
        limit for some writes (Telegram's drafts) answers with another key."""
        return self.pace_key, self.write_budget

    def measure(self, text: str) -> int:
        """Length of ``text`` as the platform counts it (Telegram: UTF-16 code units)."""
        return len(text)

    @abstractmethod
    async def typing(self) -> None:
        """Show a typing indicator (best effort): raises only
        :class:`~core.errors.ChatUnwritable`, which stops the reply before anything goes upstream."""

    @abstractmethod
    async def send(self, text: str, *, final: bool) -> Any:
        """Post a new message with ``text``; return a handle for :meth:`edit`."""

    @abstractmethod
    async def edit(self, handle: Any, text: str, *, final: bool) -> Any:
        """Replace the text of the message behind ``handle``; return the (possibly new) handle."""

    async def notice(self, text: str) -> None:
        """Post a short standalone notice (busy, quota, bad input...)."""
        await self.send(text, final=True)

    def locator(self) -> dict[str, str]:
        """What a front-end needs to rebuild this surface in another process (opaque strings)."""
        return {}

    def ref(self, handle: Any) -> str:
        """A message handle as an opaque string for the journal ('' when it cannot be adopted,
        e.g. a draft that vanishes with its process)."""
        return ""

    def adopt(self, ref: str) -> Any | None:
        """A handle for :meth:`edit` from a :meth:`ref` string written by any process, or None."""
        return None


Rebuild = Callable[[str, dict[str, str]], Surface | None]
"""A front-end's way back into a chat: (channel key, :meth:`Surface.locator`) -> a surface, or
None when the chat cannot be reached (the front-end is not running, the locator is unknown)."""
