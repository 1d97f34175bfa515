"""The Redis store: shared state for many bridge processes (single Redis, Redis behind Sentinel,
or Redis Cluster)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, TypeVar

import hiredis
from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelManagedConnection
from redis.backoff import ExponentialWithJitterBackoff

from core.errors import StoreFull, StoreRefused, StoreUnavailable
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
)
from core.store.group_commit import Commands, GroupCommit
from core.store.sentinel import SentinelLink, SentinelTarget, write_refusal

# The channel's turn: a FIFO list of tickets ("<process>|<message id>") and a lease key naming
# the ticket that replies. Every key of one channel shares its hash tag, so each script touches
# one Cluster slot. A ticket ahead whose process key has expired and whose message is still
# open (its record reads received, sent or streaming) stays first for a while, so recovery
# takes it over in its place before a later message is answered: reported when that wait
# begins. Other dead tickets (their message done, or its record gone) are dropped. Answers
# {taken, the ticket ahead ('' when taken), lapsed tickets...}.
_TURN = """
local function held(head, channel, hold_ms)
    local id = string.match(head, '|(.*)$')
    local raw = id and redis.call('get', channel .. 'j:' .. id)
    if not raw then
        return false
    end
    local record = cjson.decode(raw)
    if record['owner'] ~= head or record['state'] == 'done' then
        return false
    end
    local key = channel .. 'hold:' .. head
    local now = redis.call('time')
    now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
    local ends = tonumber(redis.call('get', key))
    if not ends then
        redis.call('set', key, now + hold_ms, 'PX', 2 * hold_ms)
        return 'new'
    end
    return now < ends and 'held'
end

local function turn(queue, lease, ticket, lease_ms, procs, channel, hold_ms)
    local holder = redis.call('get', lease)
    if holder == ticket then
        redis.call('pexpire', lease, lease_ms)
        return {1, ''}
    end
    if holder then
        return {0, holder}
    end
    if not redis.call('lpos', queue, ticket) then
        redis.call('rpush', queue, ticket)  -- the store lost it (e.g. restarted without AOF)
    end
    local lapsed = {}
    while true do
        local head = redis.call('lindex', queue, 0)
        if head == ticket then
            redis.call('set', lease, ticket, 'PX', lease_ms)
            return {1, '', unpack(lapsed)}
        end
        local owner = string.match(head, '^([^|]*)|') or head
        if redis.call('exists', procs .. owner) == 1 then
            return {0, head, unpack(lapsed)}
        end
        local hold = held(head, channel, tonumber(hold_ms))
        if hold then
            if hold == 'new' then
                table.insert(lapsed, head)
            end
            return {0, head, unpack(lapsed)}
        end
        redis.call('lpop', queue)
        table.insert(lapsed, head)
    end
end
"""

# KEYS: seen, journal, queue, lease, proc, binding.  ARGV: token, dedupe_ms, record, journal_ms,
# ticket, lease_ms, queue_size, resume, proc key prefix, the record as sent (written instead
# when the message takes the turn at once in a bound channel: its POST follows, and this saves
# a round-trip; an unbound channel's conversation is created first), channel key prefix,
# recovery hold ms. Answers the verdict, then whether the turn was taken and the record sent.
_ADMIT = (
    _TURN
    + """
if ARGV[8] ~= '1' then
    local seen = redis.call('set', KEYS[1], ARGV[1], 'NX', 'GET', 'PX', ARGV[2])
    if seen and seen ~= ARGV[1] then
        return {'duplicate'}
    end
end
if ARGV[8] ~= '1' and redis.call('llen', KEYS[3]) > tonumber(ARGV[7]) then
    return {'busy'}
end
redis.call('set', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('set', KEYS[5], '1', 'PX', ARGV[6])
if not redis.call('lpos', KEYS[3], ARGV[5]) then
    redis.call('rpush', KEYS[3], ARGV[5])
end
redis.call('pexpire', KEYS[3], ARGV[4])
local got = turn(KEYS[3], KEYS[4], ARGV[5], ARGV[6], ARGV[9], ARGV[11], ARGV[12])
local sent = 0
if got[1] == 1 and redis.call('exists', KEYS[6]) == 1 then
    redis.call('set', KEYS[2], ARGV[10], 'PX', ARGV[4])
    sent = 1
end
return {'queued', got[1], sent}
"""
)

# KEYS: queue, lease, journal.  ARGV: ticket, lease_ms, proc key prefix, record to write when
# the turn is taken ('' for none), journal_ms, channel key prefix, recovery hold ms.
_TAKE_TURN = (
    _TURN
    + """
local got = turn(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[6], ARGV[7])
if got[1] == 1 and ARGV[4] ~= '' then
    redis.call('set', KEYS[3], ARGV[4], 'PX', ARGV[5])
end
return got
"""
)

# KEYS: proc, lease, shown.  ARGV: ttl_ms, ticket ('' for none), shown ('' for none),
# journal_ms. What the reply shows is stored only while its ticket holds the lease. A lease
# that is gone (lost in a failover, or lapsed through an outage) is taken back by the ticket
# still replying, unless another ticket took it meanwhile.
_KEEP_ALIVE = """
redis.call('set', KEYS[1], '1', 'PX', ARGV[1])
if ARGV[2] == '' then
    return 1
end
local holder = redis.call('get', KEYS[2])
if holder == ARGV[2] or not holder then
    redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[1])
    if ARGV[3] ~= '' then
        redis.call('set', KEYS[3], ARGV[3], 'PX', ARGV[4])
    end
    return 1
end
return 0
"""

# The ticket leaves the channel's queue, and gives up the lease if it holds it; the head of
# the script below.  KEYS: queue, lease.  ARGV: ticket.
_LEAVE = """
if redis.call('get', KEYS[2]) == ARGV[1] then
    redis.call('del', KEYS[2])
end
redis.call('lrem', KEYS[1], 1, ARGV[1])
"""

# KEYS: queue, lease, journal, shown.  ARGV: ticket, record ('' keeps it, and what its reply
# shows), journal_ms. A record that reads received again (left for the next process) keeps its
# ticket's place.
_FINISH = """
if redis.call('get', KEYS[2]) == ARGV[1] then
    redis.call('del', KEYS[2])
end
if ARGV[2] == '' or cjson.decode(ARGV[2])['state'] ~= 'received' then
    redis.call('lrem', KEYS[1], 1, ARGV[1])
end
if ARGV[2] ~= '' then
    redis.call('del', KEYS[4])
    redis.call('set', KEYS[3], ARGV[2], 'PX', ARGV[3])
end
return 1
"""

# Undo an optimistic admission of a rate-limited message.  KEYS: queue, lease, journal, seen.
# ARGV: ticket.
_UNQUEUE = (
    _LEAVE
    + """
