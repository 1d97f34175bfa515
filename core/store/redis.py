"""The Redis store: shared state for many bridge processes (single Redis or Redis Cluster)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from core.errors import StoreUnavailable
from core.model import Admission, Binding, ChannelRecord, ReplyMode
from core.store.base import Store

# Compare-and-delete: only the owner may release the lock (one key, so Cluster-safe).
_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

# Undo a rate count without creating a key that would never expire.
_UNCOUNT = """
if redis.call('exists', KEYS[1]) == 1 then
    return redis.call('decr', KEYS[1])
end
return 0
"""

T = TypeVar("T")
_SWAP_TRIES = 100  # optimistic retries when another writer changed a pacing state meanwhile
_SWAP_BACKOFF = 0.002  # up to this many seconds (random) between two tries
# Keep the newest of two decimal ids (as strings: snowflakes do not fit Lua's doubles).
_NOTE_HANDLED = """
local cur = redis.call('get', KEYS[1])
local new = ARGV[1]
if not cur or #new > #cur or (#new == #cur and new > cur) then
    cur = new
end
redis.call('set', KEYS[1], cur, 'PX', ARGV[2])
return cur
"""

_UNREACHABLE = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)


def _ms(seconds: float) -> int:
    """Redis expiries in whole milliseconds, never zero (zero is an error for SET PX)."""
    return max(1, round(seconds * 1000))


def _text(value: str | bytes) -> str:
    """redis-py types replies as ``str | bytes``; this client decodes, but stay total."""
    return value.decode() if isinstance(value, bytes) else value


def _texts(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A hash reply as ``dict[str, str]``."""
    return {_text(k): _text(v) for k, v in raw.items()}


def _mode(value: str | bytes | None) -> ReplyMode | None:
    """A stored mode, ignoring values this version does not know."""
    try:
        return ReplyMode(_text(value)) if value else None
    except ValueError:
        return None


def _cooldowns(raw: dict[str, str], now: float) -> dict[str, float]:
    """Backend -> seconds left, from the stored unix expiries; expired entries are ignored."""
    left: dict[str, float] = {}
    for backend, until in raw.items():
        try:
            remaining = float(until) - now
        except ValueError:
            continue
        if remaining > 0:
            left[backend] = remaining
    return left


