"""What /usage, /grant and the plan alerts say: a meter's use against its limit, when its window
starts again, and when a plan runs out at the window's rate so far; read from the store."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence

from core import allowances, notices
from core.allowances import MessageFacts
from core.config import AllowanceSettings
from core.live import Current, current
from core.model import Meter, MeterScope, Usage
from core.store.base import Store
from core.windows import Limit, window_of, zone_of

TOP = 5  # the heaviest users an admin's /usage lists


def line(meter: Meter, usage: Usage, settings: AllowanceSettings) -> notices.Notice:
    """One meter's use against its limit (grants included) and when it starts again."""
    limit = None if meter.limit is None else meter.limit + usage.granted
    reset = allowances.reset_text(meter, zone_of(settings.timezone))
    return notices.usage_line(meter.scope.value, meter.key, usage.used, limit, reset)


def forecast(meter: Meter, usage: Usage, settings: AllowanceSettings, now: float) -> notices.Notice:
    """When a plan runs out at the window's rate so far, or that it lasts the window."""
    at = allowances.runs_out(meter, usage.used, now)
    when = None if at is None else allowances.local_text(at, zone_of(settings.timezone))
    return notices.plan_forecast(meter.key, when)


def plan_report(
    meter: Meter, usage: Usage, settings: AllowanceSettings, now: float
) -> notices.Notice:
    """A plan's use, limit, reset and forecast in one notice (the admins' alert)."""
    reset = allowances.reset_text(meter, zone_of(settings.timezone))
    return notices.plan_state(
        meter.key, usage.used, meter.limit or 0, reset, forecast(meter, usage, settings, now)
    )


class Ledger:
    """The allowances as the commands read and change them (one instance per process)."""

    def __init__(
        self,
        *,
        store: Store,
        settings: AllowanceSettings | Current[AllowanceSettings],
        backends: Callable[[], Sequence[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._settings = current(settings)
        self._backends = backends
        self._clock = clock

    async def report(self, facts: MessageFacts, *, admin: bool) -> list[notices.Notice]:
        """/usage: the caller's use, limit and reset; an admin also sees the chat's, the
        server's and each plan's, the top users of the window and each plan's forecast."""
        settings, now = self._settings(), self._clock()
        if not allowances.enabled(settings):
            return [notices.usage_off()]
        meters = allowances.limits_for(dataclasses.replace(facts, admin=False), settings, now)
        if not admin:
            meters = meters[:1]
        else:
            meters += [allowances.plan_meter(b, settings, now) for b in self._backends()]
        used = await self._store.usage(meters)
        lines = [line(m, u, settings) for m, u in zip(meters, used, strict=True)]
        if admin:
            lines += [
                forecast(m, u, settings, now)
                for m, u in zip(meters, used, strict=True)
                if m.scope is MeterScope.PLAN and m.limit is not None
            ]
            top = await self._store.top(MeterScope.USER, meters[0].window, TOP)
            if top:
                lines.append(notices.usage_top(", ".join(f"{k} ({n})" for k, n in top)))
        return lines

    async def grant(self, author: str, n: int) -> notices.Notice:
        """/grant: ``n`` extra messages for the person ``author`` (``tg:ID``, ``dc:ID``) in their
        current window; a negative ``n`` takes them back."""
        settings, now = self._settings(), self._clock()
        facts = MessageFacts(author=author, channel="")
        meter = allowances.limits_for(facts, settings, now)[:1]
        if not meter:
            return notices.usage_off()
        after = await self._store.grant(meter[0], n)
        return notices.granted(allowances.person_key(author), after.granted, after.used)


MAX_WINDOWS = 1000  # windows one read goes back over at most (a week of hour windows is 168)


def periods_of(scope: MeterScope, settings: AllowanceSettings) -> set[str]:
    """The windows' lengths ``scope`` is counted in under ``settings`` (a scope without a limit
    is counted per day)."""
    if scope is MeterScope.USER:
        texts = [settings.per_user, *settings.users.values(), *settings.roles.values()]
    elif scope is MeterScope.CHAT:
        texts = [settings.per_chat]
    elif scope is MeterScope.SERVER:
        texts = [settings.per_server]
    else:
        texts = [*settings.backends.values()] or ["0"]
    limits = [Limit.parse(text) for text in texts]
    return {limit.period if limit else allowances.UNCOUNTED_PERIOD for limit in limits}


async def totals(
    store: Store, settings: AllowanceSettings, scope: MeterScope, since: float, now: float
) -> list[tuple[str, int]]:
    """Each key of ``scope`` with its messages in the windows that overlap the last ``since``
    seconds, most first. A window that ended took its counter with it: only windows still
    running are read back."""
    zone = zone_of(settings.timezone)
    counts: Counter[str] = Counter()
    for period in sorted(periods_of(scope, settings)):
        window = window_of(period, now, zone)
        for _ in range(MAX_WINDOWS):
            for key, used in await store.top(scope, window, 1_000_000):
                counts[key] += used
            if window.start <= now - since:
                break
            window = window_of(period, window.start - 1, zone)
    return counts.most_common()
