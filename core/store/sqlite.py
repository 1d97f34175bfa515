"""The embedded SQLite store: one file, one process (the default when no Redis URL is set)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import aiosqlite

from core.errors import StoreUnavailable
from core.model import Admission, Binding, ChannelRecord, ReplyMode
from core.store.base import Store, newer_id

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bindings (channel TEXT PRIMARY KEY, fields TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS modes (channel TEXT PRIMARY KEY, mode TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS locks (channel TEXT PRIMARY KEY, owner TEXT NOT NULL,
                                  expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rates (user TEXT PRIMARY KEY, count INTEGER NOT NULL,
                                  expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cooldowns (backend TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS paces (chat TEXT PRIMARY KEY, state TEXT NOT NULL,
                                  expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS handled (channel TEXT PRIMARY KEY, last TEXT NOT NULL,
                                    at REAL NOT NULL, expires REAL NOT NULL);
"""

# Tables whose rows expire; swept now and then so the file does not grow without bound.
_EXPIRING = {
    "locks": "expires",
    "seen": "expires",
    "rates": "expires",
    "cooldowns": "until",
    "paces": "expires",
    "handled": "expires",
}
_SWEEP_EVERY = 60.0

T = TypeVar("T")


def _mode(value: str | None) -> ReplyMode | None:
    """A stored mode, ignoring values this version does not know."""
    try:
        return ReplyMode(value) if value else None
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

    # The hot path ---------------------------------------------------------------------------

    async def admit(
        self,
        *,
        channel: str,
        message_id: str,
        user: str,
        lock_owner: str,
        lock_ttl: float,
        dedupe_ttl: float,
        rate_limit: int,
        rate_window: float,
    ) -> Admission:
        """Dedupe, count, lock and read in one transaction; see :meth:`Store.admit`."""
        async with self._tx() as db:
            now = time.time()
            await self._sweep(db, now)
            duplicate = not await _claim(db, f"msg:{channel}:{message_id}", now, dedupe_ttl)
            rate_limited = False
            lock_acquired = False
            if not duplicate:
                rate_limited = await _count(db, user, now, rate_window) > rate_limit
                if not rate_limited:
                    lock_acquired = await _lock(db, channel, lock_owner, now, lock_ttl)
            binding = await _binding(db, channel)
            cooldowns = await _cooldowns(db, now)
        return Admission(
            duplicate=duplicate,
            rate_limited=rate_limited,
            lock_acquired=lock_acquired,
            binding=binding,
            cooldowns=cooldowns,
        )

    # Locks --------------------------------------------------------------------------------

    async def acquire_lock(self, channel: str, owner: str, ttl: float) -> bool:
        """Take the channel lock if free (or already ours)."""
        async with self._tx() as db:
            return await _lock(db, channel, owner, time.time(), ttl)

    async def release_lock(self, channel: str, owner: str) -> None:
        """Release the channel lock if ``owner`` holds it."""
        async with self._tx() as db:
            await db.execute("DELETE FROM locks WHERE channel = ? AND owner = ?", (channel, owner))

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
        """Every channel with a binding or a mode."""
        async with self._tx() as db:
            async with db.execute("SELECT channel, fields FROM bindings") as cursor:
                bindings = {
                    ch: Binding.from_fields(json.loads(f)) for ch, f in await cursor.fetchall()
                }
            async with db.execute("SELECT channel, mode FROM modes") as cursor:
                modes = {ch: _mode(m) for ch, m in await cursor.fetchall()}
        return [
            ChannelRecord(channel=ch, binding=bindings.get(ch), mode=modes.get(ch))
            for ch in sorted(bindings.keys() | modes.keys())
        ]

    # Claims and cooldowns -------------------------------------------------------------------

    async def claim(self, key: str, ttl: float) -> bool:
        """Claim a one-off id for ``ttl`` seconds; False if already claimed."""
        async with self._tx() as db:
            return await _claim(db, f"claim:{key}", time.time(), ttl)

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


async def _lock(db: aiosqlite.Connection, channel: str, owner: str, now: float, ttl: float) -> bool:
    """Take the lock if free or expired; True when ``owner`` holds it afterwards."""
    await db.execute("DELETE FROM locks WHERE channel = ? AND expires <= ?", (channel, now))
    await db.execute(
        "INSERT OR IGNORE INTO locks (channel, owner, expires) VALUES (?, ?, ?)",
        (channel, owner, now + ttl),
    )
    async with db.execute("SELECT owner FROM locks WHERE channel = ?", (channel,)) as cursor:
        row = await cursor.fetchone()
    return row is not None and row[0] == owner


async def _binding(db: aiosqlite.Connection, channel: str) -> Binding | None:
    async with db.execute("SELECT fields FROM bindings WHERE channel = ?", (channel,)) as cursor:
        row = await cursor.fetchone()
    return Binding.from_fields(json.loads(row[0])) if row else None


async def _get_mode(db: aiosqlite.Connection, channel: str) -> ReplyMode | None:
    async with db.execute("SELECT mode FROM modes WHERE channel = ?", (channel,)) as cursor:
        row = await cursor.fetchone()
    return _mode(row[0] if row else None)


async def _cooldowns(db: aiosqlite.Connection, now: float) -> dict[str, float]:
    async with db.execute("SELECT backend, until FROM cooldowns WHERE until > ?", (now,)) as cur:
        rows = await cur.fetchall()
    return {backend: until - now for backend, until in rows}
