"""Per-chat write budgets: how many writes a platform allows per window, and when the next may go.

A chat's budget is a sliding window (at most ``writes`` in any ``window`` seconds), which also
fits a platform that counts in fixed windows. While a reply streams, its writes are spread evenly
and one write stays in reserve, so the final text goes out the moment the stream ends. What the
platform says beats the model: a flood wait (``retry_after``) blocks the chat and slows it for a
while; a known remaining count (Discord's ``X-RateLimit-Remaining``/``Reset-After``) gates it.

Two forms share one decision function: :class:`PacingBoard` keeps every chat's state in this
process; :class:`StoredPacing` keeps it in the store, so several processes share one budget.

A platform also limits the whole bot (Discord about 50 writes a second, Telegram about 30): a
write needs its chat's budget and its platform's bot-wide one, kept under :func:`bot_key` the same
way. A bot-wide flood wait recorded there pauses every chat of the platform, in every process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from core.budget import MARGIN, Budget
from core.errors import StoreUnavailable

if TYPE_CHECKING:
    from core.store.base import Store

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
BotWide = Callable[[str], Budget | None]
"""The bot-wide budget of a platform, by the prefix of its chats' keys ("dc", "tg"); None: none."""

MAX_SLOW = 8.0  # a flooded chat writes at most this many times less often
_RECOVERY = 0.9  # each clean write brings a slowed chat 10% back toward its budget
_PRUNE_FLOOR = 1024  # chats kept before idle ones are looked for


