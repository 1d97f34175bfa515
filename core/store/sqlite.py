"""The embedded SQLite store: one file, one process (the default when no Redis URL is set)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import aiosqlite

from core.errors import StoreUnavailable
from core.model import (
    Admission,
    Binding,
    ChannelRecord,
    ChannelRules,
    Meter,
    MeterScope,
    ReplyMode,
    Scope,
    Turn,
    Usage,
    Window,
)
from core.records import JOURNAL_TTL, JournalRecord, Shown, State, message_of, process_of
from core.store.base import (
    DAY_TTL,
    RECOVERY_HOLD,
    TOP_KEEP,
    TROUBLE_KEEP,
    TROUBLE_TTL,
    USAGE_TTL,
    Store,
    TopUsage,
    day_of,
    hour_of,
    newer_id,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bindings (channel TEXT PRIMARY KEY, fields TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS modes (channel TEXT PRIMARY KEY, mode TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (channel TEXT NOT NULL, message_id TEXT NOT NULL,
                                    record TEXT NOT NULL, state TEXT NOT NULL,
                                    owner TEXT NOT NULL, expires REAL NOT NULL,
                                    PRIMARY KEY (channel, message_id));
CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL,
                                  ticket TEXT NOT NULL, UNIQUE (channel, ticket));
CREATE TABLE IF NOT EXISTS leases (channel TEXT PRIMARY KEY, ticket TEXT NOT NULL,
                                   expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS procs (channel TEXT NOT NULL, owner TEXT NOT NULL,
                                  expires REAL NOT NULL, PRIMARY KEY (channel, owner));
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rates (user TEXT PRIMARY KEY, count INTEGER NOT NULL,
                                  expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cooldowns (backend TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value TEXT NOT NULL,
                                  expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS scopes (channel TEXT PRIMARY KEY, scope TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocked (space TEXT NOT NULL, user TEXT NOT NULL,
                                    PRIMARY KEY (space, user));
CREATE TABLE IF NOT EXISTS paces (chat TEXT PRIMARY KEY, state TEXT NOT NULL,
                                  expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS handled (channel TEXT PRIMARY KEY, last TEXT NOT NULL,
                                    at REAL NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS shown (channel TEXT NOT NULL, message_id TEXT NOT NULL,
                                  shown TEXT NOT NULL, expires REAL NOT NULL,
                                  PRIMARY KEY (channel, message_id));
CREATE TABLE IF NOT EXISTS allowances (scope TEXT NOT NULL, period TEXT NOT NULL,
                                       start INTEGER NOT NULL, key TEXT NOT NULL,
                                       used INTEGER NOT NULL, granted INTEGER NOT NULL,
                                       expires REAL NOT NULL,
                                       PRIMARY KEY (scope, period, start, key));
CREATE TABLE IF NOT EXISTS charges (channel TEXT NOT NULL, message_id TEXT NOT NULL,
                                    refunded INTEGER NOT NULL, expires REAL NOT NULL,
                                    PRIMARY KEY (channel, message_id));
CREATE TABLE IF NOT EXISTS holds (channel TEXT NOT NULL, ticket TEXT NOT NULL,
                                  until REAL NOT NULL, expires REAL NOT NULL,
                                  PRIMARY KEY (channel, ticket));
CREATE TABLE IF NOT EXISTS page_usage (hour INTEGER NOT NULL, backend TEXT NOT NULL,
                                       count INTEGER NOT NULL, expires REAL NOT NULL,
                                       PRIMARY KEY (hour, backend));
CREATE TABLE IF NOT EXISTS page_top (day INTEGER NOT NULL, what TEXT NOT NULL,
                                     name TEXT NOT NULL, count INTEGER NOT NULL,
                                     expires REAL NOT NULL, PRIMARY KEY (day, what, name));
CREATE TABLE IF NOT EXISTS page_trouble (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                                         text TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS page_kinds (day INTEGER NOT NULL, kind TEXT NOT NULL,
                                       count INTEGER NOT NULL, expires REAL NOT NULL,
                                       PRIMARY KEY (day, kind));
"""

# Tables whose rows expire; swept now and then so the file does not grow without bound.
_EXPIRING = {
    "journal": "expires",
    "leases": "expires",
    "procs": "expires",
    "seen": "expires",
    "rates": "expires",
    "cooldowns": "until",
    "paces": "expires",
    "handled": "expires",
    "shown": "expires",
    "holds": "expires",
    "marks": "expires",
    "allowances": "expires",
    "charges": "expires",
    "page_usage": "expires",
    "page_top": "expires",
    "page_trouble": "expires",
    "page_kinds": "expires",
}
_SWEEP_EVERY = 60.0
_BEAT = "page-beat:"  # the marks that say which processes are alive

T = TypeVar("T")


E = TypeVar("E", ReplyMode, Scope)


def _known(kind: type[E], value: str | None) -> E | None:
    """A stored mode or scope, ignoring values this version does not know."""
    try:
        return kind(value) if value else None
    except ValueError:
        return None


