"""What the operator's page shows, read from the store so that every process of a deployment
shows the same page; and what this process records for it: trouble lines and its liveness.

Only counts and short texts reach the store, each with a TTL (see :mod:`core.store.base`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

from core.allowances import plan_meter, runs_out
from core.config import AllowanceSettings
from core.errors import StoreUnavailable
from core.logs import Redactor
from core.model import Meter, Usage
from core.store.base import Store, TopUsage, hour_of
from core.tasks import cancel

log = logging.getLogger(__name__)

HISTORY_HOURS = 48
BEAT_EVERY = 5.0  # seconds between two beats (and trouble flushes) of one process
BEAT_TTL = 3 * BEAT_EVERY  # a process missing three beats is shown gone
TROUBLE_SHOWN = 50
TOP_SHOWN = 10
TEXT_LIMIT = 160  # a trouble line's text: enough to say what, never a whole prompt
_BUFFERED = 200  # trouble lines one process holds between two flushes (more are dropped)
_OPEN_LOOKED_AT = 2000  # open journal records looked at for the queues
_UPSTREAM = re.compile(r"^upstream (\w+):")


@dataclass(frozen=True, slots=True)
class ProcessView:
    """One live process as its last beat described it."""

    name: str
    parts: list[tuple[str, bool]]
    """Each front-end part (e.g. a Discord shard, Telegram polling or standing by) and
    whether it is connected."""
    role: str
    streaming: int
    throttled: int
    """429s this process met (platform flood waits and upstream throttles), since it started."""
    invalid_requests: int | None
    """The Discord invalid-request guard's count, where the process exports one."""
    version: str
    started: float

    def to_json(self) -> str:
        """The beat's info text."""
        data = asdict(self)
        del data["name"]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, name: str, raw: str) -> ProcessView:
        """Inverse of :meth:`to_json`; an unreadable beat shows as a bare name."""
        try:
            data = json.loads(raw)
            return cls(
                name=name,
                parts=[(str(p), bool(up)) for p, up in data.get("parts", [])],
                role=str(data.get("role", "")),
                streaming=int(data.get("streaming", 0)),
                throttled=int(data.get("throttled", 0)),
                invalid_requests=data.get("invalid_requests"),
                version=str(data.get("version", "")),
                started=float(data.get("started", 0.0)),
            )
        except (ValueError, TypeError, AttributeError):
            return cls(name, [], "", 0, 0, None, "", 0.0)


