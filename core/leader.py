"""One process among several does a job only one may do (Telegram long polling); the others
stand by and take over within two periods when it stops.

The lease is a chain of claims, one per period of wall-clock time: the leader claims the next
period's key while in the current one; a process that wins the claim of the current period leads
from then on. Built on :meth:`Store.claim` alone, so it works the same on every store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from core.errors import StoreUnavailable
from core.store.base import Store
from core.tasks import cancel

log = logging.getLogger(__name__)

DEFAULT_PERIOD = 4.0  # a new poller takes over within two periods of the last one stopping


class Leadership:
    """Runs ``lead`` while this process holds the lease named ``name``, ``follow`` when it stops.

    Clocks of the processes must agree to well within ``period`` (NTP does).
    """

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        lead: Callable[[], Awaitable[None]],
        follow: Callable[[], Awaitable[None]],
        period: float = DEFAULT_PERIOD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._name = name
        self._lead = lead
        self._follow = follow
        self._period = period
        self._clock = clock
        self._held: set[int] = set()  # periods whose claim this process won
        self._leading = False
        self._task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        """True while this process holds the lease (and its job runs)."""
        return self._leading

    async def start(self) -> None:
        """Try once at once (so a lone process leads before this returns), then keep watching."""
        await self.check()
        self._task = asyncio.create_task(self._watch(), name=f"lease-{self._name}")

    async def stop(self) -> None:
        """Stop watching and stop the job; the lease lapses within two periods."""
        task, self._task = self._task, None
        await cancel(task)
        if self._leading:
            self._leading = False
            await self._follow()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._period / 4)
            try:
                await self.check()
            except Exception:
                log.exception("lease %s: check failed", self._name)

    async def check(self) -> None:
        """One check: keep (or take) the lease, start or stop the job accordingly."""
        now = int(self._clock() // self._period)
        self._held = {p for p in self._held if p >= now}
        try:
            if now not in self._held and await self._claim(now):
                self._held.add(now)
            if now in self._held and now + 1 not in self._held and await self._claim(now + 1):
                self._held.add(now + 1)
        except StoreUnavailable:
            return  # keep doing what we do; the lease decides again once the store answers
        should_lead = now in self._held
        if should_lead and not self._leading:
            await self._lead()
            self._leading = True
            log.info("lease %s: this process leads", self._name)
        elif not should_lead and self._leading:
            self._leading = False
            log.info("lease %s: another process leads; standing by", self._name)
            await self._follow()

    async def _claim(self, period: int) -> bool:
        return await self._store.claim(f"lease:{self._name}:{period}", 3 * self._period)
