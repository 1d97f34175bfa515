"""Allowances on a message's path through the relay: one over a limit is refused (its author
told once per chat and window, then silence), a charge the upstream provably never took is
given back, and a plan that fills up is told to the admins (core.alerts)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from core import allowances
from core.alerts import PlanAlerts
from core.config import AllowanceSettings
from core.errors import StoreUnavailable
from core.live import Current, current
from core.metrics import Metrics
from core.model import Incoming, Meter
from core.notify import Notifier
from core.store.base import Store
from core.surface import Surface

log = logging.getLogger(__name__)


def refund_due(*, charged: bool, left: bool, sent: bool, error: BaseException | None) -> bool:
    """Whether a message's charge goes back: it was charged now, is not left in the journal for
    the next process (which goes on without a new charge), and never went upstream (refused
    before sending) or provably was not taken there (:func:`core.allowances.refundable`)."""
    if not charged or left:
        return False
    return not sent or (error is not None and allowances.refundable(error))


class Metering:
    """The relay's side of the allowances (one instance per process)."""

    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        settings: AllowanceSettings | Current[AllowanceSettings],
        metrics: Metrics | None = None,
        alerts: PlanAlerts | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._settings = current(settings)
        self._metrics = metrics or Metrics()
        self._clock = clock
        self.alerts = alerts

    async def refuse(self, meter: Meter, msg: Incoming, surface: Surface) -> None:
        """``msg`` is over ``meter``: counted, and its author told which limit and when it
        starts again, unless they were told in this chat and window already."""
        self._metrics.allowance_refusals.labels(meter.scope.value).inc()
        key, ttl = allowances.notice_claim(meter, msg.author, msg.channel, self._clock())
        try:
            first = await self._store.claim(key, ttl)
        except StoreUnavailable:
            return  # silence rather than a notice per message while the claim cannot be made
        if not first:
            return
        notice = allowances.refusal(meter, self._settings())
        backend = meter.key if meter.scope is allowances.MeterScope.PLAN else None
        await self._notifier.notify(surface, self._notifier.render(notice, backend=backend))

    def charged(self, meters: Sequence[Meter], used: Sequence[int]) -> None:
        """A message was charged: tell the admins of the plan shares it crossed."""
        if used and self.alerts is not None:
            self.alerts.charged(meters, used)

    async def give_back(self, meters: Sequence[Meter], channel: str, message_id: str) -> None:
        """Refund a charge the upstream never took (at most once per message)."""
        try:
            await self._store.refund(meters, channel, message_id)
        except StoreUnavailable:
            log.warning("allowance charge not given back: store unreachable")
