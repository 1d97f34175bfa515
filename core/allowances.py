"""Allowances: which message limits apply to one message, and the window each one counts in.

Pure: no I/O and no clock of its own; every function takes the instant ``now`` (unix seconds),
so one message is judged against one set of windows and tests can move time at will.

A limit is ``"N/PERIOD"``: N messages per window of whole days (``"30/1d"``, ``"200/7d"``) or of
hours (``"10/12h"``). Day windows start at midnight in ``allowances.timezone``. Windows of
several days are counted in whole local days from Monday 1970-01-05: every process, every key
and every restart agrees on them without storing a start, and a ``7d`` window is a calendar
week from Monday. (The provider's own 30-day cycle starts on a date we cannot know, so no anchor
would line up with it; a fixed one at least makes every window of a deployment line up.) Hour
windows split each local day from midnight; where N does not divide the day, the day's last
window is shorter and ends at midnight.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import UpstreamError
from core.model import Meter, MeterScope, Window
from core.notices import Notice

if TYPE_CHECKING:
    from core.config import AllowanceSettings

ANCHOR = date(1970, 1, 5)
"""The first local day of every window of whole days (a Monday)."""

UNCOUNTED_PERIOD = "1d"
"""The window a scope without a limit is counted in (for /usage and the operator's reads)."""

MAX_DAYS = 366
MAX_HOURS = 24
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([dh])\s*$")
_FORM = 'use "N/PERIOD", e.g. "30/1d", "200/7d" or "10/12h" ("0" for no limit)'
_PLATFORMS = {"tg": "telegram", "dc": "discord"}


@dataclass(frozen=True, slots=True)
class Limit:
    """``count`` messages per window of ``days`` whole days or ``hours`` hours."""

    count: int
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str) -> Limit | None:
        """``"30/1d"`` as a Limit; ``"0"`` or ``""`` as None (no limit). ValueError with a
        readable reason otherwise."""
        return _parse(text)

    @property
    def period(self) -> str:
        """The window's length as written: ``"7d"``, ``"12h"``."""
        return f"{self.days}d" if self.days else f"{self.hours}h"

    @property
    def rate(self) -> float:
        """Messages per hour, to compare limits of different windows."""
        return self.count / (self.days * 24 + self.hours)

    def window(self, now: float, zone: ZoneInfo) -> Window:
        """The window ``now`` falls in."""
        return window_of(self.period, now, zone)


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> Limit | None:
    """:meth:`Limit.parse`, remembered: every message reads the same few config texts."""
    if text.strip() in ("", "0"):
        return None
    found = _LIMIT.match(text)
    if found is None:
        raise ValueError(_FORM)
    count, length, unit = int(found[1]), int(found[2]), found[3]
    if count == 0:
        raise ValueError('a limit of 0 messages: write "0" alone for no limit')
    if unit == "d" and not 1 <= length <= MAX_DAYS:
        raise ValueError(f"a window of 1 to {MAX_DAYS} days")
    if unit == "h" and not 1 <= length <= MAX_HOURS:
        raise ValueError(f"a window of 1 to {MAX_HOURS} hours (use days beyond)")
    return Limit(count, days=length) if unit == "d" else Limit(count, hours=length)


def window_of(period: str, now: float, zone: ZoneInfo) -> Window:
    """The window of ``period`` (``"7d"``, ``"12h"``) that ``now`` falls in, in ``zone``."""
    length, unit = int(period[:-1]), period[-1]
    today = datetime.fromtimestamp(now, zone).date()
    if unit == "d":
        return _days(period, today, zone)
    day_start, day_end = _day(today, zone)
    step = length * 3600
    start = day_start + (now - day_start) // step * step
    return Window(period, start, min(start + step, day_end))