def _glob_escape(text: str) -> str:
    """``text`` matched literally in a SCAN pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


class RedisStore(Store):
    """:class:`Store` on Redis. Keys carry a hash tag per channel/user so Redis Cluster works.

    ``round_trips`` counts commands and pipelines sent, for the benchmark. Lock owners should be
    unique per message; the same owner taking a lock it holds succeeds, so a retried request after a
    dropped connection stays idempotent.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "bridge",
        socket_timeout: float = 5.0,
        max_connections: int = 128,
        client: Redis | None = None,
    ) -> None:
        self.prefix = prefix
        self.round_trips = 0
        # Few, quick retries: a store that is down must surface as StoreUnavailable in about a
        # second, not after redis-py 8's default of ten retries.
        # A blocking pool: a burst of messages waits briefly for a connection instead of failing
        # (redis-py's default pool raises past 100). No CLIENT SETINFO: it costs a round-trip
        # per new connection and tells the server nothing it needs.
        self._redis: Redis = client or Redis.from_pool(
            BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=socket_timeout,
                driver_info=None,
                decode_responses=True,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                health_check_interval=30,
                retry=Retry(ExponentialWithJitterBackoff(cap=0.25, base=0.02), 2),
            )
        )
        self._release = self._redis.register_script(_RELEASE_LOCK)

    # Keys ---------------------------------------------------------------------------------

    def _channel_key(self, channel: str, what: str) -> str:
        return f"{self.prefix}:{{ch:{channel}}}:{what}"

    def _rate_key(self, user: str) -> str:
        return f"{self.prefix}:{{user:{user}}}:rate"

    def _cooldowns_key(self) -> str:
        return f"{self.prefix}:cooldowns"

    def _pace_key(self, chat: str) -> str:
        return f"{self.prefix}:{{pace:{chat}}}"

    def _active_key(self) -> str:
        return f"{self.prefix}:active"

    def _claim_key(self, key: str) -> str:
        return f"{self.prefix}:{{claim:{key}}}"

    @asynccontextmanager
    async def _trip(self) -> AsyncIterator[None]:
        """Count one round-trip and turn connection failures into StoreUnavailable.

        The message never carries the URL: it may hold a password.
        """
        self.round_trips += 1
        try:
            yield
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"store unreachable ({type(exc).__name__})") from None

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
        """Dedupe, count, lock and read in one pipeline; see :meth:`Store.admit`."""
        seen_key = self._channel_key(channel, f"seen:{message_id}")
        rate_key = self._rate_key(user)
        lock_key = self._channel_key(channel, "lock")
        # A per-call token in the dedupe key lets us recognise our own write if redis-py
        # re-sends the pipeline after a dropped connection: that is not a duplicate.
        token = uuid.uuid4().hex
        # The keys live in different slots, so neither MULTI nor one Lua script can cover them.
        # A non-transactional pipeline is one round-trip; the lock and the count are taken
        # optimistically and undone below in the rare duplicate / rate-limited cases, which
        # keeps the common case at a single round-trip.
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(seen_key, token, nx=True, get=True, px=_ms(dedupe_ttl))
        pipe.incr(rate_key)
        pipe.pexpire(rate_key, _ms(rate_window), nx=True)
        pipe.set(lock_key, lock_owner, nx=True, get=True, px=_ms(lock_ttl))
        pipe.hgetall(self._channel_key(channel, "binding"))
        pipe.hgetall(self._cooldowns_key())
        async with self._trip():
            seen, count, _, lock_before, binding, cooldowns = await pipe.execute()
        now = time.time()

        duplicate = seen is not None and seen != token
        rate_limited = not duplicate and int(count) > rate_limit
        took_lock = lock_before is None or lock_before == lock_owner
        if duplicate or rate_limited:
            await self._undo(
                lock_key=lock_key if took_lock else None,
                lock_owner=lock_owner,
                rate_key=rate_key if duplicate else None,
            )
        return Admission(
            duplicate=duplicate,
            rate_limited=rate_limited,
            lock_acquired=took_lock and not (duplicate or rate_limited),
            binding=Binding.from_fields(_texts(binding)) if binding else None,
            cooldowns=_cooldowns(_texts(cooldowns), now),
        )

    async def _undo(self, *, lock_key: str | None, lock_owner: str, rate_key: str | None) -> None:
        """Give back an optimistic lock and/or rate count (one round-trip, rare)."""
        if lock_key is None and rate_key is None:
            return
        # Plain EVAL, not EVALSHA: in a pipeline redis-py would add SCRIPT EXISTS round-trips.
        pipe = self._redis.pipeline(transaction=False)
        if lock_key is not None:
            pipe.eval(_RELEASE_LOCK, 1, lock_key, lock_owner)
        if rate_key is not None:
            pipe.eval(_UNCOUNT, 1, rate_key)
        async with self._trip():
            await pipe.execute()

    # Locks --------------------------------------------------------------------------------

    async def acquire_lock(self, channel: str, owner: str, ttl: float) -> bool:
        """Take the channel lock if free (or already ours)."""
        async with self._trip():
            before = await self._redis.set(
                self._channel_key(channel, "lock"), owner, nx=True, get=True, px=_ms(ttl)
            )
        return before is None or before == owner

    async def release_lock(self, channel: str, owner: str) -> None:
        """Release the channel lock if ``owner`` holds it (compare-and-delete)."""
        async with self._trip():
            await self._release(keys=[self._channel_key(channel, "lock")], args=[owner])

    # Bindings and modes ---------------------------------------------------------------------

    async def get_binding(self, channel: str) -> Binding | None:
        """The channel's binding, or None."""
        async with self._trip():
            fields = await self._redis.hgetall(self._channel_key(channel, "binding"))
        return Binding.from_fields(_texts(fields)) if fields else None

    async def set_binding(self, channel: str, binding: Binding) -> None:
        """Replace the channel's binding atomically (one key, so MULTI is Cluster-safe)."""
        key = self._channel_key(channel, "binding")
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(key)
        fields: dict[Any, Any] = binding.to_fields()
        pipe.hset(key, mapping=fields)
        async with self._trip():
            await pipe.execute()

    async def delete_binding(self, channel: str) -> bool:
        """Unbind; True when there was a binding."""
        async with self._trip():
            removed = await self._redis.delete(self._channel_key(channel, "binding"))
        return bool(removed)

    async def get_mode(self, channel: str) -> ReplyMode | None:
        """The channel's reply mode, or None."""
        async with self._trip():
            value = await self._redis.get(self._channel_key(channel, "mode"))
        return _mode(value)

    async def set_mode(self, channel: str, mode: ReplyMode) -> None:
        """Set the channel's reply mode."""
        async with self._trip():
            await self._redis.set(self._channel_key(channel, "mode"), mode.value)

    async def channel_records(self) -> list[ChannelRecord]:
        """Every channel with a binding or a mode (SCAN by key pattern, then one read each)."""
        settings: dict[str, dict[str, str]] = {}
        head = f"{self.prefix}:{{ch:"
        async with self._trip():
            for what in ("binding", "mode"):
                pattern = f"{_glob_escape(head)}*}}:{what}"
                async for key in self._redis.scan_iter(match=pattern, count=1000):
                    name = _text(key)
                    channel = name[len(head) : -len(f"}}:{what}")]
                    settings.setdefault(channel, {})[what] = name
        records = []
        for channel in sorted(settings):
            keys = settings[channel]
            async with self._trip():
                fields = await self._redis.hgetall(keys["binding"]) if "binding" in keys else {}
                mode = await self._redis.get(keys["mode"]) if "mode" in keys else None
            binding = Binding.from_fields(_texts(fields)) if fields else None
            records.append(ChannelRecord(channel=channel, binding=binding, mode=_mode(mode)))
        return [r for r in records if r.binding is not None or r.mode is not None]

    # Claims and cooldowns -------------------------------------------------------------------

    async def claim(self, key: str, ttl: float) -> bool:
        """Claim a one-off id for ``ttl`` seconds; False if already claimed."""
        async with self._trip():
            created = await self._redis.set(self._claim_key(key), "1", nx=True, px=_ms(ttl))
        return bool(created)

    async def set_cooldown(self, backend: str, seconds: float) -> None:
        """Pause ``backend`` for every process until now + ``seconds`` (0 clears it)."""
        async with self._trip():
            await self._redis.hset(self._cooldowns_key(), backend, repr(time.time() + seconds))

    async def get_cooldowns(self) -> dict[str, float]:
        """Backend name -> seconds left, active cooldowns only."""
        async with self._trip():
            raw = await self._redis.hgetall(self._cooldowns_key())
        return _cooldowns(_texts(raw), time.time())

    # Pacing -------------------------------------------------------------------------------

    async def swap_pace(
        self, chat: str, change: Callable[[str | None], tuple[str, T]], ttl: float
    ) -> T:
        """Read-modify-write of one key under WATCH (one key, so Cluster-safe); a concurrent
        change by another process makes EXEC fail and the change run again on the new state."""
        key = self._pace_key(chat)
        for _ in range(_SWAP_TRIES):
            async with self._trip(), self._redis.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                raw = await pipe.get(key)
                text, result = change(None if raw is None else _text(raw))
                pipe.multi()
                pipe.set(key, text, px=_ms(ttl))
                try:
                    await pipe.execute()
                    return result
                except redis_errors.WatchError:
                    pass
            # Jitter, so that writers who collided do not collide again in lockstep.
            await asyncio.sleep(random.uniform(0, _SWAP_BACKOFF))
        raise StoreUnavailable("pacing state too contended")

    # Catch-up -----------------------------------------------------------------------------

    async def note_handled(self, channel: str, message_id: str, ttl: float) -> None:
        """Keep the channel's newest handled id (its own key, under the channel's hash tag) and
        its place in the index of active channels (a sorted set by time, trimmed to ``ttl``)."""
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        pipe.eval(_NOTE_HANDLED, 1, self._channel_key(channel, "last"), message_id, _ms(ttl))
        pipe.zadd(self._active_key(), {channel: now})
        pipe.zremrangebyscore(self._active_key(), "-inf", now - ttl)
        pipe.pexpire(self._active_key(), _ms(ttl))
        async with self._trip():
            await pipe.execute()

    async def active_channels(self, limit: int) -> dict[str, str]:
        """Most recently active channels first, with their newest handled id."""
        async with self._trip():
            raw: list[Any] = await self._redis.zrevrange(self._active_key(), 0, limit - 1)
        channels = [_text(c) for c in raw]
        if not channels:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for channel in channels:
            pipe.get(self._channel_key(channel, "last"))
        async with self._trip():
            lasts = await pipe.execute()
        return {c: _text(last) for c, last in zip(channels, lasts, strict=True) if last}

    # Lifecycle ----------------------------------------------------------------------------

    async def ping(self) -> str:
        """'redis <version>' from INFO server."""
        async with self._trip():
            info: dict[str, Any] = await self._redis.info("server")
        return f"redis {info.get('redis_version', 'unknown')}"

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        await self._redis.aclose()
