"""One process's line for a platform's bot-wide write budget.

Writes that must wait for the bot-wide budget wait here, each in its place: a reply's first
message and final text first, then notices, then streaming edits, among which the reply that
wrote longest ago, and had fewest writes, goes first (:func:`edit_place`), so every reply
streaming at that moment gets its turn and no reply gets many more than the rest. The line is
fed by leases (:func:`core.pacing.lease`): one store trip brings a tick's worth of writes for
the whole line, and what is not used lapses with the tick, so every process stays inside the
one budget they share.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from core.tasks import cancel

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Priority(IntEnum):
    """Who goes first when writes wait for the bot-wide budget (lower first)."""

    ANSWER = 0
    """A reply's first message or its final text."""
    NOTICE = 1
    EDIT = 2
    """A streaming edit (or draft) of a reply."""


@dataclass(frozen=True, slots=True)
class Lease:
    """Bot-wide writes granted to one process for the coming tick."""

    answers: int
    """Writes that may spend the reserve: first messages, final texts, notices."""
    edits: int
    """Streaming edits."""
    wait: float
    """When asking again may get more (0.0: everything asked for was granted)."""


EDIT_WEIGHT = 1.0
"""Seconds each write a reply made moves its streaming edits back in line. By its latest write
alone, a reply that streamed while the bot was quiet keeps the edits it got then, and the
replies that came into a busy bot get a few each: at 200 replies arriving over 24 s, the first
got 2.6 times the mean. Weighed by what each reply already had, the spread stays within 2."""


def edit_place(since: float, writes: int) -> float:
    """Where a reply's next streaming edit stands in line (earlier goes first): its latest
    write, moved back by each write it made."""
    return since + EDIT_WEIGHT * writes


Leaser = Callable[[int, int], Awaitable[Lease]]
"""Lease (answers, edits) of the bot-wide budget: what was granted, and when to ask again."""


class Turn:
    """A write's place in the line: awaited, True once it holds a write of the budget. A turn
    not used is given back with :meth:`release`; one no longer wanted is :meth:`cancel`-led."""

    __slots__ = ("_future", "_gate", "answer", "rank")

    def __init__(self, gate: BotGate | None, rank: tuple[int, float, int]) -> None:
        self._gate = gate
        self.rank = rank
        self.answer = False  # the write it holds may come from the reserve
        self._future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    @classmethod
    def granted(cls) -> Turn:
        """A turn that needs no line (no bot-wide budget)."""
        turn = cls(None, (0, 0.0, 0))
        turn._future.set_result(True)
        return turn

    @property
    def priority(self) -> Priority:
        return Priority(self.rank[0])

    def done(self) -> bool:
        """True once it holds its write (or was cancelled)."""
        return self._future.done()

    def _grant(self, answer: bool) -> None:
        self.answer = answer
        self._future.set_result(True)

    def __await__(self) -> Generator[Any, None, bool]:
        return self._future.__await__()

    def wait(self) -> asyncio.Future[bool]:
        """The future that resolves when the turn comes."""
        return self._future

    def release(self) -> None:
        """Give the write back (its chat's budget said not yet): the next in line takes it."""
        if self._gate is not None and self._future.done() and not self._future.cancelled():
            self._gate.give_back(self)
            self._gate = None

    def cancel(self) -> None:
        """Leave the line (the write changed: the stream ended); a write held is given back."""
        if self._future.done():
            self.release()
        else:
            self._future.cancel()


class BotGate:
    """The line of one platform's writes in this process, served from leased writes."""

    def __init__(self, leaser: Leaser, clock: Clock, sleep: Sleep, tick: float) -> None:
        self._lease = leaser
        self._clock = clock
        self._sleep = sleep
        self._tick = tick
        self._line: list[tuple[tuple[int, float, int], Turn]] = []
        self._order = itertools.count()
        self._answers = 0  # leased writes in hand that may come from the reserve
        self._edits = 0
        self._lapse = 0.0  # writes in hand lapse at this time
        self._pump: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def turn(self, priority: Priority, since: float) -> Turn:
        """A place in line: by ``priority``, then by ``since`` (oldest first), then arrival."""
        rank = (int(priority), since, next(self._order))
        turn = Turn(self, rank)
        heapq.heappush(self._line, (rank, turn))
        self._serve()
        if not turn.done():
            if self._pump is None or self._pump.done():
                self._pump = asyncio.create_task(self._run())
            elif priority < Priority.EDIT:
                self._wake.set()  # the reserve may have room that edits could not use
        return turn

    def waiting(self) -> tuple[int, int]:
        """Turns waiting: (answers and notices, edits)."""
        answers = edits = 0
        for _, turn in self._line:
            if turn.done():
                continue
            if turn.priority < Priority.EDIT:
                answers += 1
            else:
                edits += 1
        return answers, edits

    def pause(self) -> None:
        """A bot-wide flood wait: drop the writes in hand (the next lease says how long)."""
        self._answers = self._edits = 0

    def give_back(self, turn: Turn) -> None:
        """A write a turn held and did not use, back in hand while its lease lasts."""
        if self._clock() >= self._lapse:
            return
        if turn.answer:
            self._answers += 1
        else:
            self._edits += 1
        self._serve()

    def _serve(self) -> None:
        """Hand the writes in hand to the turns first in line."""
        if self._clock() >= self._lapse:
            self._answers = self._edits = 0
        line = self._line
        while line:
            turn = line[0][1]
            if turn.done():  # cancelled
                heapq.heappop(line)
                continue
            if turn.priority < Priority.EDIT and self._answers:
                self._answers -= 1
                answer = True
            elif self._edits:
                self._edits -= 1
                answer = False
            else:  # an edit never takes the reserve
                break
            heapq.heappop(line)
            turn._grant(answer)

    async def _run(self) -> None:
        """Lease for the turns waiting until none is left; between leases, wait as told."""
        while True:
            self._serve()
            answers, edits = self.waiting()
            if not answers + edits:
                return
            got = await self._lease(answers, edits)
            self._answers, self._edits = got.answers, got.edits
            self._lapse = self._clock() + self._tick
            self._serve()
            if got.wait > 0 and any(not t.done() for _, t in self._line):
                await self._pause_for(got.wait)

    async def _pause_for(self, seconds: float) -> None:
        """Wait ``seconds``, or less when an answer joins the line."""
        self._wake.clear()
        woken = asyncio.ensure_future(self._wake.wait())
        slept = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((woken, slept), return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel(woken, slept)
