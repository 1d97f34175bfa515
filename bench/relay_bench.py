"""Relay benchmark: N concurrent replies through backend, relay and render, beside bare httpx-sse.

Run: ``.venv/bin/python -m bench.relay_bench [--sizes 1,100,1000] [--chunks 20] [--store sqlite]``.

The fake Aurora upstream runs in a child process (its CPU is not ours, it has its own event loop);
everything stays on 127.0.0.1. For each size the same streams (same fake, same chunk count and
delay) are drained twice: by the bridge (relay -> backend -> renderer -> in-memory surface, one
channel and one author per reply) and by a bare httpx-sse client. Memory is measured in a third,
untimed pass under tracemalloc, which slows Python down too much to share a timed run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import pstats
import signal
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis
from aiohttp import web
from httpx_sse import aconnect_sse

from bots.heap import settle_heap
from bots.runtime import open_runtime
from core.allowances import MessageFacts, limits_for
from core.backends.base import Backend
from core.backends.http import ShardedTransport
from core.budget import Budget
from core.config import AllowanceSettings, Settings
from core.conversations import Conversations
from core.delivery import Outcome
from core.model import Binding, Incoming
from core.notify import Notifier
from core.relay import Relay
from core.store.base import Store
from core.turns import Turns
from core.upstream import Upstream
from tests.fakes.aurora import AuroraFake
from tests.fakes.surface import MemorySurface

TOKEN = "bench-token-0123456789"
CHARACTER_ID = 42
BACKEND = "aurora"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WORDS = "the quick brown fox jumps over the lazy dog while streaming a reply chunk by chunk "

LISTEN_BACKLOG = 4096

TARGET_RATIO = 1.10
TARGET_RATIO_SIZE = 1000
TARGET_LATENCY_MS = 20.0
TARGET_LATENCY_SIZE = 100
TARGET_CPU_RATIO = 1.3  # CPU per chunk, bridge over bare, at TARGET_RATIO_SIZE
TARGET_MEMORY_KIB = 32.0  # peak per active reply, at TARGET_RATIO_SIZE
TARGET_TRIPS = 3.0  # admission, the journal's streaming record, release (2 before the journal)


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run does."""

    sizes: tuple[int, ...]
    chunks: int
    chunk_size: int
    chunk_delay: float
    budget: str
    store: str
    redis_url: str
    sqlite_path: str | None
    memory: bool
    profile: str | None = None
    verify_close: str = "unfinished"
    stagger: float = 0.0
    """Seconds over which the N messages of a pass start (0: all at once, a burst)."""
    allowances: bool = False
    """Meter every message against a per-user, a per-chat and a plan allowance (never reached)."""
    settle_heap: bool = True
    """Set up the garbage collector as `bridge run` does (:func:`bots.heap.settle_heap`); both
    passes share the process, so the bare client runs with the same settings."""

    def start_delay(self, i: int, size: int) -> float:
        """When message ``i`` of ``size`` starts, in seconds after the pass begins."""
        return self.stagger * i / size

    @property
    def reply_text(self) -> str:
        """The text every reply streams: exactly ``chunks`` pieces of ``chunk_size``.

        It ends with a full stop, as a finished reply does: a reply cut mid-word would make the
        backend read the stored history on every close (``verify_close = "unfinished"``), which
        `early_close_bench` measures on its own (about a quarter of real replies).
        """
        length = self.chunks * self.chunk_size
        return (WORDS * (length // len(WORDS) + 1))[: length - 1] + "."


@dataclass
class SizeResult:
    """Figures for one concurrency level."""

    size: int
    bridge_wall: float = 0.0
    bare_wall: float = 0.0
    bridge_cpu: float = 0.0
    bare_cpu: float = 0.0
    chunks: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    mem_per_reply: float | None = None
    bare_mem_per_reply: float | None = None
    trips_per_msg: float | None = None
    pipelines_per_msg: float | None = None
    bridge_ok: int = 0
    bare_ok: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def ratio(self) -> float:
        """Bridge wall time over bare wall time."""
        return self.bridge_wall / self.bare_wall if self.bare_wall else math.inf

    def cpu_per_1k(self, cpu: float) -> float:
        """CPU seconds per 1,000 chunks."""
        return cpu / self.chunks * 1000 if self.chunks else math.nan


# --- the fake upstream, in its own process -------------------------------------------------------


class BenchAurora(AuroraFake):
    """The Aurora fake with a listen backlog deep enough for 1,000 simultaneous connects.

    With aiohttp's default of 128, a burst of connects overflows the accept queue and the kernel
    retransmits SYNs after 1, 3, 7... seconds, which would time the kernel rather than the code.
    """

    async def listen(self, app: web.Application, port: int = 0) -> int:
        """Serve ``app`` on 127.0.0.1 with a deep backlog; return the bound port."""
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=LISTEN_BACKLOG)
        await site.start()
        self._runners.append(runner)
        return int(runner.addresses[-1][1])


def _fake_process(conn: multiprocessing.connection.Connection, cfg: BenchConfig) -> None:
    """Child process entry: serve the fake until SIGTERM/SIGINT, after sending its port."""
    asyncio.run(_serve_fake(conn, cfg))


async def _serve_fake(conn: multiprocessing.connection.Connection, cfg: BenchConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    fake = BenchAurora(token=TOKEN, character_id=CHARACTER_ID)
    fake.set_default(text=cfg.reply_text, chunk_size=cfg.chunk_size, chunk_delay=cfg.chunk_delay)
    async with fake:
        conn.send(fake.port)
        conn.close()
        await stop.wait()


@contextlib.asynccontextmanager
async def fake_upstream(cfg: BenchConfig) -> AsyncIterator[str]:
    """Start the fake Aurora in a spawned process; yield its base URL; stop it on exit."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_fake_process, args=(child, cfg), daemon=True)
    proc.start()
    child.close()
    try:
        ready = await asyncio.to_thread(parent.poll, 30)
        if not ready:
            raise RuntimeError("the fake upstream did not start within 30 s")
        port = parent.recv()
        yield f"http://127.0.0.1:{port}/api/v11"
    finally:
        parent.close()
        if proc.pid is not None and proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)
        await asyncio.to_thread(proc.join, 5)
        if proc.is_alive():
            proc.kill()
            await asyncio.to_thread(proc.join, 5)


# --- the chats the replies go to -----------------------------------------------------------------


@dataclass
class BenchSurface(MemorySurface):
    """A chat in memory that keeps what a platform keeps (the messages) and the time of its first
    send, but no log of every write: a real surface holds no history, and 20,000 logged writes
    would be the benchmark's own memory and garbage-collection work, counted as the bridge's."""

    first_send: float | None = None

    async def typing(self) -> None:
        """Nothing to show."""

    async def send(self, text: str, *, final: bool) -> int:
        """A new message; the first one is timed."""
        if self.first_send is None:
            self.first_send = time.monotonic()
        assert 0 < len(text) <= self.max_length, "surface limit exceeded"
        self.messages.append(text)
        return len(self.messages) - 1

    async def edit(self, handle: int, text: str, *, final: bool) -> int:
        """The message's new text."""
        assert len(text) <= self.max_length, "surface limit exceeded"
        self.messages[handle] = text
        return handle


# --- timing the first chunk ----------------------------------------------------------------------


class FirstChunkClock(Backend):
    """Delegates to a real backend, noting when each reply's first delta leaves ``reply()``.

    Why here: this is the earliest point where a delta exists inside the process as text (httpx
    has read it, httpx-sse has parsed the event, the backend has decoded the JSON), and it is a
    single extra async-generator hop (about a microsecond per delta, far below the 20 ms being
    measured). The other end is the BenchSurface's own ``time.monotonic()`` stamp on its first
    ``send``, the first call that shows text. Both use the same monotonic clock, and nothing here
    sleeps, logs or allocates per delta beyond the dict write on the first one.
    """

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.kind = inner.kind
        self.max_input_chars = inner.max_input_chars
        self.reply_deadline = inner.reply_deadline
        self.quota_cooldown = inner.quota_cooldown
        self.first_chunk: dict[str, float] = {}
        """Message text -> monotonic time its first delta left the backend."""

    async def create_conversation(self, title: str) -> dict[str, str]:
        """Delegated."""
        return await self.inner.create_conversation(title)

    def reply(self, remote: dict[str, str], text: str) -> AsyncIterator[str]:
        """The inner reply, timestamping its first delta."""
        return self._stamped(self.inner.reply(remote, text), text)

    async def _stamped(self, deltas: AsyncIterator[str], key: str) -> AsyncGenerator[str, None]:
        try:
            async for delta in deltas:
                if key not in self.first_chunk:
                    self.first_chunk[key] = time.monotonic()
                yield delta
        finally:
            aclose = getattr(deltas, "aclose", None)
            if aclose is not None:
                await aclose()

    async def check(self) -> str:
        """Delegated."""
        return await self.inner.check()

    def remote_keys(self) -> tuple[str, ...]:
        """Delegated."""
        return self.inner.remote_keys()

    async def aclose(self) -> None:
        """Delegated."""
        await self.inner.aclose()


# --- what-if: an HTTP transport that keeps each connection pool small ----------------------------


def bare_client() -> httpx.AsyncClient:
    """The bare client, on the same transport the backends use, so the ratio isolates what
    relay, render and store add."""
    return httpx.AsyncClient(transport=ShardedTransport(), timeout=60, follow_redirects=False)


# --- one run of each kind ------------------------------------------------------------------------


def channel_of(i: int) -> str:
    """The channel of reply ``i``: one channel per concurrent reply."""
    return f"bench:{i}"


def prompt_of(tag: str, i: int) -> str:
    """The text of message ``i`` of a pass: the same for the bridge and the bare client."""
    return f"{tag} message {i}"


def round_trips(store: Store) -> int:
    """The store's round-trip counter (both implementations keep one)."""
    return int(getattr(store, "round_trips", 0))


def pipelines(store: Store) -> int:
    """What went on the wire: Redis sends the round-trips of one loop turn as one pipeline."""
    return int(getattr(store, "pipelines", round_trips(store)))


async def run_bridge(
    relay: Relay, clock: FirstChunkClock, cfg: BenchConfig, size: int, tag: str
) -> tuple[list[Outcome], list[BenchSurface], list[str]]:
    """``size`` concurrent messages through the relay, each into its own surface."""
    # A fresh pacing key per run: a chat just written to would (rightly) wait for its budget.
    budget = Budget.parse(cfg.budget)
    surfaces = [BenchSurface(key=f"{tag}:{i}", write_budget=budget) for i in range(size)]
    texts = [prompt_of(tag, i) for i in range(size)]
    msgs = [
        Incoming(
            platform="bench",
            channel=channel_of(i),
            author=f"bench-user-{i}",
            text=texts[i],
            message_id=f"{tag}-{i}",
        )
        for i in range(size)
    ]

    async def one(i: int) -> Outcome:
        await asyncio.sleep(cfg.start_delay(i, size))
        return await relay.handle(msgs[i], surfaces[i])

    outcomes = await asyncio.gather(*(one(i) for i in range(size)))
    return list(outcomes), surfaces, texts


async def run_bare(
    client: httpx.AsyncClient,
    base_url: str,
    remotes: Sequence[dict[str, str]],
    size: int,
    tag: str,
    cfg: BenchConfig,
) -> list[str]:
    """The same streams drained by httpx-sse alone; returns each reply's text."""

    async def one(i: int) -> str:
        await asyncio.sleep(cfg.start_delay(i, size))
        remote = remotes[i]
        body = {
            "characterId": int(remote["character_id"]),
            "chatId": int(remote["chat_id"]),
            "message": prompt_of(tag, i),
        }
        parts: list[str] = []
        async with aconnect_sse(
            client, "POST", f"{base_url}/message", json=body, headers={"x-access-token": TOKEN}
        ) as events:
            async for event in events.aiter_sse():
                parts.append(json.loads(event.data)["content"])
        return "".join(parts)

    return list(await asyncio.gather(*(one(i) for i in range(size))))


def dump_profile(profiler: cProfile.Profile, path: str) -> None:
    """Save the bridge pass's profile and print its top functions by own time to stderr."""
    profiler.dump_stats(path)
    print(f"  profile of the bridge pass: {path}", file=sys.stderr)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


def first_visible_ms(surface: BenchSurface, first_chunk: float | None) -> float | None:
    """Milliseconds from the first delta leaving the backend to the first write showing text."""
    shown = surface.first_send
    if shown is None or first_chunk is None:
        return None
    return (shown - first_chunk) * 1000


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# --- the benchmark -------------------------------------------------------------------------------


def make_settings(cfg: BenchConfig, base_url: str, prefix: str, sqlite_path: str) -> Settings:
    """Settings for the bridge under test; the rate limit never binds (one author per reply)."""
    store: dict[str, Any] = (
        {"url": cfg.redis_url, "prefix": prefix} if cfg.store == "redis" else {"path": sqlite_path}
    )
    backend = {
        "kind": "aurora",
        "base_url": base_url,
        "token": TOKEN,
        "character_id": CHARACTER_ID,
        "verify_close": cfg.verify_close,
    }
    relay = {"default_backend": BACKEND, "rate_limit_messages": 1_000_000}
    allowances: dict[str, Any] = {}
    if cfg.allowances:
        allowances = {
            "per_user": "1000000/1d",
            "per_chat": "1000000/1d",
            "backends": {BACKEND: "100000000/30d"},
        }
    return Settings(backends={BACKEND: backend}, store=store, relay=relay, allowances=allowances)


def meter_admissions(store: Store, allowances: AllowanceSettings) -> None:
    """Pass every admission the meters of its message (its author, its chat and the backend's
    plan), as the relay does once allowances are configured."""
    admit = store.admit

    async def metered(**kwargs: Any) -> Any:
        record = kwargs["record"]
        facts = MessageFacts(author=record.author, channel=record.channel, backend=BACKEND)
        return await admit(**{**kwargs, "meters": limits_for(facts, allowances, time.time())})

    store.admit = metered  # type: ignore[method-assign]


async def bind_channels(conversations: Conversations, count: int) -> list[dict[str, str]]:
    """Bind ``count`` channels up front (not timed): the hot path is a bound channel."""
    gate = asyncio.Semaphore(50)

    async def bind(i: int) -> Binding:
        async with gate:
            return await conversations.bind(channel_of(i), BACKEND, [], by="bench")

    return [b.remote for b in await asyncio.gather(*(bind(i) for i in range(count)))]


async def measure_size(
    relay: Relay,
    clock: FirstChunkClock,
    store: Store,
    base_url: str,
    remotes: Sequence[dict[str, str]],
    cfg: BenchConfig,
    size: int,
) -> SizeResult:
    """Bare run, then bridge run, then (optionally) the untimed memory pass."""
    result = SizeResult(size=size, chunks=size * cfg.chunks)
    expected = cfg.reply_text

    async with bare_client() as client:
        tag = f"bare-{size}-{uuid.uuid4().hex[:6]}"
        gc.collect()  # untimed: what earlier passes left is not this pass's to collect
        cpu0, t0 = time.process_time(), time.perf_counter()
        texts = await run_bare(client, base_url, remotes, size, tag, cfg)
        result.bare_wall = time.perf_counter() - t0
        gc.collect()  # the garbage this pass left is its own cost
        result.bare_cpu = time.process_time() - cpu0
    result.bare_ok = sum(t == expected for t in texts)

    tag = f"bridge-{size}-{uuid.uuid4().hex[:6]}"
    profiler = cProfile.Profile(time.process_time) if cfg.profile else None
    trips0, pipelines0 = round_trips(store), pipelines(store)
    gc.collect()
    cpu0, t0 = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    outcomes, surfaces, sent = await run_bridge(relay, clock, cfg, size, tag)
    if profiler is not None:
        profiler.disable()
    result.bridge_wall = time.perf_counter() - t0
    gc.collect()
    result.bridge_cpu = time.process_time() - cpu0
    if profiler is not None and cfg.profile:
        dump_profile(profiler, f"{cfg.profile}.{size}.prof")
    result.trips_per_msg = (round_trips(store) - trips0) / size
    result.pipelines_per_msg = (pipelines(store) - pipelines0) / size
    result.outcomes = Counter(o.value for o in outcomes)
    result.bridge_ok = sum(
        o is Outcome.REPLIED and s.shown == expected
        for o, s in zip(outcomes, surfaces, strict=True)
    )
    for surface, text in zip(surfaces, sent, strict=True):
        ms = first_visible_ms(surface, clock.first_chunk.pop(text, None))
        if ms is not None:
            result.latencies_ms.append(ms)
    del surfaces

    if cfg.memory:
        result.mem_per_reply, result.bare_mem_per_reply = await measure_memory(
            relay, clock, base_url, remotes, cfg, size
        )
    return result


async def peak_per_reply(one_pass: Awaitable[object], size: int) -> float:
    """Peak traced Python memory of ``one_pass`` above the idle baseline, per reply, in bytes."""
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await one_pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - baseline) / size


async def measure_memory(
    relay: Relay,
    clock: FirstChunkClock,
    base_url: str,
    remotes: Sequence[dict[str, str]],
    cfg: BenchConfig,
    size: int,
) -> tuple[float, float]:
    """Peak memory per reply of the bridge, and of the bare client alone (the streams' own
    share: the HTTP stack holds most of it), in bytes."""
    tag = f"mem-{size}-{uuid.uuid4().hex[:6]}"
    bridge = await peak_per_reply(run_bridge(relay, clock, cfg, size, tag), size)
    for i in range(size):
        clock.first_chunk.pop(prompt_of(tag, i), None)

    async def bare() -> None:
        async with bare_client() as client:
            await run_bare(client, base_url, remotes, size, f"mem-bare-{tag}", cfg)

    return bridge, await peak_per_reply(bare(), size)


async def run(cfg: BenchConfig) -> list[SizeResult]:
    """The whole benchmark: fake up, bridge up, each size measured, everything cleaned up."""
    prefix = f"bench-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        sqlite_path = cfg.sqlite_path or str(Path(tmp) / "bench.db")
        async with fake_upstream(cfg) as base_url:
            settings = make_settings(cfg, base_url, prefix, sqlite_path)
            try:
                async with open_runtime(settings) as rt:
                    if cfg.allowances:
                        meter_admissions(rt.store, settings.allowances)
                    clock = FirstChunkClock(rt.backends[BACKEND])
                    relay = Relay(
                        store=rt.store,
                        upstream=Upstream(
                            store=rt.store, backends={BACKEND: clock}, metrics=rt.metrics
                        ),
                        turns=Turns(store=rt.store, settings=settings.relay),
                        notifier=Notifier(),
                        settings=settings.relay,
                        metrics=rt.metrics,
                    )
                    remotes = await bind_channels(rt.bridge.conversations, max(cfg.sizes))
                    if cfg.settle_heap:  # as `bridge run` does once started
                        settle_heap()
                    # Warm-up (untimed): connections, Lua script, lazy imports on both paths.
                    await measure_size(
                        relay, clock, rt.store, base_url, remotes, _no_memory(cfg), 1
                    )
                    results = []
                    for size in cfg.sizes:
                        results.append(
                            await measure_size(relay, clock, rt.store, base_url, remotes, cfg, size)
                        )
                        print(f"  measured {size} concurrent", file=sys.stderr, flush=True)
                    return results
            finally:
                if cfg.store == "redis":
                    _delete_prefix(cfg.redis_url, prefix)


def _no_memory(cfg: BenchConfig) -> BenchConfig:
    return BenchConfig(**{**cfg.__dict__, "memory": False})


def _delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


# --- output --------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, spec)


def render_table(results: Sequence[SizeResult], cfg: BenchConfig) -> str:
    """The results as a Markdown table, followed by the targets with PASS/MISS."""
    head = (
        "| concurrent | bridge s | bare s | ratio | CPU s/1k chunks (bridge) | CPU s/1k chunks (bare)"
        " | first chunk->visible p50 ms | p99 ms | peak KiB/reply (bare) | store trips/msg"
        " | pipelines/msg | replies ok |"
    )
    lines = [
        f"{cfg.chunks} chunks x {cfg.chunk_size} chars, {cfg.chunk_delay * 1000:.0f} ms apart;"
        f" write budget {cfg.budget} per chat; store {cfg.store}; Python {sys.version.split()[0]},"
        f" {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}; garbage collector"
        f" {'as bridge run sets it' if cfg.settle_heap else 'with CPython defaults'}",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for r in results:
        mem = None if r.mem_per_reply is None else r.mem_per_reply / 1024
        bare_mem = None if r.bare_mem_per_reply is None else r.bare_mem_per_reply / 1024
        lines.append(
            f"| {r.size} | {r.bridge_wall:.3f} | {r.bare_wall:.3f} | {r.ratio:.2f}"
            f" | {_fmt(r.cpu_per_1k(r.bridge_cpu), '.3f')} | {_fmt(r.cpu_per_1k(r.bare_cpu), '.3f')}"
            f" | {_fmt(percentile(r.latencies_ms, 50), '.1f')}"
            f" | {_fmt(percentile(r.latencies_ms, 99), '.1f')}"
            f" | {_fmt(mem, '.1f')} ({_fmt(bare_mem, '.1f')}) | {_fmt(r.trips_per_msg, '.2f')}"
            f" | {_fmt(r.pipelines_per_msg, '.2f')}"
            f" | {r.bridge_ok}/{r.size} (bare {r.bare_ok}) |"
        )
    lines += ["", *render_targets(results)]
    odd = [r for r in results if r.bridge_ok < r.size or r.bare_ok < r.size]
    for r in odd:
        lines.append(
            f"incomplete replies at {r.size}: outcomes {dict(r.outcomes)}, bare ok {r.bare_ok}"
        )
    return "\n".join(lines)


def render_targets(results: Sequence[SizeResult]) -> list[str]:
    """One line per target: the figure, the bound and PASS/MISS (or n/a when not measured)."""
    by_size = {r.size: r for r in results}

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    lines = []
    r = by_size.get(TARGET_RATIO_SIZE)
    if r is None:
        lines.append(
            f"target ratio <= {TARGET_RATIO:.2f} at {TARGET_RATIO_SIZE}: n/a (size not run)"
        )
    else:
        lines.append(
            f"target ratio <= {TARGET_RATIO:.2f} at {TARGET_RATIO_SIZE}: {r.ratio:.2f}"
            f" {verdict(r.ratio <= TARGET_RATIO and r.bridge_ok == r.size)}"
        )
    if r is not None:
        cpu = r.cpu_per_1k(r.bridge_cpu) / r.cpu_per_1k(r.bare_cpu)
        lines.append(
            f"target CPU per chunk <= {TARGET_CPU_RATIO:.1f}x bare at {TARGET_RATIO_SIZE}:"
            f" {cpu:.2f}x {verdict(cpu <= TARGET_CPU_RATIO)}"
        )
        if r.mem_per_reply is not None and r.bare_mem_per_reply is not None:
            kib, bare_kib = r.mem_per_reply / 1024, r.bare_mem_per_reply / 1024
            lines.append(
                f"target memory per reply <= {TARGET_MEMORY_KIB:.0f} KiB at {TARGET_RATIO_SIZE}:"
                f" {kib:.1f} KiB (the bare stream alone {bare_kib:.1f})"
                f" {verdict(kib <= TARGET_MEMORY_KIB)}"
            )
    r = by_size.get(TARGET_LATENCY_SIZE)
    if r is None:
        lines.append(
            f"target first visible p99 <= {TARGET_LATENCY_MS:.0f} ms at {TARGET_LATENCY_SIZE}:"
            " n/a (size not run)"
        )
    else:
        p99 = percentile(r.latencies_ms, 99)
        lines.append(
            f"target first visible p99 <= {TARGET_LATENCY_MS:.0f} ms at {TARGET_LATENCY_SIZE}:"
            f" {_fmt(p99, '.1f')} ms {verdict(p99 <= TARGET_LATENCY_MS)}"
        )
    # At the largest size: a pass of one message may also hold the process's lease renewal
    # (one round-trip every lock_ttl / 3 for all its channels), which is not the message's.
    largest = max(results, key=lambda r: r.size, default=None)
    trips = largest.trips_per_msg if largest and largest.trips_per_msg is not None else math.nan
    lines.append(
        f"target store round-trips <= {TARGET_TRIPS:.0f}/message:"
        f" {_fmt(trips, '.2f')} at {largest.size if largest else 'n/a'}"
        f" {verdict(round(trips, 2) <= TARGET_TRIPS)}"
    )
    return lines


# --- command line --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> BenchConfig:
    """The command line as a :class:`BenchConfig`."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1,100,1000", help="concurrent replies, comma-separated")
    p.add_argument("--chunks", type=int, default=20, help="chunks per reply")
    p.add_argument("--chunk-size", type=int, default=16, help="characters per chunk")
    p.add_argument(
        "--chunk-delay",
        type=float,
        default=0.25,
        help="seconds between chunks (a model streaming ~4 chunks/s)",
    )
    p.add_argument(
        "--budget",
        default="21/1s",
        help="each chat's write budget (default: a streaming write every ~50 ms, one in reserve)",
    )
    p.add_argument("--store", choices=("redis", "sqlite"), default="redis")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--sqlite-path", default=None, help="default: a temporary file")
    p.add_argument(
        "--profile",
        metavar="PREFIX",
        help="cProfile each bridge pass (times are then inflated) into PREFIX.<size>.prof",
    )
    p.add_argument("--no-memory", dest="memory", action="store_false", help="skip the memory pass")
    p.add_argument(
        "--stagger",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="start each pass's messages evenly over SECONDS instead of all at once",
    )
    p.add_argument(
        "--verify-close",
        choices=("unfinished", "always", "off"),
        default="unfinished",
        help="when the Aurora backend checks a closed stream against the history (one GET)",
    )
    p.add_argument(
        "--allowances",
        action="store_true",
        help="meter every message against a per-user, per-chat and plan allowance",
    )
    p.add_argument(
        "--default-gc",
        dest="settle_heap",
        action="store_false",
        help="keep CPython's collector settings instead of those of `bridge run`",
    )
    args = p.parse_args(argv)
    try:
        sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    except ValueError:
        p.error("--sizes: comma-separated positive integers")
    if not sizes or min(sizes) < 1 or args.chunks < 1 or args.chunk_size < 1:
        p.error("sizes, --chunks and --chunk-size must be positive")
    try:
        Budget.parse(args.budget)
    except ValueError as exc:
        p.error(f"--budget: {exc}")
    if args.store == "redis" and urlsplit(args.redis_url).hostname not in LOOPBACK:
        p.error("--redis-url: the benchmark only talks to loopback")
    return BenchConfig(
        sizes=sizes,
        chunks=args.chunks,
        chunk_size=args.chunk_size,
        chunk_delay=args.chunk_delay,
        budget=args.budget,
        store=args.store,
        redis_url=args.redis_url,
        sqlite_path=args.sqlite_path,
        memory=args.memory,
        profile=args.profile,
        verify_close=args.verify_close,
        stagger=max(args.stagger, 0.0),
        allowances=args.allowances,
        settle_heap=args.settle_heap,
    )


class LogTally(logging.Handler):
    """Counts warnings and errors instead of printing one line per failed reply."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record by its level and message."""
        self.counts[f"{record.levelname} {record.getMessage()}"] += 1

    def summary(self) -> list[str]:
        """One line per distinct message, most frequent first."""
        return [f"log: {n} x {msg}" for msg, n in self.counts.most_common(10)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    cfg = parse_args(argv)
    tally = LogTally()
    root = logging.getLogger()
    root.addHandler(tally)
    root.setLevel(logging.WARNING)
    try:
        results = asyncio.run(run(cfg))
    finally:
        root.removeHandler(tally)
    print(render_table(results, cfg))
    for line in tally.summary():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
