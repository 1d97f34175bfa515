"""Allowances: which message limits apply to one message, and the window each one counts in
(limits and windows themselves are core.windows).

Pure: no I/O and no clock of its own; every function takes the instant ``now`` (unix seconds),
so one message is judged against one set of windows and tests can move time at will.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from core.errors import UpstreamError
from core.model import Meter, MeterScope
from core.notices import Notice
from core.windows import Limit, window_of, zone_of

if TYPE_CHECKING:
    from core.config import AllowanceSettings

_PLATFORMS = {"tg": "telegram", "dc": "discord"}

"""A count no rate window reaches: the store's rule stays one comparison for every message."""

UNCOUNTED_PERIOD = "1d"
"""The window a scope without a limit is counted in (for /usage and the operator's reads)."""


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
    return local_text(meter.window.end, zone)


def local_text(at: float, zone: ZoneInfo) -> str:
    """The instant ``at`` as local date, time and zone (``2026-12-08 00:00 UTC``)."""
    local = datetime.fromtimestamp(at, zone)
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