class SqliteStore(Store):
    """:class:`Store` in a single SQLite file (WAL mode); expiry by stored unix timestamps.

    ``round_trips`` counts transactions, matching :class:`core.store.redis.RedisStore`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.round_trips = 0
        self._db: aiosqlite.Connection | None = None
        # One connection shared by every task: transactions must not interleave across awaits.
        self._lock = asyncio.Lock()
        self._last_sweep = 0.0

    async def _connect(self) -> aiosqlite.Connection:
        if self._db is None:
            # Open once in a plain thread first: when aiosqlite's own connect fails, its worker
            # thread outlives the attempt and may call into a closed event loop.
            await asyncio.to_thread(_probe, self.path)
            db = await aiosqlite.connect(self.path, isolation_level=None)
            try:
                await db.execute("PRAGMA journal_mode=WAL")
                await db.execute("PRAGMA synchronous=NORMAL")
                await db.execute("PRAGMA busy_timeout=5000")
                await db.executescript(_SCHEMA)
            except BaseException:
                await db.close()
                raise
            self._db = db
        return self._db

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One transaction, counted as one round-trip; SQLite failures become StoreUnavailable."""
        async with self._lock:
            self.round_trips += 1
            try:
                db = await self._connect()
                await db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    await db.rollback()
                    raise
                await db.commit()
            except (sqlite3.OperationalError, OSError) as exc:
                raise StoreUnavailable(f"store unavailable ({type(exc).__name__})") from exc
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
                    raise
                raise StoreUnavailable(f"store unavailable ({type(exc).__name__})") from exc

    async def _sweep(self, db: aiosqlite.Connection, now: float) -> None:
        """Delete expired rows of every table, at most once a minute."""
        if now - self._last_sweep < _SWEEP_EVERY:
            return
        self._last_sweep = now
        for table, column in _EXPIRING.items():
            await db.execute(f"DELETE FROM {table} WHERE {column} <= ?", (now,))
        await _trim_top(db)

    # The hot path ---------------------------------------------------------------------------

    async def admit(
        self,
        *,
        record: JournalRecord,
        user: str,
        lease_ttl: float,
        queue_size: int,
        dedupe_ttl: float,
        rate_limit: int,
        rate_window: float,
        resume: bool = False,
        meters: Sequence[Meter] = (),
    ) -> Admission:
        """Dedupe, count, meter, journal, queue and read in one transaction; see
        :meth:`Store.admit`. Allowances are checked before the queue's size, so a message
        over one hears so rather than "busy"."""
        channel = record.channel
        metered = meters if not resume else ()  # a recovered message was charged when it came
        async with self._tx() as db:
            now = time.time()
            await self._sweep(db, now)
            duplicate = not resume and not await _claim(
                db, f"msg:{channel}:{record.message_id}", now, dedupe_ttl
            )
            rate_limited = busy = turn = sent = False
            over: Meter | None = None
            used: tuple[int, ...] = ()
            if not duplicate and not resume:  # a recovered message was counted when it came
                rate_limited = await _count(db, user, now, rate_window) > rate_limit
            if not (duplicate or rate_limited) and metered:
                over = await _over(db, metered, now)
            if not (duplicate or rate_limited or over or resume):
                busy = await _queue_length(db, channel) > queue_size
            if not (duplicate or rate_limited or over or busy):
                if metered:
                    used = await _charge(db, metered, channel, record.message_id, now, dedupe_ttl)
                await _put(db, record, now)
                await _alive(db, channel, process_of(record.owner), now, lease_ttl)
                await db.execute(
                    "INSERT OR IGNORE INTO queue (channel, ticket) VALUES (?, ?)",
                    (channel, record.owner),
                )
                turn = (await _turn(db, channel, record.owner, now, lease_ttl)).acquired
            binding = await _binding(db, channel)
            if turn and binding is not None:
                sent = True
                await _put(db, record.moved(State.SENT), now)
            cooldowns = await _cooldowns(db, now)
        return Admission(
            duplicate=duplicate,
            rate_limited=rate_limited,
            busy=busy,
            turn=turn,
            binding=binding,
            cooldowns=cooldowns,
            over=over,
            used=used,
            sent=sent,
        )

    # Allowances ---------------------------------------------------------------------------

    async def refund(self, meters: Sequence[Meter], channel: str, message_id: str) -> bool:
        """Give a message's charge back, once (its charge row turns refunded)."""
        async with self._tx() as db:
            now = time.time()
            cursor = await db.execute(
                "UPDATE charges SET refunded = 1 WHERE channel = ? AND message_id = ? "
                "AND refunded = 0 AND expires > ?",
                (channel, message_id, now),
            )
            if cursor.rowcount != 1 or not meters:
                return False
            await db.executemany(
                "UPDATE allowances SET used = used - 1 WHERE scope = ? AND period = ? "
                "AND start = ? AND key = ? AND expires > ? AND used > 0",
                [(*_where(m), now) for m in meters],
            )
        return True

    async def usage(self, meters: Sequence[Meter]) -> list[Usage]:
        """Each meter's use and grant, in one transaction."""
        async with self._tx() as db:
            now = time.time()
            return [await _usage(db, meter, now) for meter in meters]

    async def top(self, scope: MeterScope, window: Window, n: int) -> list[tuple[str, int]]:
        """The keys of the window with the highest use."""
        async with (
            self._tx() as db,
            db.execute(
                "SELECT key, used FROM allowances WHERE scope = ? AND period = ? AND start = ? "
                "AND expires > ? AND used > 0 ORDER BY used DESC, key DESC LIMIT ?",
                (scope.value, window.period, int(window.start), time.time(), n),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [(str(key), int(used)) for key, used in rows]

    async def grant(self, meter: Meter, n: int) -> Usage:
        """Add ``n`` to the key's grant in the window."""
        async with self._tx() as db:
            now = time.time()
            await _meter_row(db, meter, now)
            await db.execute(
                "UPDATE allowances SET granted = granted + ? WHERE scope = ? AND period = ? "
                "AND start = ? AND key = ?",
                (n, *_where(meter)),
            )
            return await _usage(db, meter, now)

    # The turn -----------------------------------------------------------------------------

    async def take_turn(
        self, channel: str, ticket: str, lease_ttl: float, record: JournalRecord | None = None
    ) -> Turn:
        """Take the lease if ``ticket`` is first in the queue; see :meth:`Store.take_turn`."""
        async with self._tx() as db:
            now = time.time()
            turn = await _turn(db, channel, ticket, now, lease_ttl)
            if turn.acquired and record is not None:
                await _put(db, record, now)
            return turn

    async def keep_alive(
        self,
        owner: str,
        channels: Mapping[str, str | None],
        ttl: float,
        shown: Mapping[str, Shown] | None = None,
    ) -> dict[str, bool]:
        """Renew the process rows (and held or lapsed leases, with what their replies show) in
        one transaction."""
        kept: dict[str, bool] = {}
        shown = shown or {}
        async with self._tx() as db:
            now = time.time()
            for channel, ticket in channels.items():
                await _alive(db, channel, owner, now, ttl)
                if ticket is None:
                    kept[channel] = True
                    continue
                # A lease that lapsed is taken back by the ticket still replying, unless
                # another ticket holds it now (as on Redis).
                async with db.execute(
                    "SELECT ticket FROM leases WHERE channel = ? AND expires > ?", (channel, now)
                ) as cursor:
                    holder = await cursor.fetchone()
                kept[channel] = holder is None or holder[0] == ticket
                if kept[channel]:
                    await db.execute(
                        "INSERT INTO leases (channel, ticket, expires) VALUES (?, ?, ?) "
                        "ON CONFLICT (channel) DO UPDATE SET ticket = excluded.ticket, "
                        "expires = excluded.expires",
                        (channel, ticket, now + ttl),
                    )
                text = shown.get(channel)
                if kept[channel] and text is not None:
                    await _put_shown(db, channel, message_of(ticket), text, now)
        return kept

    async def finish(self, channel: str, ticket: str, record: JournalRecord | None) -> None:
        """Leave queue and lease; write the record."""
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM leases WHERE channel = ? AND ticket = ?", (channel, ticket)
            )
            if record is None or record.state is not State.RECEIVED:  # left: keeps its place
                await db.execute(
                    "DELETE FROM queue WHERE channel = ? AND ticket = ?", (channel, ticket)
                )
            if record is not None:
                await db.execute(
                    "DELETE FROM shown WHERE channel = ? AND message_id = ?",
                    (channel, record.message_id),
                )
                await _put(db, record, time.time())
                if record.state is State.DONE:
                    await _count_done(db, record, time.time())

    async def retire(self, channels: list[str], owner: str) -> None:
        """Delete this process's liveness rows."""
        async with self._tx() as db:
            await db.executemany(
                "DELETE FROM procs WHERE channel = ? AND owner = ?", [(c, owner) for c in channels]
            )

    # The journal --------------------------------------------------------------------------

    async def journal_put(self, record: JournalRecord, shown: Shown | None = None) -> None:
        """Write a record (and what it shows)."""
        async with self._tx() as db:
            now = time.time()
            await _put(db, record, now)
            if shown is not None:
                await _put_shown(db, record.channel, record.message_id, shown, now)

    async def journal_shown(self, channel: str, message_id: str) -> Shown | None:
        """What the message's reply last showed, or None."""
        raw = await self._of_message("shown", "shown", channel, message_id)
        return Shown.from_json(raw) if raw else None

    async def journal_get(self, channel: str, message_id: str) -> JournalRecord | None:
        """One record, or None."""
        raw = await self._of_message("journal", "record", channel, message_id)
        return JournalRecord.from_json(raw) if raw else None

    async def _of_message(
        self, table: str, column: str, channel: str, message_id: str
    ) -> str | None:
        """One message's live value from ``table`` (a fixed name, never user input)."""
        async with (
            self._tx() as db,
            db.execute(
                f"SELECT {column} FROM {table} "
                "WHERE channel = ? AND message_id = ? AND expires > ?",
                (channel, message_id, time.time()),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def journal_lapsed(self, limit: int = 500) -> list[JournalRecord]:
        """Open records whose process row has expired."""
        async with self._tx() as db:
            now = time.time()
            async with db.execute(
                "SELECT j.record FROM journal j WHERE j.state != 'done' AND j.expires > ? "
                "AND NOT EXISTS (SELECT 1 FROM procs p WHERE p.channel = j.channel "
                "AND p.owner = substr(j.owner, 1, instr(j.owner, '|') - 1) AND p.expires > ?) "
                "LIMIT ?",
                (now, now, limit),
            ) as cursor:
                rows = await cursor.fetchall()
        return [JournalRecord.from_json(row[0]) for row in rows]

    async def journal_claim(self, record: JournalRecord, owner: str, ttl: float) -> bool:
        """Take over a lapsed record (compare the owner, check its process is gone)."""
        async with self._tx() as db:
            now = time.time()
            if await _is_alive(db, record.channel, process_of(record.owner), now):
                return False
            claimed = replace(record, owner=owner)
            cursor = await db.execute(
                "UPDATE journal SET record = ?, owner = ? WHERE channel = ? AND message_id = ? "
                "AND owner = ? AND state != 'done'",
                (claimed.to_json(), owner, record.channel, record.message_id, record.owner),
            )
            if cursor.rowcount != 1:
                return False
            await _alive(db, record.channel, process_of(owner), now, ttl)
            upstream = record.state in (State.SENT, State.STREAMING)
            await _take_place(db, record.channel, record.owner, owner, now, ttl, upstream=upstream)
            return True

    # Bindings and modes ---------------------------------------------------------------------

    async def get_binding(self, channel: str) -> Binding | None:
        """The channel's binding, or None."""
        async with self._tx() as db:
            return await _binding(db, channel)

    async def set_binding(self, channel: str, binding: Binding) -> None:
        """Bind or re-bind a channel."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO bindings (channel, fields) VALUES (?, ?) "
                "ON CONFLICT (channel) DO UPDATE SET fields = excluded.fields",
                (channel, json.dumps(binding.to_fields())),
            )

    async def delete_binding(self, channel: str) -> bool:
        """Unbind; True when there was a binding."""
        async with self._tx() as db:
            cursor = await db.execute("DELETE FROM bindings WHERE channel = ?", (channel,))
            return cursor.rowcount > 0

    async def get_mode(self, channel: str) -> ReplyMode | None:
        """The channel's reply mode, or None."""
        async with self._tx() as db:
            return await _get_mode(db, channel)

    async def set_mode(self, channel: str, mode: ReplyMode) -> None:
        """Set the channel's reply mode."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO modes (channel, mode) VALUES (?, ?) "
                "ON CONFLICT (channel) DO UPDATE SET mode = excluded.mode",
                (channel, mode.value),
            )

    async def channel_records(self) -> list[ChannelRecord]:
        """Every channel with a binding, mode or scope, and every space with a block list."""
        async with self._tx() as db:
            async with db.execute("SELECT channel, fields FROM bindings") as cursor:
                bindings = {
                    ch: Binding.from_fields(json.loads(f)) for ch, f in await cursor.fetchall()
                }
            async with db.execute("SELECT channel, mode FROM modes") as cursor:
                modes = {ch: _known(ReplyMode, m) for ch, m in await cursor.fetchall()}
            async with db.execute("SELECT channel, scope FROM scopes") as cursor:
                scopes = {ch: _known(Scope, s) for ch, s in await cursor.fetchall()}
            blocked: dict[str, list[str]] = {}
            async with db.execute("SELECT space, user FROM blocked ORDER BY user") as cursor:
                for space, user in await cursor.fetchall():
                    blocked.setdefault(space, []).append(user)
        keys = bindings.keys() | modes.keys() | scopes.keys() | blocked.keys()
        records = [
            ChannelRecord(
                channel=ch,
                binding=bindings.get(ch),
                mode=modes.get(ch),
                scope=scopes.get(ch),
                blocked=tuple(blocked.get(ch, ())),
            )
            for ch in sorted(keys)
        ]
        return [r for r in records if not r.empty]

    # Claims and cooldowns -------------------------------------------------------------------

    async def claim(self, key: str, ttl: float) -> bool:
        """Claim a one-off id for ``ttl`` seconds; False if already claimed."""
        async with self._tx() as db:
            return await _claim(db, f"claim:{key}", time.time(), ttl)

    async def get_mark(self, name: str) -> str | None:
        """The shared value ``name``, or None."""
        async with (
            self._tx() as db,
            db.execute(
                "SELECT value FROM marks WHERE name = ? AND expires > ?", (name, time.time())
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def set_mark(self, name: str, value: str, ttl: float) -> None:
        """Set the shared value ``name`` for ``ttl`` seconds."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO marks (name, value, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                "expires = excluded.expires",
                (name, value, time.time() + ttl),
            )

    async def set_cooldown(self, backend: str, seconds: float) -> None:
        """Pause ``backend`` until now + ``seconds`` (0 clears it)."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO cooldowns (backend, until) VALUES (?, ?) "
                "ON CONFLICT (backend) DO UPDATE SET until = excluded.until",
                (backend, time.time() + seconds),
            )

    async def get_cooldowns(self) -> dict[str, float]:
        """Backend name -> seconds left, active cooldowns only."""
        async with self._tx() as db:
            return await _cooldowns(db, time.time())

    # Scope, block lists and chat migration ----------------------------------------------------

    async def get_scope(self, channel: str) -> Scope | None:
        """The channel's conversation scope, or None."""
        async with self._tx() as db:
            return await _get_scope(db, channel)

    async def set_scope(self, channel: str, scope: Scope) -> None:
        """Set the channel's conversation scope."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO scopes (channel, scope) VALUES (?, ?) "
                "ON CONFLICT (channel) DO UPDATE SET scope = excluded.scope",
                (channel, scope.value),
            )

    async def set_blocked(self, space: str, user: str, blocked: bool) -> bool:
        """Block or unblock ``user`` in ``space``; True if the list changed."""
        async with self._tx() as db:
            if blocked:
                sql = "INSERT OR IGNORE INTO blocked (space, user) VALUES (?, ?)"
            else:
                sql = "DELETE FROM blocked WHERE space = ? AND user = ?"
            cursor = await db.execute(sql, (space, user))
            return cursor.rowcount > 0

    async def rules(
        self, *, channels: Sequence[str], spaces: Sequence[str], user: str
    ) -> ChannelRules:
        """The first channel's scope that is set, and whether ``user`` is blocked in a space."""
        async with self._tx() as db:
            scope = None
            for channel in channels:
                scope = await _get_scope(db, channel)
                if scope is not None:
                    break
            marks = ", ".join("?" for _ in spaces)
            async with db.execute(
                f"SELECT 1 FROM blocked WHERE user = ? AND space IN ({marks}) LIMIT 1",
                (user, *spaces),
            ) as cursor:
                blocked = await cursor.fetchone() is not None
            bound = await _binding(db, channels[0]) if channels else None
        return ChannelRules(scope=scope, blocked=blocked, backend=bound.backend if bound else None)

    async def move_channel(self, old: str, new: str) -> None:
        """Re-key the channel's rows (and its topics' and users') from ``old`` to ``new``."""
        # The channel itself, its topics (old:...) and its users' conversations (old@...).
        match = "(channel = ? OR substr(channel, 1, ?) IN (?, ?))"
        args = (old, len(old) + 1, old + ":", old + "@")
        async with self._tx() as db:
            for table, value in (("bindings", "fields"), ("modes", "mode"), ("scopes", "scope")):
                await db.execute(
                    f"INSERT OR REPLACE INTO {table} (channel, {value}) "
                    f"SELECT ? || substr(channel, ?), {value} FROM {table} WHERE {match}",
                    (new, len(old) + 1, *args),
                )
                await db.execute(f"DELETE FROM {table} WHERE {match}", args)
            await db.execute(
                "INSERT OR IGNORE INTO blocked SELECT ?, user FROM blocked WHERE space = ?",
                (new, old),
            )
            await db.execute("DELETE FROM blocked WHERE space = ?", (old,))

    # Pacing -------------------------------------------------------------------------------

    async def swap_pace(
        self, chat: str, change: Callable[[str | None], tuple[str, T]], ttl: float
    ) -> T:
        """Read-modify-write of the chat's row in one IMMEDIATE transaction."""
        async with self._tx() as db:
            now = time.time()
            async with db.execute(
                "SELECT state FROM paces WHERE chat = ? AND expires > ?", (chat, now)
            ) as cursor:
                row = await cursor.fetchone()
            text, result = change(row[0] if row else None)
            await db.execute(
                "INSERT INTO paces (chat, state, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (chat) DO UPDATE SET state = excluded.state, "
                "expires = excluded.expires",
                (chat, text, now + ttl),
            )
        return result

    # Catch-up -----------------------------------------------------------------------------

    async def note_handled(self, channel: str, message_id: str, ttl: float) -> None:
        """Keep the channel's newest handled id and when it was last active."""
        async with self._tx() as db:
            now = time.time()
            async with db.execute(
                "SELECT last FROM handled WHERE channel = ? AND expires > ?", (channel, now)
            ) as cursor:
                row = await cursor.fetchone()
            last = newer_id(str(row[0]), message_id) if row else message_id
            await db.execute(
                "INSERT INTO handled (channel, last, at, expires) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (channel) DO UPDATE SET last = excluded.last, at = excluded.at, "
                "expires = excluded.expires",
                (channel, last, now, now + ttl),
            )

    async def active_channels(self, limit: int) -> dict[str, str]:
        """Most recently active channels first, with their newest handled id."""
        async with (
            self._tx() as db,
            db.execute(
                "SELECT channel, last FROM handled WHERE expires > ? ORDER BY at DESC LIMIT ?",
                (time.time(), limit),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return {str(channel): str(last) for channel, last in rows}

    # Lifecycle ----------------------------------------------------------------------------

    async def ping(self) -> str:
        """'sqlite <version> <file>' once the file is open and the tables exist."""
        async with self._tx():
            pass
        return f"sqlite {sqlite3.sqlite_version} {self.path.name}"

    async def aclose(self) -> None:
        """Close the file."""
        async with self._lock:
            if self._db is not None:
                await self._db.close()
                self._db = None

    # The operator's page ------------------------------------------------------------------

    async def hourly_usage(self, since: float) -> dict[int, dict[str, int]]:
        """The hours' rows from ``since`` on."""
        async with (
            self._tx() as db,
            db.execute(
                "SELECT hour, backend, count FROM page_usage WHERE hour >= ? AND expires > ?",
                (hour_of(since), time.time()),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        found: dict[int, dict[str, int]] = {}
        for hour, backend, count in rows:
            found.setdefault(int(hour), {})[str(backend)] = int(count)
        return found

    async def top_usage(self, limit: int) -> TopUsage:
        """Today's rows of both lists, most first."""
        day = day_of(time.time())
        lists: dict[str, list[tuple[str, int]]] = {}
        async with self._tx() as db:
            for what in ("channels", "users"):
                async with db.execute(
                    "SELECT name, count FROM page_top WHERE day = ? AND what = ? "
                    "ORDER BY count DESC, name DESC LIMIT ?",
                    (day, what, limit),
                ) as cursor:
                    lists[what] = [(str(n), int(c)) for n, c in await cursor.fetchall()]
        return TopUsage(channels=lists["channels"], users=lists["users"])

    async def add_trouble(self, lines: Sequence[tuple[str, str]]) -> None:
        """Append, drop all but the newest, count the kinds: one transaction."""
        if not lines:
            return
        now = time.time()
        day = day_of(now)
        async with self._tx() as db:
            await db.executemany(
                "INSERT INTO page_trouble (text, expires) VALUES (?, ?)",
                [(text, now + TROUBLE_TTL) for _, text in lines],
            )
            await db.execute(
                "DELETE FROM page_trouble WHERE seq <= (SELECT MAX(seq) FROM page_trouble) - ?",
                (TROUBLE_KEEP,),
            )
            # The list lives as long as its newest line, as a Redis list does.
            await db.execute("UPDATE page_trouble SET expires = ?", (now + TROUBLE_TTL,))
            await db.executemany(
                "INSERT INTO page_kinds (day, kind, count, expires) VALUES (?, ?, 1, ?) "
                "ON CONFLICT (day, kind) DO UPDATE SET count = count + 1",
                [(day, kind, now + DAY_TTL) for kind, _ in lines],
            )

    async def trouble(self, limit: int) -> tuple[list[str], dict[str, int]]:
        """The newest lines and today's counts."""
        now = time.time()
        async with self._tx() as db:
            async with db.execute(
                "SELECT text FROM page_trouble WHERE expires > ? ORDER BY seq DESC LIMIT ?",
                (now, limit),
            ) as cursor:
                texts = [str(t) for (t,) in await cursor.fetchall()]
            async with db.execute(
                "SELECT kind, count FROM page_kinds WHERE day = ? AND expires > ?",
                (day_of(now), now),
            ) as cursor:
                kinds = {str(k): int(n) for k, n in await cursor.fetchall()}
        return texts, kinds

    async def beat(self, process: str, info: str, ttl: float) -> None:
        """A mark per process."""
        await self.set_mark(_BEAT + process, info, ttl)

    async def processes(self) -> dict[str, str]:
        """The beat marks that have not lapsed."""
        async with (
            self._tx() as db,
            db.execute(
                "SELECT name, value FROM marks WHERE substr(name, 1, ?) = ? AND expires > ? "
                "ORDER BY name",
                (len(_BEAT), _BEAT, time.time()),
            ) as cursor,
        ):
            return {str(n)[len(_BEAT) :]: str(v) for n, v in await cursor.fetchall()}

    async def open_channels(self, limit: int) -> dict[str, int]:
        """Open journal records counted by channel."""
        async with (
            self._tx() as db,
            db.execute(
                "SELECT channel FROM journal WHERE state != ? AND expires > ? LIMIT ?",
                (State.DONE.value, time.time(), limit),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        found: dict[str, int] = {}
        for (channel,) in rows:
            found[str(channel)] = found.get(str(channel), 0) + 1
        return found


def _probe(path: Path) -> None:
    """Raise sqlite3's error if the file cannot be opened or created."""
    sqlite3.connect(path).close()


# Statements shared by admit() and the single-purpose methods; each runs inside a transaction.


async def _claim(db: aiosqlite.Connection, key: str, now: float, ttl: float) -> bool:
    """Insert ``key`` unless a live row exists; True when inserted."""
    await db.execute("DELETE FROM seen WHERE key = ? AND expires <= ?", (key, now))
    cursor = await db.execute(
        "INSERT OR IGNORE INTO seen (key, expires) VALUES (?, ?)", (key, now + ttl)
    )
    return cursor.rowcount == 1


def _where(meter: Meter) -> tuple[str, str, int, str]:
    """The primary key of a meter's row."""
    return meter.scope.value, meter.window.period, int(meter.window.start), meter.key


async def _meter_row(db: aiosqlite.Connection, meter: Meter, now: float) -> None:
    """Make sure the meter's row of its window exists (an ended window's row starts afresh)."""
    await db.execute(
        "DELETE FROM allowances WHERE scope = ? AND period = ? AND start = ? AND key = ? "
        "AND expires <= ?",
        (*_where(meter), now),
    )
    await db.execute(
        "INSERT OR IGNORE INTO allowances (scope, period, start, key, used, granted, expires) "
        "VALUES (?, ?, ?, ?, 0, 0, ?)",
        (*_where(meter), meter.window.end),
    )


async def _usage(db: aiosqlite.Connection, meter: Meter, now: float) -> Usage:
    async with db.execute(
        "SELECT used, granted FROM allowances WHERE scope = ? AND period = ? AND start = ? "
        "AND key = ? AND expires > ?",
        (*_where(meter), now),
    ) as cursor:
        row = await cursor.fetchone()
    return Usage(used=int(row[0]), granted=int(row[1])) if row else Usage(used=0)


async def _over(db: aiosqlite.Connection, meters: Sequence[Meter], now: float) -> Meter | None:
    """The first meter with no room left for one more message, or None."""
    for meter in meters:
        if meter.limit is None:
            continue
        usage = await _usage(db, meter, now)
        if usage.used + 1 > meter.limit + usage.granted:
            return meter
    return None


async def _charge(
    db: aiosqlite.Connection,
    meters: Sequence[Meter],
    channel: str,
    message_id: str,
    now: float,
    ttl: float,
) -> tuple[int, ...]:
    """Charge every meter once for the message; each one's use afterwards, or () when the
    message was charged before."""
    await db.execute(
        "DELETE FROM charges WHERE channel = ? AND message_id = ? AND expires <= ?",
        (channel, message_id, now),
    )
    until = min(now + ttl, max(m.window.end for m in meters))
    cursor = await db.execute(
        "INSERT OR IGNORE INTO charges (channel, message_id, refunded, expires) VALUES (?, ?, 0, ?)",
        (channel, message_id, until),
    )
    if cursor.rowcount != 1:
        return ()
    used = []
    for meter in meters:
        await _meter_row(db, meter, now)
        await db.execute(
            "UPDATE allowances SET used = used + 1 WHERE scope = ? AND period = ? AND start = ? "
            "AND key = ?",
            _where(meter),
        )
        used.append((await _usage(db, meter, now)).used)
    return tuple(used)


async def _count(db: aiosqlite.Connection, user: str, now: float, window: float) -> int:
    """Count one message in the user's fixed window; the new count."""
    await db.execute(
        "INSERT INTO rates (user, count, expires) VALUES (?, 1, ?) "
        "ON CONFLICT (user) DO UPDATE SET "
        "count = CASE WHEN expires <= ? THEN 1 ELSE count + 1 END, "
        "expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END",
        (user, now + window, now, now),
    )
    async with db.execute("SELECT count FROM rates WHERE user = ?", (user,)) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 1


async def _put(db: aiosqlite.Connection, record: JournalRecord, now: float) -> None:
    await db.execute(
        "INSERT INTO journal (channel, message_id, record, state, owner, expires) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, message_id) DO UPDATE SET "
        "record = excluded.record, state = excluded.state, owner = excluded.owner, "
        "expires = excluded.expires",
        (
            record.channel,
            record.message_id,
            record.to_json(),
            record.state.value,
            record.owner,
            now + JOURNAL_TTL,
        ),
    )


async def _put_shown(
    db: aiosqlite.Connection, channel: str, message_id: str, shown: Shown, now: float
) -> None:
    await db.execute(
        "INSERT INTO shown (channel, message_id, shown, expires) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (channel, message_id) DO UPDATE SET shown = excluded.shown, "
        "expires = excluded.expires",
        (channel, message_id, shown.to_json(), now + JOURNAL_TTL),
    )


async def _take_place(
    db: aiosqlite.Connection,
    channel: str,
    old: str,
    new: str,
    now: float,
    ttl: float,
    *,
    upstream: bool,
) -> None:
    """A claimed record's new ticket takes the old one's place in the queue and its lease; a
    reply that went ``upstream`` goes first when its place is gone, and takes the lease unless
    a live ticket holds it (the Redis claim script, in SQL)."""
    cursor = await db.execute(
        "UPDATE queue SET ticket = ? WHERE channel = ? AND ticket = ?", (new, channel, old)
    )
    if cursor.rowcount == 0 and upstream:
        async with db.execute("SELECT min(seq) FROM queue WHERE channel = ?", (channel,)) as rows:
            first = (await rows.fetchone() or (None,))[0]
        await db.execute(
            "INSERT OR IGNORE INTO queue (seq, channel, ticket) VALUES (?, ?, ?)",
            (None if first is None else first - 1, channel, new),
        )
    if upstream:
        await db.execute(
            "INSERT INTO leases (channel, ticket, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (channel) DO UPDATE SET ticket = excluded.ticket, "
            "expires = excluded.expires WHERE leases.ticket = ? OR leases.expires <= ?",
            (channel, new, now + ttl, old, now),
        )
    else:
        await db.execute(
            "UPDATE leases SET ticket = ?, expires = ? WHERE channel = ? AND ticket = ? "
            "AND expires > ?",
            (new, now + ttl, channel, old, now),
        )


async def _held(db: aiosqlite.Connection, channel: str, head: str, now: float, ttl: float) -> str:
    """Whether a dead ticket first in the queue waits for recovery (its message is still
    open): 'new' when the wait begins, 'held' during it, '' when it does not (the Redis
    script)."""
    async with db.execute(
        "SELECT state, owner FROM journal WHERE channel = ? AND message_id = ? AND expires > ?",
        (channel, message_of(head), now),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None or row[1] != head or row[0] == State.DONE.value:
        return ""
    hold = ttl * RECOVERY_HOLD
    async with db.execute(
        "SELECT until FROM holds WHERE channel = ? AND ticket = ? AND expires > ?",
        (channel, head, now),
    ) as cursor:
        until = await cursor.fetchone()
    if until is None:
        await db.execute(
            "INSERT OR REPLACE INTO holds (channel, ticket, until, expires) VALUES (?, ?, ?, ?)",
            (channel, head, now + hold, now + 2 * hold),
        )
        return "new"
    return "held" if now < until[0] else ""


async def _alive(
    db: aiosqlite.Connection, channel: str, owner: str, now: float, ttl: float
) -> None:
    await db.execute(
        "INSERT INTO procs (channel, owner, expires) VALUES (?, ?, ?) "
        "ON CONFLICT (channel, owner) DO UPDATE SET expires = excluded.expires",
        (channel, owner, now + ttl),
    )


async def _is_alive(db: aiosqlite.Connection, channel: str, owner: str, now: float) -> bool:
    async with db.execute(
        "SELECT 1 FROM procs WHERE channel = ? AND owner = ? AND expires > ?", (channel, owner, now)
    ) as cursor:
        return await cursor.fetchone() is not None


async def _queue_length(db: aiosqlite.Connection, channel: str) -> int:
    async with db.execute("SELECT count(*) FROM queue WHERE channel = ?", (channel,)) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _turn(
    db: aiosqlite.Connection, channel: str, ticket: str, now: float, ttl: float
) -> Turn:
    """The Redis turn script, in SQL: renew or take the lease when first; drop dead tickets."""
    async with db.execute(
        "SELECT ticket FROM leases WHERE channel = ? AND expires > ?", (channel, now)
    ) as cursor:
        held = await cursor.fetchone()
    if held is not None:
        if held[0] != ticket:
            return Turn(acquired=False, ahead=held[0])
        await db.execute("UPDATE leases SET expires = ? WHERE channel = ?", (now + ttl, channel))
        return Turn(acquired=True)
    await db.execute(
        "INSERT OR IGNORE INTO queue (channel, ticket) VALUES (?, ?)", (channel, ticket)
    )
    lapsed: list[str] = []
    async with db.execute(
        "SELECT seq, ticket FROM queue WHERE channel = ? ORDER BY seq", (channel,)
    ) as cursor:
        rows = await cursor.fetchall()
    for seq, head in rows:
        if head == ticket:
            await db.execute(
                "INSERT INTO leases (channel, ticket, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (channel) DO UPDATE SET ticket = excluded.ticket, "
                "expires = excluded.expires",
                (channel, ticket, now + ttl),
            )
            return Turn(acquired=True, lapsed=lapsed)
        if await _is_alive(db, channel, process_of(head), now):
            return Turn(acquired=False, lapsed=lapsed, ahead=head)
        hold = await _held(db, channel, head, now, ttl)
        if hold:
            lapsed = [*lapsed, head] if hold == "new" else lapsed
            return Turn(acquired=False, lapsed=lapsed, ahead=head)
        await db.execute("DELETE FROM queue WHERE seq = ?", (seq,))
        lapsed.append(head)
    return Turn(acquired=False, lapsed=lapsed)


async def _binding(db: aiosqlite.Connection, channel: str) -> Binding | None:
    async with db.execute("SELECT fields FROM bindings WHERE channel = ?", (channel,)) as cursor:
        row = await cursor.fetchone()
    return Binding.from_fields(json.loads(row[0])) if row else None


async def _get_mode(db: aiosqlite.Connection, channel: str) -> ReplyMode | None:
    async with db.execute("SELECT mode FROM modes WHERE channel = ?", (channel,)) as cursor:
        row = await cursor.fetchone()
    return _known(ReplyMode, row[0] if row else None)


async def _get_scope(db: aiosqlite.Connection, channel: str) -> Scope | None:
    async with db.execute("SELECT scope FROM scopes WHERE channel = ?", (channel,)) as cursor:
        row = await cursor.fetchone()
    return _known(Scope, row[0] if row else None)


async def _cooldowns(db: aiosqlite.Connection, now: float) -> dict[str, float]:
    async with db.execute("SELECT backend, until FROM cooldowns WHERE until > ?", (now,)) as cur:
        rows = await cur.fetchall()
    return {backend: until - now for backend, until in rows}


async def _count_done(db: aiosqlite.Connection, record: JournalRecord, now: float) -> None:
    """Count a record that went upstream: its hour's count by backend, today's top lists."""
    if not record.backend:
        return
    await db.execute(
        "INSERT INTO page_usage (hour, backend, count, expires) VALUES (?, ?, 1, ?) "
        "ON CONFLICT (hour, backend) DO UPDATE SET count = count + 1",
        (hour_of(now), record.backend, now + USAGE_TTL),
    )
    day = day_of(now)
    await db.executemany(
        "INSERT INTO page_top (day, what, name, count, expires) VALUES (?, ?, ?, 1, ?) "
        "ON CONFLICT (day, what, name) DO UPDATE SET count = count + 1",
        [
            (day, "channels", record.channel, now + DAY_TTL),
            (day, "users", record.author, now + DAY_TTL),
        ],
    )


async def _trim_top(db: aiosqlite.Connection) -> None:
    """Keep each day's :data:`TOP_KEEP` leaders per list (on the sweep, not per message)."""
    await db.execute(
        "DELETE FROM page_top WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ROW_NUMBER() "
        "OVER (PARTITION BY day, what ORDER BY count DESC) AS place FROM page_top) "
        "WHERE place > ?)",
        (TOP_KEEP,),
    )
