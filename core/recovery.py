"""Recovery: finish what a dead process left in the journal, without sending a prompt twice.

It runs at start-up, every few seconds after, and at once when a turn finds a dead process's
message ahead. A record still ``received`` provably never went upstream (``sent`` is written
right before the prompt's POST; a process killed while it created the conversation or waited
its turn left it received): it is relayed now. A record ``sent`` or ``streaming`` is looked up
in the upstream's stored history: found, the platform messages are brought up to the whole
reply; not found, the partial text ends with a short notice that the reply was interrupted.
Meanwhile recovery holds the channel's turn, so no new reply streams beside the one it
finishes. A process never takes over a record it still works on itself: its liveness may have
lapsed through a store outage while the reply went on, or finished with its release deferred.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from core import notices
from core.errors import StoreUnavailable, WriteUncertain
from core.notify import Notifier
from core.pacing import Pacing
from core.records import JournalRecord, State, ticket_of
from core.render import RenderResult, ReplyRenderer, ended_with
from core.store.base import Store
from core.surface import Rebuild, Surface
from core.tasks import cancel
from core.turns import KEEP_RETRY, Turns
from core.upstream import Upstream

log = logging.getLogger(__name__)

SETTLE_MARGIN = 0.5  # for a renewal's round-trip, beyond its retry period

Resume = Callable[[JournalRecord, Surface], Awaitable[object]]
"""Relays a record that never went upstream (:meth:`core.relay.Relay.resume`)."""


class Recovery:
    """Takes over lapsed journal records for this process (one instance per process)."""

    def __init__(
        self,
        *,
        store: Store,
        turns: Turns,
        upstream: Upstream,
        notifier: Notifier,
        pacing: Pacing,
        resume: Resume,
        rebuilders: Mapping[str, Rebuild] | None = None,
    ) -> None:
        self._store = store
        self._turns = turns
        self._upstream = upstream
        self._notifier = notifier
        self._pacing = pacing
        self._resume = resume
        self._rebuilders = dict(rebuilders or {})
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._away_at: float | None = None
        turns.on_lapsed(self._wake.set)

    def add_platform(self, platform: str, rebuild: Rebuild) -> None:
        """Let recovery write into ``platform``'s chats."""
        self._rebuilders[platform] = rebuild

    def start(self) -> None:
        """Run passes every third of the lease, until :meth:`stop`. The first waits for the
        live processes' renewals: a process just started cannot tell a dead process from a
        live one whose renewal is late because the store has only just come back."""
        self.store_away()
        self._loop = asyncio.create_task(self._run(), name="recovery")

    async def stop(self) -> None:
        """Stop looking; replies being recovered are the relay's drain to finish."""
        await cancel(self._loop)

    async def _run(self) -> None:
        every = self._turns.lease_ttl / 3
        while not self._turns.closing:
            try:
                await self.run_once()
            except StoreUnavailable:
                log.debug("recovery pass skipped: store unreachable")
            except Exception:
                log.exception("recovery pass failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._wake.wait()
            self._wake.clear()

    def store_away(self) -> None:
        """The store did not answer. Every process's liveness may lapse with it, live ones'
        too: records are taken over again only once each live process had its renewal."""
        self._away_at = time.monotonic()

    def _settling(self) -> bool:
        """Whether the store came back too recently to tell a dead process from a live one
        whose renewal (retried every :data:`~core.turns.KEEP_RETRY` s) has not landed yet."""
        if self._away_at is None:
            return False
        settle = self._turns.lease_ttl / 3 + KEEP_RETRY + SETTLE_MARGIN
        return time.monotonic() - self._away_at < settle

    async def run_once(self) -> int:
        """Take over every lapsed record this process can write to; how many it took.

        One channel's records are finished oldest first, one after the other, so a reply cut
        off by the crash is settled before the message queued behind it is answered. Just
        after a store outage nothing is taken (:meth:`store_away`).
        """
        if self._settling():
            return 0
        taken: dict[str, list[tuple[JournalRecord, Surface]]] = {}
        try:
            lapsed = sorted(await self._store.journal_lapsed(), key=lambda r: r.created)
        except StoreUnavailable:
            self.store_away()
            raise
        for record in lapsed:
            if self._turns.closing:
                break
            rebuild = self._rebuilders.get(record.platform)
            if rebuild is None:
                continue  # another process runs that platform
            if self._turns.handling(record.owner):
                continue  # this process's own live or unsettled work
            surface = rebuild(record.channel, record.target)
            if surface is None:
                continue
            mine = ticket_of(self._turns.owner, record.message_id)
            # Known as this process's before the store renames the ticket in the queue: a
            # message of this process polling there meanwhile must not take it for stranded.
            with self._turns.admitting(mine):
                if not await self._store.journal_claim(record, mine, self._turns.lease_ttl):
                    continue
                self._turns.took_over(mine)
            log.info(
                "recovering a %s message", record.state.value, extra={"channel": record.channel}
            )
            claimed = record.moved(record.state, owner=mine)
            taken.setdefault(record.channel, []).append((claimed, surface))
        for records in taken.values():
            task = asyncio.create_task(self._recover_in_order(records))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return sum(len(records) for records in taken.values())

    async def _recover_in_order(self, records: list[tuple[JournalRecord, Surface]]) -> None:
        for record, surface in records:
            await self._recover(record, surface)

    @property
    def in_flight(self) -> set[asyncio.Task[None]]:
        """The recoveries running now (a shutdown drains them with the replies)."""
        return set(self._tasks)

    async def wait_idle(self) -> None:
        """Wait for the recoveries started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _recover(self, record: JournalRecord, surface: Surface) -> None:
        try:
            if record.state is State.RECEIVED:
                await self._resume(record, surface)
            else:
                await self.complete(record, surface)
        except Exception:
            log.exception("recovery failed", extra={"channel": record.channel})

    async def complete(self, record: JournalRecord, surface: Surface) -> None:
        """A reply whose prompt went upstream: show the stored reply whole, or say it was lost.

        The claim gave this process the channel's turn: it is renewed meanwhile and given back
        at the end, whatever happened, so a failure here never blocks the channel.
        """
        with self._turns.alive_in(record.channel, record.owner):
            cut = False
            try:
                await self._complete(record, surface)
            except asyncio.CancelledError:
                cut = True  # by the process's exit: the record stays as it is, for the next
                raise
            finally:
                if cut:
                    await self._turns.hand_back(record.channel, record.owner)
                else:
                    await self._close(record)

    async def _complete(self, record: JournalRecord, surface: Surface) -> None:
        if record.stopped:
            log.info("a stopped reply: left as it was")
            return
        if record.final:
            # Its final write was being retried: the whole text is in the record.
            adopted = [surface.adopt(ref) if ref else None for ref in record.handles]
            notice = self._notifier.render(notices.failed(), backend=record.backend or None)
            await self._render(surface, record.final, adopted, lambda _exc: notice)
            log.info("reply's final text written from the journal")
            return
        backend_name, remote = record.backend, record.remote
        if not remote:
            # Died between taking its turn and the first write: the channel's binding is it.
            with contextlib.suppress(StoreUnavailable):
                binding = await self._store.get_binding(record.channel)
                if binding is not None:
                    backend_name, remote = binding.backend, binding.remote
        backend = self._upstream.backend(backend_name)
        stored = None
        if backend is not None and remote:
            stored = await self._upstream.find_reply(backend, remote, record.text)
        if stored is not None and backend is not None:
            adopted = [surface.adopt(ref) if ref else None for ref in record.handles]
            notice_for = functools.partial(self._upstream.notice_for, backend)
            await self._render(surface, stored, adopted, notice_for)
            log.info("reply recovered from the upstream's history")
        elif await self._end_with_notice(record, surface):
            log.info("reply not stored upstream; its text ends with the interrupted notice")
        else:
            # Held: the record stays open until the notice landed, so a kill meanwhile leaves
            # it to the next process rather than losing it.
            await self._notifier.notify(surface, notices.reply_lost(), hold=True)
            log.info("reply not stored upstream; user told it was interrupted")

    async def _end_with_notice(self, record: JournalRecord, surface: Surface) -> bool:
        """End the partial text with the interrupted notice, in its own last message, as the
        renderer ends a reply cut off in flight. False when that cannot be done: no text or
        handle was stored, it would not fit, or the edit did not land."""
        try:
            shown = await self._store.journal_shown(record.channel, record.message_id)
        except StoreUnavailable:
            return False
        # The stored text must be of the last message the record names (a later message may
        # have opened since): else the notice goes below, leaving the text as it is.
        if shown is None or not shown.ref or record.handles[-1:] != [shown.ref]:
            return False
        handle = surface.adopt(shown.ref)
        notice = self._notifier.render(notices.reply_lost(), backend=record.backend or None)
        text = ended_with(shown.text, notice)
        if handle is None or not shown.text.strip() or surface.measure(text) > surface.max_length:
            return False
        result = await self._render(surface, text, [handle], lambda _exc: notice)
        return result.error is None or isinstance(result.error, WriteUncertain)

    async def _render(
        self,
        surface: Surface,
        text: str,
        adopted: list[object | None],
        notice_for: Callable[[BaseException], str],
    ) -> RenderResult:
        """Bring the messages a dead process wrote up to ``text``, as a final (formatted)."""
        renderer = ReplyRenderer(surface, self._pacing, notice_for=notice_for, adopted=adopted)
        return await renderer.render(_once(text))

    async def _close(self, record: JournalRecord) -> None:
        """Mark the record done and give the channel's turn back."""
        await self._turns.release(record.channel, record.owner, record.moved(State.DONE))


async def _once(text: str) -> AsyncIterator[str]:
    yield text