redis.call('del', KEYS[3])
return 1
"""
)

# Take over a lapsed record.  KEYS: journal, queue, lease.  ARGV: expected owner, proc key
# prefix, new record, journal_ms, ttl_ms. The new ticket takes the old one's place in the
# queue, and its lease; a reply that went upstream is put first when its place is gone, and
# takes the lease unless a live ticket holds it.
_CLAIM = """
local raw = redis.call('get', KEYS[1])
if not raw then
    return 0
end
local record = cjson.decode(raw)
if record['owner'] ~= ARGV[1] or record['state'] == 'done' then
    return 0
end
local owner = string.match(ARGV[1], '^([^|]*)|') or ARGV[1]
if redis.call('exists', ARGV[2] .. owner) == 1 then
    return 0
end
local new_owner = cjson.decode(ARGV[3])['owner']
local me = string.match(new_owner, '^([^|]*)|') or new_owner
redis.call('set', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('set', ARGV[2] .. me, '1', 'PX', ARGV[5])
local upstream = record['state'] == 'sent' or record['state'] == 'streaming'
local at = redis.call('lpos', KEYS[2], ARGV[1])
if at then
    redis.call('lset', KEYS[2], at, new_owner)
elseif upstream and not redis.call('lpos', KEYS[2], new_owner) then
    redis.call('lpush', KEYS[2], new_owner)
    redis.call('pexpire', KEYS[2], ARGV[4])
end
local holder = redis.call('get', KEYS[3])
if holder == ARGV[1] or (upstream and not holder) then
    redis.call('set', KEYS[3], new_owner, 'PX', ARGV[5])
end
return 1
"""

# Undo a rate count without creating a key that would never expire.
_UNCOUNT = """
if redis.call('exists', KEYS[1]) == 1 then
    return redis.call('decr', KEYS[1])
end
return 0
"""

# Allowances: every counter of a deployment lives under one hash tag, {allow}, so one script
# checks and charges all the meters of a message at once, on Redis and on a Cluster alike. A
# meter's use is its key's score in a sorted set per scope and window (``used``); extra messages
# granted in that window are scores in a twin set (``granted``); both expire when the window
# ends. A charge marker per message makes the charge and its refund happen at most once. On a
# Cluster the one slot puts every allowance script of a deployment on one node: a dozen O(log n)
# commands per message there, far below what a node serves, and the price of checking a person's,
# a chat's, a server's and a plan's counters in one atomic step.
# KEYS: marker, then (used, granted) per meter.  ARGV: marker_ms, then (member, limit ('' for
# none), window end in unix ms) per meter.
_METER = """
if redis.call('exists', KEYS[1]) == 1 then
    return {'already'}
end
local n = (#KEYS - 1) / 2
for i = 1, n do
    local member, limit = ARGV[3 * i - 1], ARGV[3 * i]
    if limit ~= '' then
        local used = tonumber(redis.call('zscore', KEYS[2 * i], member) or '0')
        local extra = tonumber(redis.call('zscore', KEYS[2 * i + 1], member) or '0')
        if used + 1 > tonumber(limit) + extra then
            return {'over', i}
        end
    end
end
local used = {}
for i = 1, n do
    used[i] = redis.call('zincrby', KEYS[2 * i], 1, ARGV[3 * i - 1])
    redis.call('pexpireat', KEYS[2 * i], ARGV[3 * i + 1])
end
redis.call('set', KEYS[1], '1', 'PX', ARGV[1])
return {'charged', unpack(used)}
"""

# Give a charge back once: the marker turns from '1' (charged) to '0' (refunded). A window that
# ended took its counter with it: nothing to give back there.  KEYS: marker, then used per
# meter.  ARGV: member per meter.
_REFUND = """
if redis.call('get', KEYS[1]) ~= '1' then
    return 0
end
for i = 2, #KEYS do
    if redis.call('exists', KEYS[i]) == 1 then
        local left = tonumber(redis.call('zincrby', KEYS[i], -1, ARGV[i - 1]))
        if left <= 0 then
            redis.call('zrem', KEYS[i], ARGV[i - 1])
        end
    end
end
redis.call('set', KEYS[1], '0', 'KEEPTTL')
return 1
"""

T = TypeVar("T")
_SWAP_TRIES = 100  # optimistic retries when another writer changed a pacing state meanwhile
_SWAP_BACKOFF = 0.002  # up to this many seconds (random) between two tries, from the third
_PACE_CACHE = 4096  # chats whose last-seen pacing state one process keeps (a few hundred B each)
# Compare-and-set of a pacing state: store ARGV[2] only if the key still holds ARGV[1] ('' for
# no key). On a mismatch the current text comes back, so a retry needs no separate read. The
# decision itself stays in Python (core.pacing.take), one rule for the local and shared forms.
_CAS_PACE = """
local cur = redis.call('get', KEYS[1])
if (cur or '') == ARGV[1] then
    redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return {1}
end
if not cur then
    return {0}
end
return {0, cur}
"""
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

# Replace a hash's fields in one step (field, value, field, value, ...).
_REPLACE_HASH = """
redis.call('del', KEYS[1])
return redis.call('hset', KEYS[1], unpack(ARGV))
"""

_UNREACHABLE = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    OSError,
    asyncio.TimeoutError,
    # A cluster mid-failover, or a plain client pointed at a cluster node: unreachable for us.
    redis_errors.ClusterError,
    redis_errors.AskError,  # MovedError too (a plain client's MOVED is told apart first)
    redis_errors.TryAgainError,
    redis_errors.RedisClusterException,
)

_CLUSTER_HINT = "store.cluster: the server is a Redis Cluster node; set store.cluster = true"
_AUTH_WORDS = ("WRONGPASS", "NOAUTH", "invalid username-password", "Authentication required")


def refusal(exc: BaseException) -> str | None:
    """The setting to change when the server answered but refuses this client (a wrong or
    missing password, a server that is not Redis, cluster mode on our side only); None when it
    did not answer, which may pass. Never names the URL: it may hold the password."""
    text = str(exc)
    if isinstance(exc, redis_errors.AuthenticationError) or any(w in text for w in _AUTH_WORDS):
        return (
            "store.url: Redis refused the password, none or a wrong one (redis://:PASSWORD@host/0)"
        )
    if isinstance(exc, redis_errors.InvalidResponse) or "Protocol error" in text:
        return "store.url: the server there does not speak Redis (check the host and port)"
    if "Cluster mode is not enabled" in text:
        return "store.cluster: the server is not a Redis Cluster node; set store.cluster = false"
    return None


def outage(error: BaseException, *, cluster: bool) -> StoreUnavailable | None:
    """The store error ``error`` means, when Redis is away or refuses us: unreachable, a
    cluster mid-failover (CLUSTERDOWN, TRYAGAIN, MOVED and ASK, redis-py's own cluster errors),
    a demoted master, or a configuration it refuses; None for any other error."""
    if isinstance(error, redis_errors.MovedError) and not cluster:
        return StoreRefused(_CLUSTER_HINT)
    if isinstance(error, (*_UNREACHABLE, redis_errors.InvalidResponse)):
        reason = refusal(error)
        if reason is not None:
            return StoreRefused(reason)
        return StoreUnavailable(f"store unreachable ({type(error).__name__})")
    if refused := write_refusal(error):
        return StoreUnavailable(f"store unreachable ({refused})")
    return None


_FULL = (
    "store.url: Redis is full: it reached its maxmemory and refuses writes "
    "(maxmemory-policy noeviction); raise maxmemory or free memory"
)
FULL_LOG_EVERY = 60.0  # seconds between two log lines about a full Redis

log = logging.getLogger(__name__)


def _is_full(error: BaseException) -> bool:
    """Redis refused a write for want of memory (``OOM command not allowed ...``), also when a
    script's write was refused."""
    return isinstance(error, redis_errors.OutOfMemoryError) or (
        isinstance(error, redis_errors.ResponseError) and "OOM command not allowed" in str(error)
    )


# How long one process trusts its copy of the global cooldowns: the key is read by no admission
# in between, so it never becomes one node's hot key (a quota cooldown lasts minutes anyway).
COOLDOWNS_CACHE_TTL = 1.5


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


def _scope(value: str | bytes | None) -> Scope | None:
    """A stored scope, ignoring values this version does not know."""
    try:
        return Scope(_text(value)) if value else None
    except ValueError:
        return None


_MOVED = ("binding", "mode", "scope", "blocked")  # what follows a channel to a new key
_EXPORTED = _MOVED  # what `bridge bindings export` lists: the same per-channel settings


def _member(record: JournalRecord) -> str:
    """A record's entry in the recovery index."""
    return json.dumps([record.channel, record.message_id])


def _unmember(member: str) -> tuple[str, str]:
    channel, message_id = json.loads(member)
    return str(channel), str(message_id)


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


def _quick_retry() -> Retry:
    """Few, quick retries: a store that is down must surface as StoreUnavailable in about a
    second, not after redis-py 8's default of ten retries."""
    return Retry(ExponentialWithJitterBackoff(cap=0.25, base=0.02), 2)


def _pack_in_c(self: AbstractConnection, *args: Any) -> list[bytes]:
    """The command in Redis's wire form, packed by hiredis (same bytes as redis-py's packer)."""
    if isinstance(args[0], str) and " " in args[0]:  # "CONFIG GET": two words on the wire
        args = (*args[0].split(), *args[1:])
    return [hiredis.pack_command(args)]


def _packing_in_c(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """``cls`` with hiredis's C packer: redis-py's asyncio connection packs every command in
    Python, which was a fifth of the store's CPU per message."""
    return type(f"CPacked{cls.__name__}", (cls,), {"pack_command": _pack_in_c})


def _single(url: str, *, socket_timeout: float, max_connections: int) -> Redis:
    """A client for one Redis server.

    A blocking pool without a wait limit: a burst of messages queues for a connection instead of
    failing, because a busy pool is not a store that does not answer (the socket timeouts say
    that). No CLIENT SETINFO: it costs a round-trip per new connection and tells the server
    nothing it needs.
    """
    options = _client_options(socket_timeout, max_connections)
    pool = BlockingConnectionPool.from_url(url, timeout=None, **options)
    # TCP, TLS or a Unix socket, as the URL says; packed in C either way.
    pool.connection_class = _packing_in_c(pool.connection_class)
    return Redis.from_pool(pool)


def _cluster(url: str, *, socket_timeout: float, max_connections: int) -> RedisCluster:
    """A Redis Cluster client; ``url`` names any node, the others are discovered."""
    return RedisCluster.from_url(url, **_client_options(socket_timeout, max_connections))


def _client_options(socket_timeout: float, max_connections: int) -> dict[str, Any]:
    """What a single-server client and a cluster client share: text replies, the timeouts, quick
    retries, and no CLIENT SETINFO."""
    return {
        "max_connections": max_connections,
        "driver_info": None,
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "health_check_interval": 30,
        "retry": _quick_retry(),
    }


def _server_version(info: dict[str, Any]) -> str:
    """The version from INFO server; a cluster client answers per node (all alike here)."""
    if "redis_version" not in info and info:
        info = next(iter(info.values()))
    return str(info.get("redis_version", "unknown"))


class RedisStore(Store):
    """:class:`Store` on Redis or a Redis Cluster.

    Every key of one channel carries the channel's hash tag, so a channel's keys share a slot; no
    script or transaction names keys of two slots, and pipelines are split per node by the
    cluster client, so no CROSSSLOT can happen. ``round_trips`` counts the round-trips callers wait for and ``pipelines`` what went on the
    wire (group commit sends many round-trips in one), for the benchmarks. Tickets are unique per
    message; queueing a ticket already queued and taking a lease the ticket holds both succeed, so
    a request re-sent after a dropped connection stays idempotent.
    """

    def __init__(
        self,
        url: str = "",
        *,
        prefix: str = "bridge",
        cluster: bool = False,
        sentinel: SentinelTarget | None = None,
        socket_timeout: float = 5.0,
        max_connections: int = 128,
        client: Redis | RedisCluster | None = None,
    ) -> None:
        self.prefix = prefix
        self.cluster = cluster or isinstance(client, RedisCluster)
        self.round_trips = 0
        self.pipelines = 0
        self._sentinel: SentinelLink | None = None
        if sentinel is not None and client is None:
            options = _client_options(socket_timeout, max_connections)
            packed = _packing_in_c(SentinelManagedConnection)
            self._sentinel = SentinelLink(sentinel, options, packed)
            client = self._sentinel.master
        build = _cluster if cluster else _single
        self._redis: Any = client or build(
            url, socket_timeout=socket_timeout, max_connections=max_connections
        )
        # The hot path's round-trips (admission, journal, release, rules) leave together.
        # A command's error reply in a pipeline that went through is translated as a raised
        # error is: mid-failover, a node's connection error comes back as one command's reply.
        self._group = GroupCommit(self._redis, self._trip, self._translate)
        self._full_logged: float | None = None
        self._replace_hash = self._redis.register_script(_REPLACE_HASH)
        self._cooldowns_cache: tuple[float, dict[str, str]] | None = None
        self._take_turn = self._redis.register_script(_TAKE_TURN)
        self._claim = self._redis.register_script(_CLAIM)
        # chat -> the pacing text this process last read or wrote ('' for none): the expected
        # value of the next compare-and-set, so a write costs one round-trip, not a read first.
        self._paces: dict[str, str] = {}

    # Keys ---------------------------------------------------------------------------------

    def _channel_key(self, channel: str, what: str) -> str:
        return f"{self.prefix}:{{ch:{channel}}}:{what}"

    def _journal_key(self, channel: str, message_id: str) -> str:
        return self._channel_key(channel, f"j:{message_id}")

    def _proc_key(self, channel: str, owner: str) -> str:
        """A process's liveness in one channel; ``owner`` '' gives the prefix scripts complete."""
        return self._channel_key(channel, f"proc:{owner}")

    def _shown_key(self, channel: str, message_id: str) -> str:
        return self._channel_key(channel, f"shown:{message_id}")

    def _index_key(self) -> str:
        return f"{self.prefix}:journal"

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

    def _mark_key(self, name: str) -> str:
        return f"{self.prefix}:{{mark:{name}}}"

    def _meter_key(self, what: str, scope: MeterScope, window: Window) -> str:
        """A sorted set of one scope's keys in one window: ``used`` or ``granted`` counts."""
        return f"{self.prefix}:{{allow}}:{what}:{scope.value}:{window.period}:{int(window.start)}"

    def _charge_key(self, channel: str, message_id: str) -> str:
        return f"{self.prefix}:{{allow}}:charge:{channel}:{message_id}"

    @asynccontextmanager
    async def _trip(self, requests: int = 1) -> AsyncIterator[None]:
        """Count one pipeline carrying ``requests`` callers' round-trips, and turn connection
        failures into StoreUnavailable.

        The message never carries the URL: it may hold a password.
        """
        self.round_trips += requests
        self.pipelines += 1
        try:
            yield
        except Exception as exc:
            translated = self._translate(exc)
            if translated is exc:
                raise
            raise translated from None

    def _translate(self, error: Exception) -> Exception:
        """What a caller gets for ``error``, raised by a call or answered to one command of a
        pipeline: StoreUnavailable when the store is away (unreachable, a cluster mid-failover,
        a demoted master), StoreRefused when it refuses this configuration, StoreFull when it is
        full, else ``error`` itself (a defect to see in full)."""
        return outage(error, cluster=self.cluster) or self._full_or(error)

    def _full_or(self, error: Exception) -> Exception:
        """StoreFull for Redis's out-of-memory refusal (logged once a minute at most, not once
        per write), else ``error`` itself."""
        if not _is_full(error):
            return error
        now = time.monotonic()
        if self._full_logged is None or now - self._full_logged >= FULL_LOG_EVERY:
            self._full_logged = now
            log.error("%s", _FULL)
        return StoreFull(_FULL)

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
        """Dedupe, journal, queue, turn, count, meter and read in one pipeline; see
        :meth:`Store.admit`.

        The allowance counters cannot share the channel's slot (a person's span every channel),
        so their script runs beside the admission script in the same pipeline, on the {allow}
        slot: checked and charged all at once there, and atomic against every process, with no
        extra round-trip. The two scripts cannot see each other's verdict, so each is undone
        when the other refuses (one more trip, on a refusal only): a charged message found
        duplicate, busy or rate-limited is refunded; a queued message over an allowance leaves
        its queue. Until that undo lands, the refunded message's charge is visible, so another
        message of the same person racing it may be refused where it would have fitted; the
        count itself is never wrong for long, and never low. A crash between the two trips
        keeps the charge: the bridge charges once too often rather than never.
        """
        channel, ticket = record.channel, record.owner
        rate_key = self._rate_key(user)
        # A per-call token in the dedupe key lets us recognise our own write if redis-py
        # re-sends the pipeline after a dropped connection: that is not a duplicate.
        token = uuid.uuid4().hex
        # The channel's keys share one slot, so one script covers them; the rate count, the
        # journal index and the cooldowns live elsewhere. A non-transactional pipeline is one
        # round-trip; a rate-limited message is undone below (rare), keeping the common case
        # at one trip. Plain EVAL: in a pipeline EVALSHA would add SCRIPT EXISTS round-trips.
        pipe = Commands()
        pipe.eval(
            _ADMIT,
            6,
            self._channel_key(channel, f"seen:{record.message_id}"),
            self._journal_key(channel, record.message_id),
            self._channel_key(channel, "queue"),
            self._channel_key(channel, "lease"),
            self._proc_key(channel, process_of(ticket)),
            self._channel_key(channel, "binding"),
            token,
            _ms(dedupe_ttl),
            record.to_json(),
            _ms(JOURNAL_TTL),
            ticket,
            _ms(lease_ttl),
            queue_size,
            "1" if resume else "0",
            self._proc_key(channel, ""),
            record.moved(State.SENT).to_json(),
            self._channel_key(channel, ""),
            _ms(lease_ttl * RECOVERY_HOLD),
        )
        if not resume:  # a recovered message was counted when it first came
            pipe.incr(rate_key)
            pipe.pexpire(rate_key, _ms(rate_window), nx=True)
        # Listed where recovery looks, optimistically: a busy or rate-limited message's entry
        # is removed below; a duplicate's either exists already (NX) or is dropped by the next
        # recovery pass, as an entry without an open record.
        pipe.zadd(self._index_key(), {_member(record): record.created}, nx=True)
        pipe.hgetall(self._channel_key(channel, "binding"))
        cached = self._cached_cooldowns()
        if cached is None:
            pipe.hgetall(self._cooldowns_key())
        metered = bool(meters) and not resume  # a recovered message was charged when it came
        if metered:
            self._charge(pipe, meters, record, dedupe_ttl)
        replies = await self._group.send(pipe)
        charge: list[Any] = replies.pop() if metered else ["already"]
        if cached is None:
            cached = self._cache_cooldowns(_texts(replies.pop()))
        answer, binding, cooldowns = replies[0], replies[-1], cached
        count = 0 if resume else int(replies[1])
        now = time.time()
        verdict = _text(answer[0])
        duplicate, busy = verdict == "duplicate", verdict == "busy"
        rate_limited = not duplicate and count > rate_limit
        over = meters[int(charge[1]) - 1] if _text(charge[0]) == "over" else None
        refused = not duplicate and not rate_limited and over is not None
        charged = _text(charge[0]) == "charged"
        refund = charged and (duplicate or busy or rate_limited)
        if duplicate or busy or rate_limited or refused:
            queued = ticket if verdict == "queued" else None
            await self._undo(record, queued, rate_key, duplicate, meters if refund else ())
        return Admission(
            duplicate=duplicate,
            rate_limited=rate_limited,
            busy=busy and not rate_limited and not refused,
            turn=verdict == "queued" and not rate_limited and not refused and int(answer[1]) == 1,
            sent=verdict == "queued" and not rate_limited and not refused and int(answer[2]) == 1,
            binding=Binding.from_fields(_texts(binding)) if binding else None,
            cooldowns=_cooldowns(cooldowns, now),
            over=over if refused else None,
            used=tuple(int(float(u)) for u in charge[1:]) if charged and not refund else (),
        )

    def _charge(
        self, pipe: Commands, meters: Sequence[Meter], record: JournalRecord, dedupe_ttl: float
    ) -> None:
        """Queue the allowance script of one message on ``pipe``: its charge marker lasts as
        long as its id is remembered (a re-delivery is a duplicate after that anyway), and no
        longer than its longest window."""
        keys = [self._charge_key(record.channel, record.message_id)]
        args: list[Any] = [_ms(min(dedupe_ttl, max(m.window.end for m in meters) - time.time()))]
        for meter in meters:
            keys.append(self._meter_key("used", meter.scope, meter.window))
            keys.append(self._meter_key("granted", meter.scope, meter.window))
            limit = "" if meter.limit is None else meter.limit
            args += [meter.key, limit, round(meter.window.end * 1000)]
        pipe.eval(_METER, len(keys), *keys, *args)

    def _refund_on(self, pipe: Any, meters: Sequence[Meter], channel: str, message_id: str) -> None:
        """Queue the refund script of one message on ``pipe``."""
        keys = [self._charge_key(channel, message_id)]
        keys += [self._meter_key("used", m.scope, m.window) for m in meters]
        pipe.eval(_REFUND, len(keys), *keys, *(m.key for m in meters))

    async def _undo(
        self,
        record: JournalRecord,
        ticket: str | None,
        rate_key: str,
        duplicate: bool,
        refund: Sequence[Meter] = (),
    ) -> None:
        """Give back an optimistic queue place, index entry, rate count or allowance charge (one
        round-trip, rare). Only a duplicate's index entry may belong to its original: it stays."""
        pipe = self._redis.pipeline(transaction=False)
        if refund:
            self._refund_on(pipe, refund, record.channel, record.message_id)
        if not duplicate:
            pipe.zrem(self._index_key(), _member(record))
        if ticket is not None:
            channel = record.channel
            pipe.eval(
                _UNQUEUE,
                3,
                self._channel_key(channel, "queue"),
                self._channel_key(channel, "lease"),
                self._journal_key(channel, record.message_id),
                ticket,
            )
        if duplicate:
            pipe.eval(_UNCOUNT, 1, rate_key)
        async with self._trip():
            await pipe.execute()

    # Allowances ---------------------------------------------------------------------------

    async def refund(self, meters: Sequence[Meter], channel: str, message_id: str) -> bool:
        """Give a message's charge back, once (its marker goes from charged to refunded)."""
        if not meters:
            return False
        pipe = self._redis.pipeline(transaction=False)
        self._refund_on(pipe, meters, channel, message_id)
        async with self._trip():
            (done,) = await pipe.execute()
        return int(done) == 1

    async def usage(self, meters: Sequence[Meter]) -> list[Usage]:
        """Each meter's use and grant: two scores per meter, one pipeline (one slot)."""
        if not meters:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for meter in meters:
            pipe.zscore(self._meter_key("used", meter.scope, meter.window), meter.key)
            pipe.zscore(self._meter_key("granted", meter.scope, meter.window), meter.key)
        async with self._trip():
            scores = await pipe.execute()
        return [
            Usage(used=int(used or 0), granted=int(granted or 0))
            for used, granted in zip(scores[::2], scores[1::2], strict=True)
        ]

    async def top(self, scope: MeterScope, window: Window, n: int) -> list[tuple[str, int]]:
        """The highest scores of the window's ``used`` set."""
        async with self._trip():
            raw: list[Any] = await self._redis.zrevrange(
                self._meter_key("used", scope, window), 0, n - 1, withscores=True
            )
        return [(_text(key), int(score)) for key, score in raw]

    async def grant(self, meter: Meter, n: int) -> Usage:
        """Add ``n`` to the key's score in the window's ``granted`` set, kept until the window
        ends, and read its use in the same trip (one slot)."""
        granted = self._meter_key("granted", meter.scope, meter.window)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zincrby(granted, n, meter.key)
        pipe.pexpireat(granted, round(meter.window.end * 1000))
        pipe.zscore(self._meter_key("used", meter.scope, meter.window), meter.key)
        async with self._trip():
            total, _, used = await pipe.execute()
        return Usage(used=int(used or 0), granted=int(total))

    # The turn -----------------------------------------------------------------------------

    async def take_turn(
        self, channel: str, ticket: str, lease_ttl: float, record: JournalRecord | None = None
    ) -> Turn:
        """Take the lease if ``ticket`` is first in the queue; see :meth:`Store.take_turn`."""
        message_id = record.message_id if record else message_of(ticket)
        async with self._trip():
            got = await self._take_turn(
                keys=[
                    self._channel_key(channel, "queue"),
                    self._channel_key(channel, "lease"),
                    self._journal_key(channel, message_id),
                ],
                args=[
                    ticket,
                    _ms(lease_ttl),
                    self._proc_key(channel, ""),
                    record.to_json() if record else "",
                    _ms(JOURNAL_TTL),
                    self._channel_key(channel, ""),
                    _ms(lease_ttl * RECOVERY_HOLD),
                ],
            )
        ahead = _text(got[1])
        return Turn(
            acquired=int(got[0]) == 1, ahead=ahead or None, lapsed=[_text(t) for t in got[2:]]
        )

    async def keep_alive(
        self,
        owner: str,
        channels: Mapping[str, str | None],
        ttl: float,
        shown: Mapping[str, Shown] | None = None,
    ) -> dict[str, bool]:
        """Renew liveness (and held leases, with what their replies show) of every channel in
        one pipeline (the cluster client splits it per node; each script is one slot)."""
        if not channels:
            return {}
        shown = shown or {}
        pipe = self._redis.pipeline(transaction=False)
        for channel, ticket in channels.items():
            text = shown.get(channel) if ticket else None
            pipe.eval(
                _KEEP_ALIVE,
                3,
                self._proc_key(channel, owner),
                self._channel_key(channel, "lease"),
                self._shown_key(channel, message_of(ticket or "")),
                _ms(ttl),
                ticket or "",
                text.to_json() if text else "",
                _ms(JOURNAL_TTL),
            )
        async with self._trip():
            kept = await pipe.execute()
        return {channel: int(k) == 1 for channel, k in zip(channels, kept, strict=True)}

    async def finish(self, channel: str, ticket: str, record: JournalRecord | None) -> None:
        """Leave queue and lease, write the record and drop it from the index: one trip."""
        message_id = record.message_id if record else message_of(ticket)
        pipe = Commands()
        pipe.eval(
            _FINISH,
            4,
            self._channel_key(channel, "queue"),
            self._channel_key(channel, "lease"),
            self._journal_key(channel, message_id),
            self._shown_key(channel, message_id),
            ticket,
            record.to_json() if record else "",
            _ms(JOURNAL_TTL),
        )
        if record is not None and record.state is State.DONE:
            pipe.zrem(self._index_key(), _member(record))
            self._count_done(pipe, record)
        await self._group.send(pipe)

    async def retire(self, channels: list[str], owner: str) -> None:
        """Delete this process's liveness keys (one command per channel, one trip)."""
        if not channels:
            return
        pipe = self._redis.pipeline(transaction=False)
        for channel in channels:
            pipe.delete(self._proc_key(channel, owner))
        async with self._trip():
            await pipe.execute()

    # The journal --------------------------------------------------------------------------

    async def journal_put(self, record: JournalRecord, shown: Shown | None = None) -> None:
        """Write a record (and what it shows); a done one leaves the recovery index in the
        same trip."""
        pipe = Commands()
        pipe.set(
            self._journal_key(record.channel, record.message_id),
            record.to_json(),
            px=_ms(JOURNAL_TTL),
        )
        if shown is not None:
            pipe.set(
                self._shown_key(record.channel, record.message_id),
                shown.to_json(),
                px=_ms(JOURNAL_TTL),
            )
        if record.state is State.DONE:
            pipe.zrem(self._index_key(), _member(record))
        await self._group.send(pipe)

    async def journal_get(self, channel: str, message_id: str) -> JournalRecord | None:
        """One record, or None."""
        async with self._trip():
            raw = await self._redis.get(self._journal_key(channel, message_id))
        return JournalRecord.from_json(raw) if raw else None

    async def journal_shown(self, channel: str, message_id: str) -> Shown | None:
        """What the message's reply last showed, or None."""
        async with self._trip():
            raw = await self._redis.get(self._shown_key(channel, message_id))
        return Shown.from_json(raw) if raw else None

    async def journal_lapsed(self, limit: int = 500) -> list[JournalRecord]:
        """Open records whose process key has expired; stale index entries are dropped."""
        async with self._trip():
            raw_members: list[Any] = await self._redis.zrange(self._index_key(), 0, limit - 1)
        members = [_text(m) for m in raw_members]
        if not members:
            return []
        keys = [_unmember(m) for m in members]
        pipe = self._redis.pipeline(transaction=False)
        for channel, message_id in keys:
            pipe.get(self._journal_key(channel, message_id))
        async with self._trip():
            raws = await pipe.execute()
        records: list[JournalRecord] = []
        stale: list[str] = []
        for member, raw in zip(members, raws, strict=True):
            record = JournalRecord.from_json(raw) if raw else None
            if record is None or record.state is State.DONE:
                stale.append(member)
            else:
                records.append(record)
        pipe = self._redis.pipeline(transaction=False)
        for record in records:
            pipe.exists(self._proc_key(record.channel, process_of(record.owner)))
        if stale:
            pipe.zrem(self._index_key(), *stale)
        async with self._trip():
            alive = await pipe.execute()
        return [r for r, live in zip(records, alive, strict=False) if not live]

    async def journal_claim(self, record: JournalRecord, owner: str, ttl: float) -> bool:
        """Take over a lapsed record (compare the owner, check its process is gone)."""
        claimed = replace(record, owner=owner)
        async with self._trip():
            done = await self._claim(
                keys=[
                    self._journal_key(record.channel, record.message_id),
                    self._channel_key(record.channel, "queue"),
                    self._channel_key(record.channel, "lease"),
                ],
                args=[
                    record.owner,
                    self._proc_key(record.channel, ""),
                    claimed.to_json(),
                    _ms(JOURNAL_TTL),
                    _ms(ttl),
                ],
            )
        return int(done) == 1

    # Bindings and modes ---------------------------------------------------------------------

    async def get_binding(self, channel: str) -> Binding | None:
        """The channel's binding, or None."""
        async with self._trip():
            fields = await self._redis.hgetall(self._channel_key(channel, "binding"))
        return Binding.from_fields(_texts(fields)) if fields else None

    async def set_binding(self, channel: str, binding: Binding) -> None:
        """Replace the channel's binding atomically (a one-key script: redis-py's cluster
        MULTI leaves its connection unusable)."""
        flat = [part for item in binding.to_fields().items() for part in item]
        async with self._trip():
            await self._replace_hash(keys=[self._channel_key(channel, "binding")], args=flat)

    async def delete_binding(self, channel: str) -> bool:
        """Unbind; True when there was a binding."""
        async with self._trip():
            removed = await self._redis.delete(self._channel_key(channel, "binding"))
        return bool(removed)

    async def _get_setting(self, channel: str, what: str) -> str | bytes | None:
        """One of the channel's plain settings (mode, scope), as stored."""
        async with self._trip():
            value: str | bytes | None = await self._redis.get(self._channel_key(channel, what))
        return value

    async def _set_setting(self, channel: str, what: str, value: str) -> None:
        """Store one of the channel's plain settings (mode, scope)."""
        async with self._trip():
            await self._redis.set(self._channel_key(channel, what), value)

    async def get_mode(self, channel: str) -> ReplyMode | None:
        """The channel's reply mode, or None."""
        return _mode(await self._get_setting(channel, "mode"))

    async def set_mode(self, channel: str, mode: ReplyMode) -> None:
        """Set the channel's reply mode."""
        await self._set_setting(channel, "mode", mode.value)

    async def channel_records(self) -> list[ChannelRecord]:
        """Every channel with a binding, mode or scope and every space with a block list (SCAN
        by key pattern, then one pipeline per channel: its keys share a slot)."""
        channels: set[str] = set()
        head = f"{self.prefix}:{{ch:"
        async with self._trip():
            for what in _EXPORTED:
                pattern = f"{_glob_escape(head)}*}}:{what}"
                async for key in self._redis.scan_iter(match=pattern, count=1000):
                    channels.add(_text(key)[len(head) : -len(f"}}:{what}")])
        records = []
        for channel in sorted(channels):
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(self._channel_key(channel, "binding"))
            pipe.get(self._channel_key(channel, "mode"))
            pipe.get(self._channel_key(channel, "scope"))
            pipe.smembers(self._channel_key(channel, "blocked"))
            async with self._trip():
                fields, mode, scope, blocked = await pipe.execute()
            record = ChannelRecord(
                channel=channel,
                binding=Binding.from_fields(_texts(fields)) if fields else None,
                mode=_mode(mode),
                scope=_scope(scope),
                blocked=tuple(sorted(_text(u) for u in blocked)),
            )
            if not record.empty:
                records.append(record)
        return records

    # Claims and cooldowns -------------------------------------------------------------------

    async def claim(self, key: str, ttl: float) -> bool:
        """Claim a one-off id for ``ttl`` seconds; False if already claimed."""
        async with self._trip():
            created = await self._redis.set(self._claim_key(key), "1", nx=True, px=_ms(ttl))
        return bool(created)

    async def get_mark(self, name: str) -> str | None:
        """The shared value ``name``, or None."""
        async with self._trip():
            value = await self._redis.get(self._mark_key(name))
        return _text(value) if value is not None else None

    async def set_mark(self, name: str, value: str, ttl: float) -> None:
        """Set the shared value ``name`` for ``ttl`` seconds."""
        async with self._trip():
            await self._redis.set(self._mark_key(name), value, px=_ms(ttl))

    async def set_cooldown(self, backend: str, seconds: float) -> None:
        """Pause ``backend`` for every process until now + ``seconds`` (0 clears it)."""
        async with self._trip():
            await self._redis.hset(self._cooldowns_key(), backend, repr(time.time() + seconds))
        self._cooldowns_cache = None  # this process sees its own change at once

    async def get_cooldowns(self) -> dict[str, float]:
        """Backend name -> seconds left, active cooldowns only (always read from the store)."""
        async with self._trip():
            raw = await self._redis.hgetall(self._cooldowns_key())
        return _cooldowns(self._cache_cooldowns(_texts(raw)), time.time())

    def _cached_cooldowns(self) -> dict[str, str] | None:
        """The cooldowns read less than :data:`COOLDOWNS_CACHE_TTL` ago, else None."""
        cached = self._cooldowns_cache
        if cached is None or cached[0] < time.monotonic():
            return None
        return cached[1]

    def _cache_cooldowns(self, raw: dict[str, str]) -> dict[str, str]:
        self._cooldowns_cache = (time.monotonic() + COOLDOWNS_CACHE_TTL, raw)
        return raw

    # Scope, block lists and chat migration ----------------------------------------------------

    async def get_scope(self, channel: str) -> Scope | None:
        """The channel's conversation scope, or None."""
        return _scope(await self._get_setting(channel, "scope"))

    async def set_scope(self, channel: str, scope: Scope) -> None:
        """Set the channel's conversation scope."""
        await self._set_setting(channel, "scope", scope.value)

    async def set_blocked(self, space: str, user: str, blocked: bool) -> bool:
        """Block or unblock ``user`` in ``space`` (a set per space); True if it changed."""
        key = self._channel_key(space, "blocked")
        async with self._trip():
            changed = await (
                self._redis.sadd(key, user) if blocked else self._redis.srem(key, user)
            )
        return bool(changed)

    async def rules(
        self, *, channels: Sequence[str], spaces: Sequence[str], user: str
    ) -> ChannelRules:
        """Scopes and block-list memberships in one pipeline (the keys may be in many slots)."""
        pipe = Commands()
        for channel in channels:
            pipe.get(self._channel_key(channel, "scope"))
        for channel in channels[:1]:
            pipe.hget(self._channel_key(channel, "binding"), "backend")
        for space in spaces:
            pipe.sismember(self._channel_key(space, "blocked"), user)
        replies = await self._group.send(pipe)
        read = len(channels) + min(len(channels), 1)
        scopes = [_scope(v) for v in replies[: len(channels)]]
        backend = replies[len(channels)] if channels else None
        return ChannelRules(
            scope=next((s for s in scopes if s is not None), None),
            blocked=any(replies[read:]),
            backend=_text(backend) if backend else None,
        )

    async def move_channel(self, old: str, new: str) -> None:
        """Copy each moved key to its new name, then delete the old (key by key: the new keys
        hash to other slots, so neither RENAME nor MULTI can span them)."""
        head = f"{self.prefix}:{{ch:"
        escaped = _glob_escape(head + old)
        found: set[str] = set()
        async with self._trip():
            for pattern in (f"{escaped}}}:*", f"{escaped}:*", f"{escaped}@*"):
                async for key in self._redis.scan_iter(match=pattern, count=500):
                    found.add(_text(key))
        for key in sorted(found):
            channel, _, what = key[len(head) :].rpartition("}:")
            if what not in _MOVED:
                continue
            target = self._channel_key(new + channel[len(old) :], what)
            async with self._trip():
                await self._copy(key, target, what)
                await self._redis.delete(key)

    async def _copy(self, source: str, target: str, what: str) -> None:
        """Replace ``target`` with the value of ``source`` (hash, string or set). A source that
        is gone (another process moved it first) leaves the target alone."""
        if what == "binding":
            fields: dict[Any, Any] = _texts(await self._redis.hgetall(source))
            if not fields:
                return
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(target)
            pipe.hset(target, mapping=fields)
            await pipe.execute()
        elif what == "blocked":
            members = await self._redis.smembers(source)
            if members:
                await self._redis.sadd(target, *members)
        else:
            value = await self._redis.get(source)
            if value is not None:
                await self._redis.set(target, value)

    # Pacing -------------------------------------------------------------------------------

    async def swap_pace(
        self, chat: str, change: Callable[[str | None], tuple[str, T]], ttl: float
    ) -> T:
        """One compare-and-set script per try (one key, so Cluster-safe): ``change`` runs on the
        state this process last saw, and if another process changed it meanwhile the script
        returns the current state and ``change`` runs again on that."""
        key = self._pace_key(chat)
        seen = self._paces.pop(chat, "")
        for attempt in range(_SWAP_TRIES):
            text, result = change(seen or None)
            # Many chats write at once under load: their scripts share a pipeline.
            pipe = Commands()
            pipe.eval(_CAS_PACE, 1, key, seen, text, _ms(ttl))
            reply: list[Any] = (await self._group.send(pipe))[0]
            if int(reply[0]) == 1:
                self._remember_pace(chat, text)
                return result
            seen = _text(reply[1]) if len(reply) > 1 else ""
            if attempt:
                # Jitter, so that writers who collided twice do not collide again in lockstep.
                await asyncio.sleep(random.uniform(0, _SWAP_BACKOFF))
        raise StoreUnavailable("pacing state too contended")

    def _remember_pace(self, chat: str, text: str) -> None:
        """Keep the newest state of the most recently written chats (oldest forgotten first)."""
        paces = self._paces
        paces[chat] = text
        if len(paces) > _PACE_CACHE:
            del paces[next(iter(paces))]

    # Catch-up -----------------------------------------------------------------------------

    async def note_handled(self, channel: str, message_id: str, ttl: float) -> None:
        """Keep the channel's newest handled id (its own key, under the channel's hash tag) and
        its place in the index of active channels (a sorted set by time, trimmed to ``ttl``)."""
        now = time.time()
        pipe = Commands()
        pipe.eval(_NOTE_HANDLED, 1, self._channel_key(channel, "last"), message_id, _ms(ttl))
        pipe.zadd(self._active_key(), {channel: now})
        pipe.zremrangebyscore(self._active_key(), "-inf", now - ttl)
        pipe.pexpire(self._active_key(), _ms(ttl))
        await self._group.send(pipe)

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
        """A keyed write (it must reach the node owning the slot, and be allowed: a Redis out
        of memory answers reads but raises StoreFull here), then 'redis <version>' from INFO
        server, and on a cluster its state from CLUSTER INFO; behind Sentinel, then the master
        the sentinels name and its replicas (asked first: a clearer failure)."""
        found = await self._sentinel.describe() if self._sentinel is not None else ""
        async with self._trip():
            await self._redis.set(self._channel_key("check", "ping"), "1", px=1000)
            info: dict[str, Any] = await self._redis.info("server")
            if self.cluster:
                cluster: dict[str, Any] = await self._redis.cluster_info()
            else:
                enabled = (await self._redis.info("cluster")).get("cluster_enabled")
        if not self.cluster:
            if enabled:
                raise StoreRefused(_CLUSTER_HINT)
            version = f"redis {_server_version(info)}"
            return f"{version}, {found}" if found else version
        state = cluster.get("cluster_state", "unknown")
        if state != "ok":
            raise StoreUnavailable(f"redis cluster state is {state}")
        return (
            f"redis cluster {_server_version(info)}, state ok, "
            f"{cluster.get('cluster_size', '?')} masters, {cluster.get('cluster_known_nodes', '?')} nodes"
        )

    async def aclose(self) -> None:
        """Close the client and its connection pool (and the sentinels' clients)."""
        await (self._sentinel or self._redis).aclose()

    # The operator's page ------------------------------------------------------------------

    def _page_key(self, what: str) -> str:
        return f"{self.prefix}:page:{what}"

    def _count_done(self, pipe: Commands, record: JournalRecord) -> None:
        """Count a record that went upstream, in the finishing round-trip: its hour's count by
        backend, and today's top lists (each trimmed to its :data:`TOP_KEEP` leaders)."""
        if not record.backend:
            return
        now = time.time()
        hour = self._page_key(f"usage:{hour_of(now)}")
        pipe.hincrby(hour, record.backend, 1)
        pipe.pexpire(hour, _ms(USAGE_TTL))
        day = day_of(now)
        for key, member in (
            (self._page_key(f"top:channels:{day}"), record.channel),
            (self._page_key(f"top:users:{day}"), record.author),
        ):
            pipe.zincrby(key, 1, member)
            pipe.zremrangebyrank(key, 0, -TOP_KEEP - 1)
            pipe.pexpire(key, _ms(DAY_TTL))

    async def hourly_usage(self, since: float) -> dict[int, dict[str, int]]:
        """One HGETALL per hour, in one pipeline."""
        hours = list(range(hour_of(since), hour_of(time.time()) + 1))
        pipe = self._redis.pipeline(transaction=False)
        for hour in hours:
            pipe.hgetall(self._page_key(f"usage:{hour}"))
        async with self._trip():
            counts = await pipe.execute()
        return {
            hour: {b: int(n) for b, n in _texts(raw).items()}
            for hour, raw in zip(hours, counts, strict=True)
            if raw
        }

    async def top_usage(self, limit: int) -> TopUsage:
        """Today's two sorted sets, highest scores first."""
        day = day_of(time.time())
        pipe = self._redis.pipeline(transaction=False)
        for what in ("channels", "users"):
            pipe.zrevrange(self._page_key(f"top:{what}:{day}"), 0, limit - 1, withscores=True)
        async with self._trip():
            channels, users = await pipe.execute()
        return TopUsage(
            channels=[(_text(m), int(n)) for m, n in channels],
            users=[(_text(m), int(n)) for m, n in users],
        )

    async def add_trouble(self, lines: Sequence[tuple[str, str]]) -> None:
        """LPUSH and LTRIM on the list, HINCRBY on today's counts, one pipeline."""
        if not lines:
            return
        listed = self._page_key("trouble")
        kinds = self._page_key(f"trouble:kinds:{day_of(time.time())}")
        pipe = self._redis.pipeline(transaction=False)
        pipe.lpush(listed, *(text for _, text in lines))
        pipe.ltrim(listed, 0, TROUBLE_KEEP - 1)
        pipe.pexpire(listed, _ms(TROUBLE_TTL))
        for kind, _ in lines:
            pipe.hincrby(kinds, kind, 1)
        pipe.pexpire(kinds, _ms(DAY_TTL))
        async with self._trip():
            await pipe.execute()

    async def trouble(self, limit: int) -> tuple[list[str], dict[str, int]]:
        """The list's head and today's counts, one pipeline."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.lrange(self._page_key("trouble"), 0, limit - 1)
        pipe.hgetall(self._page_key(f"trouble:kinds:{day_of(time.time())}"))
        async with self._trip():
            texts, kinds = await pipe.execute()
        return [_text(t) for t in texts], {k: int(n) for k, n in _texts(kinds).items()}

    async def beat(self, process: str, info: str, ttl: float) -> None:
        """A hash of processes whose values carry their own expiry (fields have no TTL on
        every Redis this supports); the key itself lapses with the last beat."""
        key = self._page_key("processes")
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(key, process, f"{time.time() + ttl!r} {info}")
        pipe.pexpire(key, _ms(ttl))
        async with self._trip():
            await pipe.execute()

    async def processes(self) -> dict[str, str]:
        """The hash's live entries; lapsed ones are deleted on the way."""
        key = self._page_key("processes")
        async with self._trip():
            raw = _texts(await self._redis.hgetall(key))
        now = time.time()
        alive: dict[str, str] = {}
        lapsed = []
        for process, value in raw.items():
            until, _, info = value.partition(" ")
            if float(until) > now:
                alive[process] = info
            else:
                lapsed.append(process)
        if lapsed:
            async with self._trip():
                await self._redis.hdel(key, *lapsed)
        return alive

    async def open_channels(self, limit: int) -> dict[str, int]:
        """The recovery index holds every open record: counted by channel."""
        async with self._trip():
            members: list[Any] = await self._redis.zrange(self._index_key(), 0, limit - 1)
        found: dict[str, int] = {}
        for member in members:
            channel, _ = _unmember(_text(member))
            found[channel] = found.get(channel, 0) + 1
        return found
