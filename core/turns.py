"""A channel's turn: one reply at a time per channel, within this process and across processes.

This process's side of each channel it is busy in (admission in arrival order, one local waiter
polling the store's queue), the keeper that renews its leases and liveness and stores what open
messages show, and the release of a turn, deferred through a store outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Container, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from core.config import RelaySettings
from core.errors import StoreUnavailable
from core.journal import JournalWriter
from core.live import Current, current
from core.records import JournalRecord, Shown, State, process_of
from core.render import ReplyRenderer
from core.retry import retry_store
from core.store.base import Store
from core.surface import Surface
from core.tasks import cancel

log = logging.getLogger(__name__)

TURN_POLL_FIRST = 0.02  # a waiter's first look at another process's turn comes quickly...
TURN_POLL_MAX = 0.25  # ...then backs off to this; only one waiter per channel and process polls
KEEP_RETRY = 1.0  # a lease renewal the store did not answer is tried again this soon


class Wait(StrEnum):
    """How waiting for a channel's turn ended."""

    TAKEN = "taken"
    TIMED_OUT = "timed_out"
    """Another process kept it past ``lock_wait``."""
    STOPPING = "stopping"
    """The process began to stop while waiting."""
    GONE = "gone"
    """The message went upstream inside an earlier one, or was deleted, while it waited: it
    takes no turn."""


@dataclass(slots=True, eq=False)
class Channel:
    """This process's side of one channel: admission in arrival order, one local waiter polling
    the store's turn at a time, and the liveness that keeps other processes from recovering it."""

    key: str
    intake: asyncio.Lock = field(default_factory=asyncio.Lock)
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: int = 0
    holding: str | None = None
    """The ticket holding the channel's lease now (renewed by the keeper)."""
    reply: tuple[ReplyRenderer, Surface] | None = None
    """The reply that ticket shows: the keeper stores what its open message shows."""
    stored: Shown | None = None
    """What was last stored of it."""

    def showing_now(self) -> Shown:
        """What the reply's open message shows, noted as stored (a journal write carries it)."""
        self.stored = _open_message(*self.reply) if self.reply else Shown("", "")
        return self.stored


