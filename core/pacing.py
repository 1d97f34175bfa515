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

The bot-wide state also counts the platform's refusals (Discord bans a bot's address for an hour
at 10,000 401/403/429 answers in 10 minutes): past :data:`GUARD_LIMIT` in :data:`GUARD_WINDOW`,
streaming edits are shed until the count falls; first messages and final texts still go.

When writes must wait for the bot-wide budget, they wait in line per process
(:mod:`core.gate`): a reply's first message and its final text first, then notices, then
streaming edits, the reply that wrote longest ago and least often first. A process leases a
slice of the bot-wide budget at a time (:func:`lease`), so a write costs one store trip, its
chat's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, TypeVar

from core.budget import MARGIN, Budget
from core.errors import StoreUnavailable
from core.gate import BotGate, Clock, Lease, Priority, Sleep, Turn

if TYPE_CHECKING:
    from core.store.base import Store


T = TypeVar("T")

log = logging.getLogger(__name__)

BotWide = Callable[[str], Budget | None]
"""The bot-wide budget of a platform, by the prefix of its chats' keys ("dc", "tg"); None: none."""

MAX_SLOW = 8.0  # a flooded chat writes at most this many times less often
_RECOVERY = 0.9  # each clean write brings a slowed chat 10% back toward its budget
_PRUNE_FLOOR = 1024  # chats kept before idle ones are looked for
GUARD_WINDOW = 600.0  # refusals are counted over this many seconds, sliding
GUARD_LIMIT = 1000  # past this many, streaming edits are shed (Discord bans at 10,000)
_GUARD_STEP = 60.0  # refusals are counted per minute, so the state stays small
SHED_WAIT = 1.0  # a shed edit asks again after this long (the stream's end comes sooner)
TICK = 0.1
"""A process leases the bot-wide budget this far ahead: what it leased and did not use lapses
after this long, and streaming edits are leased at most a tick's share of the budget at once."""
BOT_FLOOD_MAX = 5.0
"""A flood wait the platform did not label is the bot's only when at most this long: the
bot-wide limit clears within a second or two, a chat's own penalty can last minutes."""
OBSERVED_BINDS = 1  # a remaining count gates writes only at or below a reserve (one write)
BOT_BUSY_SHARE = 2  # ... and when the bot spent at least 1/this of its budget in the window


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
    refusals: list[list[float]] = field(default_factory=list)
    """Bot-wide only: [minute start, refusals in it] over the guard's window, oldest first."""

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
        quiet = self.last < horizon and self.blocked_until < now and self.reset_at < now
        return quiet and not self.refusals


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


def lease(
    state: PaceState, budget: Budget, now: float, *, answers: int, edits: int, tick: float = TICK
) -> Lease:
    """Grant up to ``answers`` and ``edits`` writes of the bot-wide ``budget`` at ``now``,
    counted in ``state`` (the log every process shares).

    Answers may spend the whole window; edits leave the reserve and take at most a tick's share
    of the budget (counted with every process's), so they spread over the window. A pause
    (a bot-wide flood wait) grants nothing; past the guard's limit no edit is granted.
    """
    window = budget.window * state.slow + MARGIN
    times = state.log
    while times and times[0] <= now - window:
        times.pop(0)
    if state.blocked_until > now:
        return Lease(0, 0, state.blocked_until - now)
    shed = bool(state.refusals) and refusals(state, now) > GUARD_LIMIT
    share = max(1, math.ceil(budget.writes * tick / budget.window))
    recent = [t for t in times if t > now - tick]
    got_answers = max(0, min(answers, budget.writes - len(times)))
    edit_room = min(budget.writes - budget.reserve - len(times) - got_answers, share - len(recent))
    got_edits = 0 if shed else max(0, min(edits, edit_room))
    times.extend([now] * (got_answers + got_edits))
    if got_answers + got_edits:
        state.last = now
    waits = []
    if got_answers < answers:
        waits.append(_until_room(times, budget.writes, window, now))
    if got_edits < edits:
        # Edits wait until a batch has room (up to a tick's share), so that one lease brings
        # several: a lease per edit would cost a store trip per write again.
        batch = min(edits - got_edits, share)
        edit_wait = max(
            _until_room(times, budget.writes - budget.reserve, window, now, batch),
            _until_room([t for t in times if t > now - tick], share, tick, now, batch),
        )
        waits.append(max(edit_wait, SHED_WAIT) if shed else edit_wait)
    return Lease(got_answers, got_edits, max(min(waits, default=0.0), 0.0))


