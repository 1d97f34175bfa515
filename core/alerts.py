"""Plan alerts: when a message takes a backend's plan across an ``alert_at`` share, every admin
listed in the config hears of it once per share and window, privately, on each platform running.

Which shares, how often and what the message says are decided here; a front-end only offers a
way to write to one admin privately (:data:`TellAdmin`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from core import allowances, notices
from core.config import AllowanceSettings
from core.errors import StoreUnavailable
from core.live import Current, current
from core.model import Meter, Usage
from core.store.base import Store
from core.usage import plan_report

log = logging.getLogger(__name__)

TellAdmin = Callable[[int, str], Awaitable[None]]
"""Write ``text`` to the admin with this platform user id in a private chat."""


class PlanAlerts:
    """Tells the configured admins when a plan fills up (one instance per process)."""

    def __init__(
        self,
        *,
        store: Store,
        texts: notices.Texts,
        settings: AllowanceSettings | Current[AllowanceSettings],
        admins: Mapping[str, Sequence[int]] | Current[Mapping[str, Sequence[int]]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._texts = texts
        self._settings = current(settings)
        self._admins = current(admins)
        self._clock = clock
        self._platforms: dict[str, TellAdmin] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def add_platform(self, name: str, tell: TellAdmin) -> None:
        """A front-end that can write to its admins privately (``name`` as in the config)."""
        self._platforms[name] = tell

    def remove_platform(self, name: str) -> None:
        """The front-end stopped."""
        self._platforms.pop(name, None)

    def charged(self, meters: Sequence[Meter], used: Sequence[int]) -> None:
        """A message was charged (``used``: each meter's count after it): the shares it crossed
        are told in the background, so the message does not wait for the admins' chats."""
        crossed = allowances.plan_alerts(meters, used, self._settings().alert_at)
        for meter, share in crossed:
            task = asyncio.create_task(self._alert(meter, share, used[list(meters).index(meter)]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _alert(self, meter: Meter, share: float, used: int) -> None:
        now = self._clock()
        key, ttl = allowances.alert_claim(meter, share, now)
        try:
            if not await self._store.claim(key, ttl):
                return  # another process of the deployment tells them
        except StoreUnavailable:
            log.warning("plan alert for %s not sent: store unreachable", meter.key)
            return
        settings = self._settings()
        report = plan_report(meter, Usage(used=used), settings, now)
        notice = notices.plan_alert(f"{round(share * 100)}%", report)
        text = self._texts.render(notice, backend=meter.key)
        log.warning("plan of %s at %d of %s messages", meter.key, used, meter.limit)
        for platform in list(self._platforms):
            await self.tell_admins(platform, text)

    async def tell_admins(self, platform: str, text: str) -> None:
        """Write ``text`` privately to every admin the config lists for ``platform``, if that
        front-end runs here; one out of reach costs a log line. Never raises."""
        tell = self._platforms.get(platform)
        if tell is None:
            log.warning("the %s admins cannot be told here: %s", platform, text)
            return
        for admin in self._admins().get(platform, ()):
            try:
                await tell(admin, text)
            except Exception as exc:  # one admin's closed DMs must not keep it from the rest
                log.warning("a message to a %s admin not delivered: %r", platform, exc)