@functools.lru_cache(maxsize=256)
def _days(period: str, today: date, zone: ZoneInfo) -> Window:
    """The window of whole days holding ``today`` (remembered: it lasts a day at least)."""
    length = int(period[:-1])
    first = ANCHOR + timedelta(days=(today - ANCHOR).days // length * length)
    return Window(period, _midnight(first, zone), _midnight(first + timedelta(length), zone))


@functools.lru_cache(maxsize=256)
def _day(today: date, zone: ZoneInfo) -> tuple[float, float]:
    """The first instants of ``today`` and of the next day."""
    return _midnight(today, zone), _midnight(today + timedelta(1), zone)


def _midnight(day: date, zone: ZoneInfo) -> float:
    """The first instant of ``day`` in ``zone``: midnight, or the end of a gap that skips it
    (fold=0 reads a skipped time with the offset from before the gap)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def zone_of(name: str) -> ZoneInfo:
    """The time zone ``name`` (``"UTC"``, ``"Europe/Berlin"``); ValueError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            "not a time zone (use an IANA name such as UTC or Europe/Berlin)"
        ) from None


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What decides which allowances apply to one message (the front-end and relay know it)."""

    author: str
    """The platform user key (``tg:1001``, ``dc:42``)."""
    channel: str
    """The platform channel key: a thread's or topic's own, not a user-scope conversation key."""
    server: str = ""
    """The Discord server or Telegram group (``Origin.space``); empty in a private chat."""
    backend: str = ""
    """The backend the message goes to; empty when not known (no plan is metered then)."""
    roles: tuple[int, ...] = ()
    """The author's Discord roles."""
    admin: bool = False


def person_key(author: str) -> str:
    """``tg:1001`` as the config names a person: ``telegram:1001``."""
    platform, _, user = author.partition(":")
    return f"{_PLATFORMS.get(platform, platform)}:{user}"


def enabled(settings: AllowanceSettings) -> bool:
    """True when any limit is set: only then are messages counted at all."""
    texts = [settings.per_user, settings.per_chat, settings.per_server]
    texts += [*settings.backends.values(), *settings.users.values(), *settings.roles.values()]
    return any(Limit.parse(text) is not None for text in texts)


def user_limit(author: str, roles: Sequence[int], settings: AllowanceSettings) -> Limit | None:
    """A person's own limit: their override, else the most generous of their Discord roles'
    (no limit beats any), else ``per_user``."""
    override = settings.users.get(person_key(author))
    if override is not None:
        return Limit.parse(override)
    granted = [settings.roles[str(role)] for role in roles if str(role) in settings.roles]
    if granted:
        return most_generous([Limit.parse(text) for text in granted])
    return Limit.parse(settings.per_user)


def most_generous(limits: Sequence[Limit | None]) -> Limit | None:
    """The limit that allows the most messages per hour (None, no limit, beats every one)."""
    if any(limit is None for limit in limits):
        return None
    return max((limit for limit in limits if limit is not None), key=lambda x: (x.rate, x.count))


def limits_for(facts: MessageFacts, settings: AllowanceSettings, now: float) -> list[Meter]:
    """Every allowance that counts this message, in a fixed order: the person, the chat, the
    server (in a group) and the backend's plan (when the backend is known).

    Nothing is counted while no limit is configured. A scope without a limit is counted all
    the same (per day), so /usage can tell; it never refuses. An exempt admin's message is
    counted everywhere and refused nowhere: the plan pays for it all the same.
    """
    if not enabled(settings):
        return []
    zone = zone_of(settings.timezone)
    exempt = facts.admin and settings.admins_exempt
    wanted: list[tuple[MeterScope, str, Limit | None]] = [
        (
            MeterScope.USER,
            person_key(facts.author),
            user_limit(facts.author, facts.roles, settings),
        ),
        (MeterScope.CHAT, facts.channel, Limit.parse(settings.per_chat)),
    ]
    if facts.server:
        wanted.append((MeterScope.SERVER, facts.server, Limit.parse(settings.per_server)))
    if facts.backend:
        plan = settings.backends.get(facts.backend, "0")
        wanted.append((MeterScope.PLAN, facts.backend, Limit.parse(plan)))
    return [
        Meter(
            scope=scope,
            key=key,
            limit=None if exempt or limit is None else limit.count,
            window=window_of(limit.period if limit else UNCOUNTED_PERIOD, now, zone),
        )
        for scope, key, limit in wanted
    ]