def _until_room(times: list[float], limit: int, span: float, now: float, room: int = 1) -> float:
    """Seconds until at most ``limit - room`` of ``times`` (oldest first) lie within ``span``."""
    over = len(times) - (limit - room)
    if over <= 0:
        return 0.0
    return times[min(over, len(times)) - 1] + span - now


def bot_flood(
    chat: PaceState, budget: Budget, bot: PaceState, bot_budget: Budget, now: float, wait: float
) -> bool:
    """True when a flood wait the platform did not say the scope of (Telegram's) is the bot's:
    short, met while the bot was busy, in a chat that had not spent its own budget. A chat's
    penalty is long or follows its own writes; the bot-wide one follows the bot's."""
    if wait > BOT_FLOOD_MAX:
        return False
    chat_window = budget.window * chat.slow + MARGIN
    in_chat = sum(t > now - chat_window for t in chat.log)
    in_bot = sum(t > now - bot_budget.window - MARGIN for t in bot.log)
    return in_chat < budget.writes and in_bot * BOT_BUSY_SHARE >= bot_budget.writes


def refused(state: PaceState, now: float) -> int:
    """Count one refusal (401, 403 or 429) in a bot-wide state; the count in the window."""
    start = now - now % _GUARD_STEP
    if state.refusals and state.refusals[-1][0] == start:
        state.refusals[-1][1] += 1
    else:
        state.refusals.append([start, 1])
    return refusals(state, now)


