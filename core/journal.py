"""The reply journal: one record per admitted message, so a crash never loses or strands it.

A record moves received → sent (the POST may have gone out) → streaming (platform messages
exist) → done, and is written only at those changes, never per chunk.
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


async def write_with_retry(store: Store, record: JournalRecord, shown: Shown | None = None) -> bool:
    """Write a record (and what its open message shows); a brief outage is retried, a longer
    one costs one log line, never an error."""
    if await retry_store(functools.partial(store.journal_put, record, shown)):
        return True
    log.warning(
        "journal write dropped (store unreachable): %s %s",
        record.state.value,
        record.message_id,
        extra={"channel": record.channel},
    )
    return False


class JournalWriter:
    """Writes one message's state changes in order, off the reply's path: the reply never waits
    for the store, and a store outage only drops a record with a log line."""

    def __init__(self, store: Store, record: JournalRecord) -> None:
        self._store = store
        self.record = record
        self._pending: tuple[JournalRecord, Shown | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.posted = False
        """True once the prompt may have gone upstream."""

    def later(self, state: State, *, shown: Shown | None = None, **changes: object) -> None:
        """Record a state change (with what the open message shows) in the background; only
        the newest pending one is written."""
        self.record = self.record.moved(state, **changes)
        self._pending = (self.record, shown)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending is not None:
            (record, shown), self._pending = self._pending, None
            await write_with_retry(self._store, record, shown)

    async def flush(self) -> None:
        """Wait for the background writes."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