@dataclass(frozen=True, slots=True)
class TroubleLine:
    """A notice or an error: when, where, what kind, and a short text."""

    at: float
    kind: str
    chat: str
    text: str

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps([self.at, self.kind, self.chat, self.text], separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> TroubleLine:
        """Inverse of :meth:`to_json`."""
        try:
            at, kind, chat, text = json.loads(raw)
            return cls(float(at), str(kind), str(chat), str(text))
        except (ValueError, TypeError):
            return cls(0.0, "?", "", "")


@dataclass(frozen=True, slots=True)
class PlanUse:
    """One backend's use of its plan against its allowance (``allowances.backends``, with the
    messages granted in the window), and when it runs out."""

    backend: str
    used: int
    allowance: int
    window: str
    runs_out: float | None
    """Forecast unix time the allowance is used up at today's pace; None when it lasts."""


@dataclass(frozen=True, slots=True)
class Setup:
    """How the deployment is set up."""

    bindings: dict[str, int]
    """Channels bound, by backend."""
    modes: dict[str, int]
    scopes: dict[str, int]
    language: str
    version: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the page shows, at ``at``."""

    at: float
    processes: list[ProcessView]
    queues: dict[str, int]
    """Channels with messages open (queued or replying), with how many."""
    paused: dict[str, float]
    """Backends paused by a quota, with the unix time the pause ends."""
    hours: list[int]
    """The hours the usage covers (hour numbers, oldest first; the last is the running one)."""
    usage: dict[str, list[int]]
    """Backend -> messages answered in each of :attr:`hours`."""
    top: TopUsage
    trouble: list[TroubleLine]
    trouble_counts: dict[str, int]
    setup: Setup
    plans: list[PlanUse] = field(default_factory=list)
    """Each backend with a plan: its use in the plan's window."""

    @property
    def streaming(self) -> int:
        """Replies streaming now, over every live process."""
        return sum(p.streaming for p in self.processes)

    @property
    def throttled(self) -> int:
        """429s met by the live processes since they started."""
        return sum(p.throttled for p in self.processes)

    @property
    def invalid_requests(self) -> int | None:
        """The invalid-request guard's count; None where no process has one. The count is kept
        bot-wide in the store, so every process reports the same figure: the highest is the
        freshest, and a sum would count it once per process."""
        counts = [p.invalid_requests for p in self.processes if p.invalid_requests is not None]
        return max(counts) if counts else None

    def usage_total(self, backend: str) -> int:
        """Messages ``backend`` answered in the hours shown."""
        return sum(self.usage.get(backend, []))

    def to_dict(self) -> dict[str, object]:
        """Plain data for the page's JSON."""
        data = asdict(self)
        data["streaming"] = self.streaming
        data["throttled"] = self.throttled
        data["invalid_requests"] = self.invalid_requests
        data["usage_totals"] = {b: self.usage_total(b) for b in self.usage}
        return data


class Activity:
    """Records this process's trouble and liveness for the page.

    Recording never waits on the store: lines are buffered and written with the next beat.
    """

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._describe: Callable[[], ProcessView] | None = None
        self._clock = clock
        self._buffer: deque[TroubleLine] = deque(maxlen=_BUFFERED)
        self._task: asyncio.Task[None] | None = None

    def trouble(self, kind: str, chat: str, text: str) -> None:
        """Note a notice or an error for the page (shortened; written with the next beat)."""
        short = " ".join(text.split())
        if len(short) > TEXT_LIMIT:
            short = short[: TEXT_LIMIT - 1] + "…"
        self._buffer.append(TroubleLine(self._clock(), kind, chat, short))

    async def report(self) -> None:
        """Write the buffered trouble lines and, once started, this process's beat."""
        lines = list(self._buffer)
        if lines:
            await self._store.add_trouble([(line.kind, line.to_json()) for line in lines])
            for _ in lines:
                self._buffer.popleft()
        if self._describe is not None:
            view = self._describe()
            await self._store.beat(view.name, view.to_json(), BEAT_TTL)

    async def start(self, describe: Callable[[], ProcessView]) -> None:
        """Report now (so the page lists this process at once), then every few seconds; each
        beat carries what ``describe`` says. Until started, lines wait in a bounded buffer."""
        self._describe = describe
        with contextlib.suppress(StoreUnavailable):
            await self.report()
        self._task = asyncio.create_task(self._every(), name="activity")

    async def stop(self) -> None:
        """Stop reporting (the beat lapses within :data:`BEAT_TTL`)."""
        task, self._task = self._task, None
        await cancel(task)

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(BEAT_EVERY)
            try:
                await self.report()
            except StoreUnavailable:
                log.debug("activity not reported: store unreachable")


async def read_snapshot(
    store: Store, setup: Setup, plans: Sequence[PlanUse] = (), *, now: float | None = None
) -> Snapshot:
    """Read every figure the page shows from the store."""
    now = time.time() if now is None else now
    hours = list(range(hour_of(now) - HISTORY_HOURS + 1, hour_of(now) + 1))
    # Independent reads: on Redis they leave together instead of one after another.
    beats, usage, top, (texts, kinds), cooldowns, queues = await asyncio.gather(
        store.processes(),
        store.hourly_usage(hours[0] * 3600),
        store.top_usage(TOP_SHOWN),
        store.trouble(TROUBLE_SHOWN),
        store.get_cooldowns(),
        store.open_channels(_OPEN_LOOKED_AT),
    )
    backends = sorted({b for counts in usage.values() for b in counts})
    return Snapshot(
        at=now,
        processes=[ProcessView.from_json(n, beats[n]) for n in sorted(beats)],
        queues=dict(sorted(queues.items(), key=lambda kv: (-kv[1], kv[0]))),
        paused={b: now + left for b, left in sorted(cooldowns.items())},
        hours=hours,
        usage={b: [usage.get(h, {}).get(b, 0) for h in hours] for b in backends},
        top=top,
        trouble=[TroubleLine.from_json(t) for t in texts],
        trouble_counts=kinds,
        setup=setup,
        plans=list(plans),
    )


def plan_use(meter: Meter, usage: Usage, now: float) -> PlanUse:
    """One plan's use, with the messages granted in its window added to its allowance."""
    allowance = (meter.limit or 0) + usage.granted
    forecast = runs_out(replace(meter, limit=allowance), usage.used, now)
    return PlanUse(meter.key, usage.used, allowance, meter.window.period, forecast)


async def read_plans(store: Store, settings: AllowanceSettings, now: float) -> list[PlanUse]:
    """Each backend with a plan in ``settings``: its use so far and when it runs out."""
    meters = [plan_meter(backend, settings, now) for backend in sorted(settings.backends)]
    meters = [meter for meter in meters if meter.limit is not None]
    if not meters:
        return []
    used = await store.usage(meters)
    return [plan_use(meter, usage, now) for meter, usage in zip(meters, used, strict=True)]


async def read_setup(store: Store, *, language: str, version: str) -> Setup:
    """Bindings per backend and the counts of each mode and scope, from the store."""
    records = await store.channel_records()
    bindings = Counter(r.binding.backend for r in records if r.binding is not None)
    modes = Counter(r.mode.value for r in records if r.mode is not None)
    scopes = Counter(r.scope.value for r in records if r.scope is not None)
    return Setup(dict(bindings), dict(modes), dict(scopes), language, version)


class TroubleLog(logging.Handler):
    """Feeds the bridge's own warnings and errors (upstream and platform trouble) to
    :meth:`Activity.trouble`, scrubbed of secrets; libraries' records are left out."""

    def __init__(self, activity: Activity, redactor: Redactor | None = None) -> None:
        super().__init__(logging.WARNING)
        self._activity = activity
        self._redactor = redactor or Redactor()

    def emit(self, record: logging.LogRecord) -> None:
        """Note one record."""
        area = record.name.split(".")
        if area[0] not in ("core", "bots") or record.name == __name__:
            return
        text = self._redactor.scrub(record.getMessage())
        upstream = _UPSTREAM.match(text)
        kind = (
            f"upstream {upstream.group(1)}" if upstream else area[1] if len(area) > 1 else area[0]
        )
        self._activity.trouble(kind, str(getattr(record, "channel", "") or ""), text)