def refusals(state: PaceState, now: float) -> int:
    """Refusals counted in the guard's window up to ``now`` (older minutes are dropped)."""
    while state.refusals and state.refusals[0][0] <= now - GUARD_WINDOW:
        state.refusals.pop(0)
    return int(sum(count for _, count in state.refusals))


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

    def __init__(
        self, clock: Clock, sleep: Sleep, bot_wide: BotWide | None = None, tick: float = TICK
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.bot_wide: BotWide = bot_wide or (lambda _prefix: None)
        self.tick = tick
        self._refusals: dict[str, PaceState] = {}  # bot key -> refusals last seen there
        self._gates: dict[str, BotGate] = {}  # bot key -> this process's line for its budget

    def invalid_requests(self, key: str) -> int:
        """Refusals the platform of ``key`` gave the bot in the guard's window, as last seen."""
        seen = self._refusals.get(bot_key(key))
        return 0 if seen is None else refusals(seen, self.clock())

    def _saw(self, key: str, state: PaceState) -> None:
        """Keep what a bot-wide state says of refusals, for :meth:`invalid_requests`."""
        self._refusals[key] = PaceState(refusals=[list(r) for r in state.refusals])

    async def refused(self, key: str) -> None:
        """The platform of chat ``key`` refused a request (401, 403 or a 429): count it
        bot-wide, and warn when the count passes the guard's limit."""

        def change(state: PaceState, now: float) -> float:
            count = refused(state, now)
            self._saw(bot_key(key), state)
            return float(count)

        count = await self._change(bot_key(key), None, change)
        if count == GUARD_LIMIT + 1:
            log.warning(
                "%d requests refused in %d minutes for %s: streaming edits are shed until "
                "fewer (the platform bans the bot's address at 10,000)",
                count,
                GUARD_WINDOW // 60,
                bot_key(key),
            )

    @abstractmethod
    async def _change(
        self, key: str, budget: Budget | None, change: Callable[[PaceState, float], T]
    ) -> T:
        """Run ``change`` on the state of ``key`` at the current time, atomically; its result."""

    def bot_budget(self, key: str) -> Budget | None:
        """The bot-wide budget chat ``key`` spends too; None for a bot-wide key itself."""
        prefix, _, rest = key.partition(":")
        return None if rest == "*" else self.bot_wide(prefix)

    def turn(self, key: str, priority: Priority, since: float) -> Turn:
        """A place in this process's line for the bot-wide budget of chat ``key``'s platform:
        awaited, True once the write may go bot-wide (see :class:`core.gate.BotGate`).
        ``since``: when the reply last wrote (its edits go oldest first)."""
        prefix = bot_key(key)
        if self.bot_budget(key) is None:
            return Turn.granted()
        gate = self._gates.get(prefix)
        if gate is None:

            async def leased(answers: int, edits: int) -> Lease:
                return await self._lease(key, answers, edits)

            gate = self._gates[prefix] = BotGate(leased, self.clock, self.sleep, self.tick)
        return gate.turn(priority, since)

    async def _lease(self, key: str, answers: int, edits: int) -> Lease:
        """Lease bot-wide writes for chat ``key``'s platform (see :func:`lease`)."""
        budget = self.bot_budget(key)
        if budget is None:
            return Lease(answers, edits, 0.0)

        def change(state: PaceState, now: float) -> Lease:
            self._saw(bot_key(key), state)
            return lease(state, budget, now, answers=answers, edits=edits, tick=self.tick)

        return await self._change(bot_key(key), budget, change)

    async def take(self, key: str, budget: Budget, *, final: bool) -> float:
        """Claim one write in chat ``key``: 0.0 when granted, else the seconds to wait first.
        The chat's budget only: the write holds its :meth:`turn` of the bot-wide one already."""
        return await self._change(
            key, budget, lambda state, now: take(state, budget, now, final=final)
        )

    async def observe(self, key: str, remaining: int, reset_after: float) -> None:
        """Record what the platform said about the chat's window (rate-limit headers)."""

        def change(state: PaceState, now: float) -> float:
            observe(state, now, remaining, reset_after)
            return 0.0

        await self._change(key, None, change)

    async def flooded(self, key: str, retry_after: float, *, budget: Budget | None = None) -> None:
        """Record that the platform refused a write in chat ``key`` for ``retry_after`` s.

        With the chat's ``budget``, the platform did not say whether the wait is the chat's or
        the whole bot's (Telegram): :func:`bot_flood` decides. A bot-wide wait pauses every
        chat of the platform, in every process."""
        bot = None if budget is None else self.bot_budget(key)
        if budget is not None and bot is not None:
            seen = await self._change(bot_key(key), bot, lambda state, now: state)
            whole = await self._change(
                key,
                budget,
                lambda state, now: bot_flood(state, budget, seen, bot, now, retry_after),
            )
            if whole:
                log.info(
                    "flood wait of %.1fs in %s is the bot's: every chat waits", retry_after, key
                )
                key = bot_key(key)

        def change(state: PaceState, now: float) -> float:
            flooded(state, now, retry_after)
            return 0.0

        await self._change(key, None, change)
        gate = self._gates.get(key)
        if gate is not None:  # this process stops at once; the others at their next lease
            gate.pause()


class PacingBoard(Pacing):
    """The local form: the state of every chat this process writes to, in memory."""

    def __init__(
        self,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        bot_wide: BotWide | None = None,
        tick: float = TICK,
    ) -> None:
        super().__init__(clock, sleep, bot_wide, tick)
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

    async def _change(
        self, key: str, budget: Budget | None, change: Callable[[PaceState, float], T]
    ) -> T:
        return change(self.state(key, budget), self.clock())

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
        tick: float = TICK,
    ) -> None:
        super().__init__(clock, sleep, bot_wide, tick)
        self._store = store
        self._local = PacingBoard(clock, sleep)

    async def _change(
        self, key: str, budget: Budget | None, change: Callable[[PaceState, float], T]
    ) -> T:
        # The store runs ``apply`` atomically on the chat's state; the TTL outlives any window.
        ttl = (budget.window if budget else 60.0) * MAX_SLOW + 60.0
        if key == bot_key(key):  # a bot-wide state keeps the guard's refusals
            ttl = max(ttl, GUARD_WINDOW + 60.0)

        def apply(raw: str | None) -> tuple[str, T]:
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

    async def observe(self, key: str, remaining: int, reset_after: float) -> None:
        """Record the platform's count for every process, when it can gate a write: a count
        above :data:`OBSERVED_BINDS` cannot, so it costs no store trip (most answers say so),
        and a lower count recorded earlier lapses at its own reset."""
        if remaining <= OBSERVED_BINDS:
            await super().observe(key, remaining, reset_after)