class Turns:
    """Every channel this process is busy in: its turns, their leases and their releases."""

    def __init__(self, *, store: Store, settings: RelaySettings | Current[RelaySettings]) -> None:
        self._store = store
        self._settings = current(settings)
        self._channels: dict[str, Channel] = {}
        self._stopping = asyncio.Event()
        self._left: set[str] = set()
        self._on_lapsed: Callable[[], None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._also_alive: dict[str, int] = {}
        self._also_holding: dict[str, str] = {}
        self._unfinished: list[tuple[str, str, JournalRecord | None]] = []
        self._retrying = asyncio.Lock()
        self._live: set[str] = set()
        self._admitting: set[str] = set()
        self.owner = uuid.uuid4().hex[:12]
        """This process's name in tickets and liveness keys."""
        # Fixed for the process's life: every process of a deployment must agree on it.
        self.lease_ttl = self._settings().lock_ttl

    @property
    def closing(self) -> bool:
        """True once :meth:`stop` was called: no turn is taken any more."""
        return self._stopping.is_set()

    def on_lapsed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when a turn finds a dead process's message ahead (to recover it)."""
        self._on_lapsed = callback

    @contextlib.contextmanager
    def place(self, key: str) -> Iterator[Channel]:
        """This process's side of channel ``key`` while a message is in it. Taken before any
        await, so arrival order is admission order."""
        channel = self._channels.setdefault(key, Channel(key))
        channel.pending += 1
        try:
            yield channel
        finally:
            channel.pending -= 1
            if channel.pending == 0 and self._channels.get(key) is channel:
                del self._channels[key]

    def admitted(
        self, channel: Channel, journal: JournalWriter, *, turn: bool, sent: bool = False
    ) -> None:
        """The store admitted the journal's message: this process stays alive in the channel
        from now on, and handles the message until its release lands. With ``turn`` the
        message holds the turn already; with ``sent`` its record reads sent (the store wrote
        it so in the same round-trip: the POST follows at once)."""
        self._keep()
        self._live.add(journal.record.owner)
        if turn:
            channel.holding = journal.record.owner
        if sent:
            journal.record = journal.record.moved(State.SENT)

    @contextlib.contextmanager
    def admitting(self, ticket: str) -> Iterator[None]:
        """The store is asked to admit ``ticket``, or to put it in a dead ticket's place,
        meanwhile: if it stands in the queue already, it is this process's (see
        :func:`stranded`)."""
        self._admitting.add(ticket)
        try:
            yield
        finally:
            self._admitting.discard(ticket)

    async def withdraw(self, channel: Channel, journal: JournalWriter) -> None:
        """The admission of the journal's message failed, and its outcome is unknown: the
        store may have queued it (and taken the turn) before the error. Its ticket leaves the
        queue and lease and its record is closed, or this process, alive in the channel for
        its other messages, would keep a ticket there that it neither serves nor releases.
        Through an outage the release is deferred as any other."""
        await self.release(channel.key, journal.record.owner, journal.record.moved(State.DONE))

    def took_over(self, ticket: str) -> None:
        """Recovery claimed a record for ``ticket`` (in its old place in the queue): this
        process handles it from now on, until its release is stored."""
        self._live.add(ticket)
        self._keep()

    def handling(self, ticket: str) -> bool:
        """Whether this process still works on ``ticket``'s message: admitted (or taken over)
        and its release not yet stored. Recovery leaves such a record alone, even when the
        process's liveness lapsed through a store outage."""
        return ticket in self._live

    @contextlib.asynccontextmanager
    async def turn(
        self,
        channel: Channel,
        journal: JournalWriter,
        *,
        held: bool,
        skip: Callable[[], bool] = lambda: False,
        resumed: bool = False,
    ) -> AsyncIterator[Wait]:
        """Hold the channel's turn meanwhile: after this process's previous message in it, then
        (unless ``held`` already) after the store's queue; says how the wait ended. A message
        ``skip`` says is gone once the previous one is done takes no turn in the store.

        A ``resumed`` message (a dead process's, taken over in its place in the store's queue)
        waits for the store's queue alone: this process's messages that came after it may be
        waiting there behind it already."""
        if resumed:
            yield Wait.TAKEN if held else await self._wait_turn(channel, journal)
            return
        if not await self._local_turn(channel):
            yield Wait.STOPPING
            return
        try:
            if skip():
                yield Wait.GONE
            else:
                yield Wait.TAKEN if held else await self._wait_turn(channel, journal)
        finally:
            channel.turn.release()

    @contextlib.contextmanager
    def showing(
        self, channel: Channel, renderer: ReplyRenderer, surface: Surface
    ) -> Iterator[None]:
        """``renderer`` shows the reply of the channel's turn meanwhile: the lease renewals
        store what its open message shows."""
        channel.reply, channel.stored = (renderer, surface), None
        try:
            yield
        finally:
            channel.reply = None

    async def finish(self, channel: Channel, journal: JournalWriter, *, leave: bool) -> None:
        """Give the turn back and close the record; with ``leave``, leave the message in the
        journal for the next process."""
        await journal.flush()
        ticket = journal.record.owner
        if channel.holding == ticket:
            channel.holding = None
        record: JournalRecord | None = journal.record.moved(State.DONE)
        if leave:
            self._left.add(channel.key)
            # Left for the next process: it never went upstream, so it reads "received" again.
            record = None if journal.posted else journal.record.moved(State.RECEIVED)
        await self.release(channel.key, ticket, record)

    async def hand_back(self, channel: str, ticket: str) -> None:
        """Give up ``ticket``'s turn at shutdown, its record left as it is: the next process
        takes it over as soon as this one retires."""
        self._left.add(channel)
        await self.release(channel, ticket, None)

    async def release(self, channel: str, ticket: str, record: JournalRecord | None) -> None:
        """Leave the channel's queue and lease, storing ``record``. Through a store outage the
        release waits in order for the next turn or keeper tick, while this process stays alive
        in the channel."""
        if await retry_store(functools.partial(self._store.finish, channel, ticket, record)):
            self._live.discard(ticket)
            return
        log.warning("turn release deferred (store unreachable)", extra={"channel": channel})
        self._unfinished.append((channel, ticket, record))
        self._keep()

    @contextlib.contextmanager
    def alive_in(self, channel: str, ticket: str | None = None) -> Iterator[None]:
        """Keep this process alive in ``channel`` meanwhile, and the lease of ``ticket`` renewed
        (recovery of a record taken over)."""
        self._also_alive[channel] = self._also_alive.get(channel, 0) + 1
        if ticket is not None:
            self._also_holding[channel] = ticket
            self._live.add(ticket)
        self._keep()
        try:
            yield
        finally:
            self._also_alive[channel] -= 1
            if not self._also_alive[channel]:
                del self._also_alive[channel]
            if self._also_holding.get(channel) == ticket:
                self._also_holding.pop(channel, None)

    def stop(self) -> None:
        """Take no turn from now on; waiters give up theirs at once."""
        self._stopping.set()

    async def retire(self) -> None:
        """Stop renewing, and hand the messages left queued to the next process at once."""
        if self._keeper is not None:
            self._keeper.cancel()
        if self._left:
            try:
                await self._store.retire(sorted(self._left), self.owner)
            except StoreUnavailable:
                log.warning("store unreachable: queued messages resume after their lease lapses")

    async def aclose(self) -> None:
        """Stop renewing leases (the process is going away)."""
        await cancel(self._keeper)

    async def _local_turn(self, channel: Channel) -> bool:
        """Wait for this process's previous message in the channel; False on shutdown."""
        if not channel.turn.locked():
            await channel.turn.acquire()
            return True
        acquire = asyncio.ensure_future(channel.turn.acquire())
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({acquire, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not acquire.done():
            await cancel(acquire)
        if acquire.done() and not acquire.cancelled():
            if not self.closing:
                return True
            channel.turn.release()
        return False

    async def _wait_turn(self, channel: Channel, journal: JournalWriter) -> Wait:
        """Another process (or a dead one) is ahead in the store's queue: wait for our turn.

        The record still reads received once the turn is taken: the relay writes it sent right
        before the POST. A store outage while waiting is waited out too.
        """
        ticket = journal.record.owner
        delay = TURN_POLL_FIRST
        try:
            async with asyncio.timeout(self._settings().lock_wait):
                while not self.closing:
                    await self._retry_unfinished()
                    if await self._try_turn(channel.key, ticket):
                        channel.holding = ticket
                        return Wait.TAKEN
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._stopping.wait()
                    delay = min(delay * 2, TURN_POLL_MAX)
        except TimeoutError:
            return Wait.TIMED_OUT
        return Wait.STOPPING

    async def _try_turn(self, channel: str, ticket: str) -> bool:
        try:
            turn = await self._store.take_turn(channel, ticket, self.lease_ttl)
        except StoreUnavailable:
            return False
        if turn.lapsed:
            log.info("found %d message(s) of a stopped process", len(turn.lapsed))
            if self._on_lapsed is not None:
                self._on_lapsed()
        if turn.ahead is not None and stranded(turn.ahead, self.owner, self._known()):
            # Left by a store that lost or replayed writes in a failover: nothing of this
            # process serves it or will release it, so it goes now (the next poll takes over).
            log.warning("a ticket of this process no message holds was first: removed")
            with contextlib.suppress(StoreUnavailable):
                await self._store.finish(channel, turn.ahead, None)
        return turn.acquired

    def _known(self) -> set[str]:
        """This process's tickets that some message of it stands behind: being admitted,
        admitted or taken over, or released but the release not yet stored."""
        return self._live | self._admitting | {ticket for _, ticket, _ in self._unfinished}

    def _keep(self) -> None:
        """Keep this process alive in its channels (and their leases renewed) from now on."""
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_alive(), name="lease-keeper")

    async def _keep_alive(self) -> None:
        """One round-trip per tick renews every channel this process is busy in; through a
        store outage it looks every second, so liveness is back as soon as the store is."""
        every = pause = self.lease_ttl / 3
        while True:
            await asyncio.sleep(pause)
            pause = every
            await self._retry_unfinished()
            channels: dict[str, str | None] = dict.fromkeys(self._also_alive)
            channels.update(dict.fromkeys(c for c, _, _ in self._unfinished))
            channels.update((c, state.holding) for c, state in self._channels.items())
            for channel, recovering in self._also_holding.items():
                channels[channel] = channels.get(channel) or recovering
            if not channels:
                continue
            shown = self._shown_now()
            try:
                kept = await self._store.keep_alive(self.owner, channels, self.lease_ttl, shown)
            except StoreUnavailable:
                log.debug("lease renewal failed: store unreachable")
                pause = min(every, KEEP_RETRY)
                continue
            for channel, text in shown.items():
                if kept.get(channel) and (state := self._channels.get(channel)) is not None:
                    state.stored = text
            for channel, ok in kept.items():
                state = self._channels.get(channel)
                ticket = channels[channel]
                if not ok and ticket and state is not None and state.holding == ticket:
                    log.warning("lease in %s lapsed while replying", channel)

    def _shown_now(self) -> dict[str, Shown]:
        """What each reply's open message shows, where it changed since last stored: the lease
        renewal carries it (no write of its own). Between two messages nothing is open, and
        recovery then leaves the text alone."""
        shown: dict[str, Shown] = {}
        for key, channel in self._channels.items():
            if channel.reply is None or channel.holding is None:
                continue
            text = _open_message(*channel.reply)
            if text != channel.stored and (channel.stored is not None or text.ref):
                shown[key] = text
        return shown

    async def _retry_unfinished(self) -> None:
        """Releases the store did not take during an outage, in order, before the next turn
        and on every keeper tick (while they wait, this process stays alive in the channel).
        One caller at a time: the keeper and every waiting turn may ask at once."""
        async with self._retrying:
            while self._unfinished:
                channel, ticket, record = self._unfinished[0]
                try:
                    await self._store.finish(channel, ticket, record)
                except StoreUnavailable:
                    return
                self._unfinished.pop(0)
                self._live.discard(ticket)


def stranded(ahead: str, owner: str, known: Container[str]) -> bool:
    """Whether ``ahead``, first in a channel's line, is a ticket of this process (``owner``)
    that none of its messages stands behind (``known`` are those some message does). Such a
    ticket would block the channel for good: this process stays alive in it, so nobody
    recovers it, and nothing of this process serves or releases it."""
    return process_of(ahead) == owner and ahead not in known


def _open_message(renderer: ReplyRenderer, surface: Surface) -> Shown:
    """The reply's open message as the journal keeps it (no ref between two messages)."""
    handle, text = renderer.open_message
    ref = surface.ref(handle) if handle is not None else ""
    return Shown(ref, text) if ref else Shown("", "")
