"""Limits and their windows: ``"N/PERIOD"`` parsed, and the window an instant falls in.

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
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.model import Window

ANCHOR = date(1970, 1, 5)
"""The first local day of every window of whole days (a Monday)."""

MAX_DAYS = 366
MAX_HOURS = 24
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([dh])\s*$")
_FORM = 'use "N/PERIOD", e.g. "30/1d", "200/7d" or "10/12h" ("0" for no limit)'


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
