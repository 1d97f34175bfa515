"""Per-chat write pacing: a minimum gap between writes that widens when a platform floods us."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

MAX_INTERVAL = 30.0
_RECOVERY = 0.9  # each clean write brings a widened interval 10% back toward the base
_PRUNE_FLOOR = 1024  # chats kept before idle ones are looked for


@dataclass
class ChatPace:
    """Pacing state of one chat; every reply writing to that chat shares it."""

    base: float
    clock: Clock
    sleep: Sleep
    interval: float = 0.0
    next_at: float = 0.0
    floods: int = 0
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.interval = self.interval or self.base

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for this chat's turn to write; the write happens inside the block."""
        async with self._turn:
            delay = self.next_at - self.clock()
            if delay > 0:
                await self.sleep(delay)
            yield

    def wrote(self) -> None:
        """A write went through: the next one may follow after the interval."""
        self.interval = max(self.base, self.interval * _RECOVERY)
        self.next_at = self.clock() + self.interval

    def flooded(self, retry_after: float) -> None:
        """The platform said wait ``retry_after``: honour it exactly, then write less often."""
        self.floods += 1
        self.interval = min(MAX_INTERVAL, max(self.interval * 2, self.base))
        self.next_at = self.clock() + max(retry_after, 0.0)


class PacingBoard:
    """The pace of every chat this process writes to, keyed by the surface's ``pace_key``."""

    def __init__(self, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._chats: dict[str, ChatPace] = {}
        self._prune_at = _PRUNE_FLOOR

    def chat(self, key: str, base: float) -> ChatPace:
        """The pace of chat ``key`` (created at ``base`` interval on first use)."""
        pace = self._chats.get(key)
        if pace is None:
            if len(self._chats) >= self._prune_at:
                self._forget_idle()
            pace = self._chats[key] = ChatPace(base=base, clock=self._clock, sleep=self._sleep)
        elif not pace._turn.locked() and pace.next_at < self._clock() - MAX_INTERVAL:
            pace.interval = max(base, pace.base)  # idle long enough: forget old floods
        return pace

    def _forget_idle(self) -> None:
        """Drop chats idle long enough that their pace no longer matters, so memory stays flat
        however many chats the bot has seen (amortised: it runs each time the board doubles)."""
        horizon = self._clock() - 2 * MAX_INTERVAL
        idle = [k for k, p in self._chats.items() if p.next_at < horizon and not p._turn.locked()]
        for key in idle:
            del self._chats[key]
        self._prune_at = max(_PRUNE_FLOOR, 2 * len(self._chats))

    def __len__(self) -> int:
        """Chats whose pace is remembered."""
        return len(self._chats)