def plan_meter(backend: str, settings: AllowanceSettings, now: float) -> Meter:
    """The meter of one backend's plan now (for /usage and the alerts)."""
    limit = Limit.parse(settings.backends.get(backend, "0"))
    zone = zone_of(settings.timezone)
    period = limit.period if limit else UNCOUNTED_PERIOD
    count = None if limit is None else limit.count
    return Meter(MeterScope.PLAN, backend, count, window_of(period, now, zone))


def crossed(meter: Meter, used: int, shares: Sequence[float]) -> list[float]:
    """The shares of the meter's limit (``alert_at``) that the message counted ``used`` reached:
    each share is crossed by exactly one message of a window (counts go up one at a time)."""
    if meter.limit is None:
        return []
    return [share for share in shares if used == max(1, math.ceil(share * meter.limit))]


def plan_alerts(
    meters: Sequence[Meter], used: Sequence[int], shares: Sequence[float]
) -> list[tuple[Meter, float]]:
    """The plan shares (``alert_at``) that one admitted message crossed, from the meters given
    to the store and the counts it answered (:attr:`Admission.used`)."""
    return [
        (meter, share)
        for meter, count in zip(meters, used, strict=False)
        if meter.scope is MeterScope.PLAN
        for share in crossed(meter, count, shares)
    ]


def alert_claim(meter: Meter, share: float, now: float) -> tuple[str, float]:
    """The claim (:meth:`Store.claim` key and seconds) that lets one process of a deployment
    send the alert for ``share`` of a plan's window, once."""
    key = f"allowance-alert:{meter.key}:{meter.window.period}:{int(meter.window.start)}:{share}"
    return key, max(1.0, meter.window.end - now)


def notice_claim(meter: Meter, author: str, channel: str, now: float) -> tuple[str, float]:
    """The claim that lets a refusal notice out at most once per person, chat and window, so a
    spammer cannot make the bot spam: its key and its seconds (the rest of the window)."""
    window = f"{meter.scope.value}:{meter.window.period}:{int(meter.window.start)}"
    return f"allowance-notice:{window}:{author}:{channel}", max(1.0, meter.window.end - now)


def runs_out(meter: Meter, used: int, now: float) -> float | None:
    """When the limit is reached at the window's rate so far (unix seconds), or None when it
    lasts the window (or nothing was used yet)."""
    if meter.limit is None or used <= 0 or now <= meter.window.start:
        return None
    if used >= meter.limit:
        return now
    at = meter.window.start + meter.limit * (now - meter.window.start) / used
    return at if at < meter.window.end else None


def refundable(error: BaseException) -> bool:
    """Whether a failed reply's charge is given back: only when the upstream provably did not
    take the message (a refused connection, a 4xx before any reply). Anything after the message
    left (a 5xx, a drop, a timeout) stays charged: the provider may have counted it."""
    return isinstance(error, UpstreamError) and error.not_taken


def reset_text(meter: Meter, zone: ZoneInfo) -> str:
    """When the meter's window starts again, as a reader anywhere reads it: local date, time
    and zone (``2026-12-08 00:00 UTC``)."""
    local = datetime.fromtimestamp(meter.window.end, zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


_NOTICES: Mapping[MeterScope, str] = {
    MeterScope.USER: "allowance_user",
    MeterScope.CHAT: "allowance_chat",
    MeterScope.SERVER: "allowance_server",
    MeterScope.PLAN: "allowance_plan",
}


def refusal(meter: Meter, settings: AllowanceSettings) -> Notice:
    """What a person reads whose message is over ``meter``: which limit, and when it starts
    again."""
    return Notice(_NOTICES[meter.scope], reset=reset_text(meter, zone_of(settings.timezone)))
