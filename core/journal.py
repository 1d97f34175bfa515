"""The reply journal: one record per admitted message, so a crash never loses or strands it.

A record moves received (the prompt has not left: after a crash it is relayed again) → sent
(written right before the prompt's POST: after a crash the reply is looked up upstream) →
streaming (platform messages exist) → done, and is written only at those changes, never per
chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from core.records import JournalRecord, Shown, State
from core.retry import retry_store
from core.store.base import Store

log = logging.getLogger(__name__)

PENDING_RETRY_FIRST = 1.0  # a journal write the store did not take is tried again after this...
PENDING_RETRY_MAX = 5.0  # ...backing off to this, until it lands or the release takes over


class JournalWriter:
    """Writes one message's state changes in order, off the reply's path: the reply never waits
    for the store. A write the store did not take stays pending (superseded by a newer one)
    and is tried again until it lands or the release takes over: the release carries the
    newest record."""

    def __init__(self, store: Store, record: JournalRecord) -> None:
        self._store = store
        self.record = record
        self._pending: tuple[JournalRecord, Shown | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._order = asyncio.Lock()  # one write at a time, oldest first
        self._closing = asyncio.Event()
        self.posted = False
        """True once the prompt may have gone upstream."""

    def later(self, state: State, *, shown: Shown | None = None, **changes: object) -> None:
        """Record a state change (with what the open message shows) in the background; only
        the newest pending one is written."""
        self.record = self.record.moved(state, **changes)
        self._pending = (self.record, shown)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def now(self, state: State, **changes: object) -> bool:
        """Record a state change that must be stored before the caller goes on (e.g. sent,
        before the POST); False when the store stayed unreachable (then it is not pending)."""
        self.record = self.record.moved(state, **changes)
        self._pending = None  # superseded by this one
        async with self._order:
            return await retry_store(functools.partial(self._store.journal_put, self.record))

    async def _drain(self) -> None:
        gap = PENDING_RETRY_FIRST
        held = False
        while not self._closing.is_set():
            async with self._order:
                if self._pending is None:
                    break
                (record, shown), self._pending = self._pending, None
                landed = await retry_store(
                    functools.partial(self._store.journal_put, record, shown)
                )
            if landed:
                if held:
                    log.info("journal write stored after the outage", extra=_at(record))
                held, gap = False, PENDING_RETRY_FIRST
                continue
            if not held:
                log.warning(
                    "journal write held (store unreachable): %s %s",
                    record.state.value,
                    record.message_id,
                    extra=_at(record),
                )
                held = True
            if self._pending is None and self.record is record:
                self._pending = (record, shown)  # nothing newer came (or was written) meanwhile
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(gap):
                    await self._closing.wait()
            gap = min(gap * 2, PENDING_RETRY_MAX)

    async def flush(self) -> None:
        """Wait for the write in flight, and stop trying the pending one: the release that
        follows stores the newest record (and is itself deferred through an outage)."""
        self._closing.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        self._closing.clear()


def _at(record: JournalRecord) -> dict[str, str]:
    return {"channel": record.channel}
