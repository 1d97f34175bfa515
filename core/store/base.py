"""The store interface: the only state shared between the bridge's processes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar

from core.model import Admission, Binding, ChannelRecord, ReplyMode

T = TypeVar("T")


class Store(ABC):
    """Bindings, de-duplication, rate limits, quota cooldowns, channel settings and channel locks.

    Every method raises :class:`core.errors.StoreUnavailable` when the store cannot be reached.
    """

    @abstractmethod
    async def admit(
        self,
        *,
        channel: str,
        message_id: str,
        user: str,
        lock_owner: str,
        lock_ttl: float,
        dedupe_ttl: float,
        rate_limit: int,
        rate_window: float,
    ) -> Admission:
        """The hot path in one round-trip: claim the message id (SET NX), count the user's
        message in the rate window, try the channel lock, and read the binding and cooldowns.

        A duplicate or rate-limited message neither takes the lock nor counts (rate) twice.
        """

    @abstractmethod
    async def acquire_lock(self, channel: str, owner: str, ttl: float) -> bool:
        """Take the channel's single-flight lock if free (expires after ``ttl`` seconds)."""

    @abstractmethod
    async def release_lock(self, channel: str, owner: str) -> None:
        """Release the lock if ``owner`` still holds it."""

    @abstractmethod
    async def get_binding(self, channel: str) -> Binding | None:
        """The channel's binding, or None."""

    @abstractmethod
    async def set_binding(self, channel: str, binding: Binding) -> None:
        """Bind (or re-bind) a channel."""

    @abstractmethod
    async def delete_binding(self, channel: str) -> bool:
        """Unbind; True when there was a binding."""

    @abstractmethod
    async def get_mode(self, channel: str) -> ReplyMode | None:
        """The channel's reply mode, or None for the default."""

    @abstractmethod
    async def set_mode(self, channel: str, mode: ReplyMode) -> None:
        """Set the channel's reply mode."""

    @abstractmethod
    async def channel_records(self) -> list[ChannelRecord]:
        """Every channel that has a per-channel setting, with all of them, ordered by channel."""

    async def restore_channel(self, record: ChannelRecord) -> None:
        """Write every setting ``record`` carries (``bridge bindings import``)."""
        if record.binding is not None:
            await self.set_binding(record.channel, record.binding)
        if record.mode is not None:
            await self.set_mode(record.channel, record.mode)

    @abstractmethod
    async def claim(self, key: str, ttl: float) -> bool:
        """Claim a one-off id (e.g. a Telegram update_id) for ``ttl`` seconds; False if seen."""

    @abstractmethod
    async def set_cooldown(self, backend: str, seconds: float) -> None:
        """Pause a backend for every process (after a quota error)."""

    @abstractmethod
    async def get_cooldowns(self) -> dict[str, float]:
        """Backend name -> seconds left, active cooldowns only."""

    @abstractmethod
    async def swap_pace(
        self, chat: str, change: Callable[[str | None], tuple[str, T]], ttl: float
    ) -> T:
        """Run ``change`` on chat ``chat``'s pacing state atomically against every process:
        it gets the stored text (None when there is none) and returns the text to store (kept
        ``ttl`` seconds) and a result, which is returned. ``change`` may run more than once."""

    @abstractmethod
    async def note_handled(self, channel: str, message_id: str, ttl: float) -> None:
        """Remember that ``channel`` was active now and that ``message_id`` (a platform id that
        grows with time, e.g. a Discord snowflake) was handled there; the newest id is kept.
        Forgotten after ``ttl`` seconds without activity."""

    @abstractmethod
    async def active_channels(self, limit: int) -> dict[str, str]:
        """Up to ``limit`` channels noted by :meth:`note_handled`, most recently active first,
        each with the newest message id handled there."""

    @abstractmethod
    async def ping(self) -> str:
        """Reach the store; return a short description (e.g. 'redis 7.0.15')."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close connections."""


def newer_id(a: str, b: str) -> str:
    """The newer of two numeric platform ids, compared exactly (snowflakes exceed a float)."""
    return a if (len(a), a) > (len(b), b) else b