@dataclass(slots=True)
class PaceState:
    """One chat's pacing state (the shared form keeps exactly this in the store)."""

    log: list[float] = field(default_factory=list)
    """Times of the writes still inside the window, oldest first."""
    last: float = 0.0
    """Time of the latest write."""
    blocked_until: float = 0.0
    """The platform said: nothing before this."""
    remaining: int = -1
    """Writes the platform still allows until ``reset_at`` (-1: it has not said)."""
    reset_at: float = 0.0
    slow: float = 1.0
    """Window multiplier after floods: the platform allows less than the budget says."""

    def dumps(self) -> str:
        """The state as compact JSON."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | None) -> PaceState:
        """A state from :meth:`dumps`; a fresh one for nothing or for unreadable data."""
        if not raw:
            return cls()
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return cls()

    def idle(self, now: float, budget: Budget) -> bool:
        """True when forgetting this state changes nothing."""
        horizon = now - budget.window * MAX_SLOW - MARGIN
        return self.last < horizon and self.blocked_until < now and self.reset_at < now


def bot_key(key: str) -> str:
    """The key of the bot-wide budget that chat ``key`` also spends (its platform's)."""
    return key.split(":", 1)[0] + ":*"


def take(state: PaceState, budget: Budget, now: float, *, final: bool) -> float:
    """Seconds until a write may go; 0.0 means it may go now, and it is counted in ``state``.

    A streaming write keeps ``budget.reserve`` writes back and follows the even spacing; a final
    write may use the whole budget at once.
    """
    wait = wait_for(state, budget, now, final=final)
    if wait > 0:
        return wait
    count(state, now)
    return 0.0


def take_both(
    chat: PaceState,
    budget: Budget,
    bot: PaceState,
    bot_budget: Budget,
    now: float,
    *,
    final: bool,
    urgent: bool = False,
) -> float:
    """:func:`take` against a chat's budget and the bot-wide one together: counted in both, or
    in neither with the longer of the two waits. An ``urgent`` write (a reply's first message)
    goes first bot-wide, as a final does."""
    wait = max(
        wait_for(chat, budget, now, final=final),
        wait_for(bot, bot_budget, now, final=final or urgent),
    )
    if wait > 0:
        return wait
    count(chat, now)
    count(bot, now)
    return 0.0


def wait_for(state: PaceState, budget: Budget, now: float, *, final: bool) -> float:
    """Seconds until a write may go under ``budget`` (0.0: now); counts nothing."""
    window = budget.window * state.slow + MARGIN
    times = state.log
    while times and times[0] <= now - window:
        times.pop(0)
    keep = 0 if final else budget.reserve
    allowed = budget.writes - keep
    wait = state.blocked_until - now
    if len(times) >= allowed:
        wait = max(wait, times[len(times) - allowed] + window - now)
    if state.remaining >= 0 and now < state.reset_at and state.remaining <= keep:
        wait = max(wait, state.reset_at - now)
    if not final and state.last:
        wait = max(wait, state.last + budget.spread(window) - now)
    return max(wait, 0.0)


def count(state: PaceState, now: float) -> None:
    """Count one write made at ``now``."""
    state.log.append(now)
    state.last = now
    if state.remaining > 0 and now < state.reset_at:
        state.remaining -= 1
    state.slow = max(1.0, state.slow * _RECOVERY)


def uncount(state: PaceState, at: float) -> None:
    """Take back a write counted at ``at`` that was not made (the bot-wide budget refused it)."""
    if at in state.log:
        state.log.remove(at)
        state.last = state.log[-1] if state.log else 0.0


def observe(state: PaceState, now: float, remaining: int, reset_after: float) -> None:
    """The platform told how many writes are left in its window and when the window resets."""
    state.remaining = max(remaining, 0)
    state.reset_at = now + max(reset_after, 0.0)


def flooded(state: PaceState, now: float, retry_after: float) -> None:
    """The platform refused a write: wait exactly ``retry_after``, then write less often."""
    state.blocked_until = max(state.blocked_until, now + max(retry_after, 0.0))
    state.slow = min(MAX_SLOW, state.slow * 2)


class Pacing(ABC):
    """Every chat's write budget, as the renderer and the front-ends use it."""

    def __init__(self, clock: Clock, sleep: Sleep, bot_wide: BotWide | None = None) -> None:
        self.clock = clock
        self.sleep = sleep
        self.bot_wide: BotWide = bot_wide or (lambda _prefix: None)

    def bot_budget(self, key: str) -> Budget | None:
        """The bot-wide budget chat ``key`` spends too; None for a bot-wide key itself."""
        prefix, _, rest = key.partition(":")
        return None if rest == "*" else self.bot_wide(prefix)

    @abstractmethod
    async def take(self, key: str, budget: Budget, *, final: bool, urgent: bool = False) -> float:
        """Claim one write in chat ``key``: 0.0 when granted, else the seconds to wait first.

        Bot-wide, a final or ``urgent`` write (a reply's first message) may spend the reserve
        that streaming edits leave: when writes must wait, edits wait first."""

    @abstractmethod
    async def observe(self, key: str, remaining: int, reset_after: float) -> None:
        """Record what the platform said about the chat's window (rate-limit headers)."""

    @abstractmethod
    async def flooded(self, key: str, retry_after: float) -> None:
        """Record that the platform refused a write in chat ``key`` for ``retry_after`` s."""


class PacingBoard(Pacing):
    """The local form: the state of every chat this process writes to, in memory."""

    def __init__(
        self,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        bot_wide: BotWide | None = None,
    ) -> None:
        super().__init__(clock, sleep, bot_wide)
        self._chats: dict[str, tuple[PaceState, Budget]] = {}
        self._prune_at = _PRUNE_FLOOR

    def state(self, key: str, budget: Budget | None = None) -> PaceState:
        """The state of chat ``key`` (created on first use)."""
        entry = self._chats.get(key)
        if entry is None:
            if len(self._chats) >= self._prune_at:
                self._forget_idle()
            entry = self._chats[key] = (PaceState(), budget or Budget(1, 1.0, 0))
        elif budget is not None and entry[1] != budget:
            entry = self._chats[key] = (entry[0], budget)
        return entry[0]

    async def take(self, key: str, budget: Budget, *, final: bool, urgent: bool = False) -> float:
        """Claim one write in the chat and bot-wide (see :func:`take_both`)."""
        return self.take_now(key, budget, self.clock(), final=final, urgent=urgent)

    def take_now(
        self, key: str, budget: Budget, now: float, *, final: bool, urgent: bool = False
    ) -> float:
        """:meth:`take` at ``now``, without waiting on anything."""
        bot = self.bot_budget(key)
        if bot is None:
            return take(self.state(key, budget), budget, now, final=final)
        chat, bot_state = self.state(key, budget), self.state(bot_key(key), bot)
        return take_both(chat, budget, bot_state, bot, now, final=final, urgent=urgent)

    async def observe(self, key: str, remaining: int, reset_after: float) -> None:
        """Record the platform's count (see :func:`observe`)."""
        observe(self.state(key), self.clock(), remaining, reset_after)

    async def flooded(self, key: str, retry_after: float) -> None:
        """Record a flood wait (see :func:`flooded`)."""
        flooded(self.state(key), self.clock(), retry_after)

    def _forget_idle(self) -> None:
        """Drop chats idle long enough that their state no longer matters, so memory stays flat
        however many chats the bot has seen (amortised: it runs each time the board doubles)."""
        now = self.clock()
        for key in [k for k, (s, b) in self._chats.items() if s.idle(now, b)]:
            del self._chats[key]
        self._prune_at = max(_PRUNE_FLOOR, 2 * len(self._chats))

    def __len__(self) -> int:
        """Chats whose state is remembered."""
        return len(self._chats)


class StoredPacing(Pacing):
    """The shared form: each chat's state lives in the store, so every process writing to that
    chat spends one budget. Times are wall-clock seconds, comparable across processes."""

    def __init__(
        self,
        store: Store,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        bot_wide: BotWide | None = None,
    ) -> None:
        super().__init__(clock, sleep, bot_wide)
        self._store = store
        self._local = PacingBoard(clock, sleep)

    async def _change(
        self, key: str, budget: Budget | None, change: Callable[[PaceState, float], float]
    ) -> float:
        # The store runs ``apply`` atomically on the chat's state; the TTL outlives any window.
        ttl = (budget.window if budget else 60.0) * MAX_SLOW + 60.0

        def apply(raw: str | None) -> tuple[str, float]:
            state = PaceState.loads(raw)
            result = change(state, self.clock())
            return state.dumps(), result

        try:
            return await self._store.swap_pace(key, apply, ttl)
        except Exception as exc:  # StoreUnavailable, or a cluster's error mid-failover
            # A store error must not cost a reply: pace this process alone until it is back.
            if not isinstance(exc, StoreUnavailable):
                log.warning("pacing state of %s unreadable (%s)", key, type(exc).__name__)
            return change(self._local.state(key, budget), self.clock())

    async def take(self, key: str, budget: Budget, *, final: bool, urgent: bool = False) -> float:
        """Claim one write in the chat, then bot-wide, each atomically against every process;
        a write the bot-wide budget refuses is taken back from the chat's."""
        taken: list[float] = []

        def in_chat(state: PaceState, now: float) -> float:
            taken[:] = [now]
            return take(state, budget, now, final=final)

        wait = await self._change(key, budget, in_chat)
        bot = self.bot_budget(key)
        if wait > 0 or bot is None:
            return wait
        first = final or urgent
        wait = await self._change(
            bot_key(key), bot, lambda state, now: take(state, bot, now, final=first)
        )
        if wait > 0:

            def back(state: PaceState, now: float) -> float:
                uncount(state, taken[0])
                return 0.0

            await self._change(key, budget, back)
        return wait

    async def observe(self, key: str, remaining: int, reset_after: float) -> None:
        """Record the platform's count for every process (see :func:`observe`)."""

        def change(state: PaceState, now: float) -> float:
            observe(state, now, remaining, reset_after)
            return 0.0

        await self._change(key, None, change)

    async def flooded(self, key: str, retry_after: float) -> None:
        """Record a flood wait for every process (see :func:`flooded`)."""

        def change(state: PaceState, now: float) -> float:
            flooded(state, now, retry_after)
            return 0.0

        await self._change(key, None, change)
