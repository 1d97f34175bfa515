"""Scale benchmark: what one message costs the store, and how much one process and one webhook
worker get through. The figures behind docs/scaling.md.

Run: ``uv run --frozen python -m bench.scale_bench [--messages 2000] [--channels 200]
[--cluster-url redis://127.0.0.1:7101]``.

Everything is real and on loopback: a redis-server of the benchmark's own (so INFO and
commandstats count only this traffic), the fake Aurora upstream in a child process, the relay and
store in this process writing to in-memory chats. With a cluster URL (``.ci/redis-cluster``
starts one) the same run goes through a Redis Cluster too, and the load per node is shown.
The webhook part POSTs updates to one Telegram webhook worker (this process) with the fake Bot
API in this process too, so its figure is a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis

from bots.discord.frontend import DiscordFrontEnd
from bots.runtime import open_runtime
from bots.telegram.frontend import TelegramFrontEnd
from core.backends import build_backends
from core.config import RelaySettings, Settings
from core.metrics import Metrics
from core.model import Incoming
from core.notify import Notifier
from core.pacing import StoredPacing
from core.relay import Relay
from core.store.redis import RedisStore
from core.turns import Turns
from core.upstream import Upstream
from tests.fakes.discord import DiscordFake
from tests.fakes.surface import MemorySurface
from tests.fakes.telegram import FakeTelegram
from tests.harness import RedisServer

TOKEN = "bench-token-0123456789"
SECRET = "bench_secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def own_redis() -> AsyncIterator[str]:
    """A redis-server of our own (no persistence) on a free port; its URL."""
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed")
    with tempfile.TemporaryDirectory() as data:
        server = RedisServer(free_port(), Path(data))
        await server.start()
        try:
            yield server.url
        finally:
            await server.terminate()


@contextlib.contextmanager
def upstream() -> Iterator[str]:
    """The fake Aurora in a child process (its CPU is not ours); its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.aurora", "--token", TOKEN],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def settings(base_url: str) -> Settings:
    return Settings(
        backends={
            "luna": {"kind": "aurora", "base_url": base_url, "token": TOKEN, "character_id": 42}
        },
        relay=RelaySettings(rate_limit_messages=10_000, queue_size=10_000),
    )


@dataclass
class RunResult:
    """One relay run."""

    label: str
    messages: int
    wall: float
    cpu: float
    trips: int
    commands: dict[str, int]  # per Redis node: commands the run sent
    outcomes: Counter[str]

    @property
    def per_second(self) -> float:
        return self.messages / self.wall

    @property
    def per_cpu_second(self) -> float:
        return self.messages / self.cpu


def command_counts(nodes: Sequence[redis.Redis]) -> dict[str, int]:
    """Total commands each node has processed (INFO stats)."""
    out = {}
    for node in nodes:
        info = node.info("stats")
        kwargs = node.connection_pool.connection_kwargs
        out[f"{kwargs['host']}:{kwargs['port']}"] = int(info["total_commands_processed"])
    return out


async def relay_run(
    label: str,
    store: RedisStore,
    nodes: Sequence[redis.Redis],
    base_url: str,
    *,
    messages: int,
    channels: int,
) -> RunResult:
    """``messages`` messages spread over ``channels`` chats, all chats at once, each in order."""
    cfg = settings(base_url)
    backends = build_backends(cfg.backends)
    # As `bridge run` on Redis: each chat's write budget lives in the store.
    metrics = Metrics()
    relay = Relay(
        store=store,
        upstream=Upstream(store=store, backends=backends, metrics=metrics),
        turns=Turns(store=store, settings=cfg.relay),
        notifier=Notifier(),
        settings=cfg.relay,
        metrics=metrics,
        pacing=StoredPacing(store),
    )
    run = uuid.uuid4().hex[:6]
    outcomes: Counter[str] = Counter()

    async def chat(c: int, count: int) -> None:
        surface = MemorySurface(key=f"bench:{c}")
        for m in range(count):
            msg = Incoming(
                platform="bench",
                channel=f"bench:{run}:{c}",
                author=f"u{c}",
                text=f"message {m} in chat {c}",
                message_id=f"{run}:{c}:{m}",
            )
            outcomes[(await relay.handle(msg, surface)).value] += 1

    per_chat = [
        messages // channels + (1 if c < messages % channels else 0) for c in range(channels)
    ]
    before = command_counts(nodes)
    trips = store.round_trips
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(chat(c, n) for c, n in enumerate(per_chat)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = command_counts(nodes)
    for backend in backends.values():
        await backend.aclose()
    return RunResult(
        label,
        messages,
        wall,
        cpu,
        store.round_trips - trips,
        {k: after[k] - before[k] for k in after},
        outcomes,
    )


def key_memory(node: redis.Redis, prefix: str) -> dict[str, tuple[int, int]]:
    """Key kind -> (keys, bytes by MEMORY USAGE) for every key under ``prefix``."""
    sizes: dict[str, list[int]] = defaultdict(list)
    for key in node.scan_iter(match=f"{prefix}:*", count=1000):
        name = key.decode()
        tag = name.split("{", 1)[-1].split(":", 1)[0]
        kind = name.rsplit("}", 1)[-1].lstrip(":").split(":", 1)[0] or tag
        if "}" not in name:
            kind = name.split(":", 1)[1].split(":", 1)[0]
        sizes[kind].append(int(node.memory_usage(key, samples=0) or 0))
    return {kind: (len(v), sum(v)) for kind, v in sorted(sizes.items())}


async def webhook_run(
    base_url: str, redis_url: str, updates: int, chats: int, *, chatter: bool
) -> tuple[float, float, int]:
    """POST ``updates`` to one webhook worker, 40 at a time (Telegram's default
    max_connections); (updates answered per second, per CPU-second of this process, non-200
    answers). ``chatter``: group messages not meant for the bot, so the intake (secret check,
    update claim, reply-mode read) is measured apart from the replies' writes."""
    async with FakeTelegram() as tg:
        tg.auto_deliver = False
        port = free_port()
        url = f"http://127.0.0.1:{port}/hook"
        cfg = Settings(
            backends={
                "luna": {"kind": "aurora", "base_url": base_url, "token": TOKEN, "character_id": 42}
            },
            store={"url": redis_url, "prefix": f"hook{uuid.uuid4().hex[:6]}"},
            relay={"rate_limit_messages": 10_000, "queue_size": 10_000},
            telegram={
                "enabled": True,
                "token": tg.token,
                "base_url": tg.base_url,
                "mode": "webhook",
                "webhook": {"port": port, "url": url, "secret_token": SECRET},
            },
        )
        async with open_runtime(cfg) as rt:
            frontend = TelegramFrontEnd(cfg.telegram, rt.bridge, rt.store)
            await frontend.start()
            bodies = [
                tg.user_says(-1000 - i % chats, f"update {i}", user_id=1000, chat_type="group")
                if chatter
                else tg.user_says(1000 + i % chats, f"update {i}", user_id=1000 + i % chats)
                for i in range(updates)
            ]
            gate = asyncio.Semaphore(40)
            failed = 0
            async with aiohttp.ClientSession() as http:

                async def post(body: dict[str, Any]) -> None:
                    nonlocal failed
                    async with (
                        gate,
                        http.post(
                            url, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                        ) as resp,
                    ):
                        failed += resp.status != 200

                started, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(*(post(b) for b in bodies))
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            await rt.relay.drain(30)
            await frontend.stop()
    return updates / elapsed, updates / cpu, failed


async def discord_run(base_url: str, redis_url: str, events: int) -> tuple[float, float]:
    """``events`` guild messages not meant for the bot, then one mention, through one shard's
    gateway session into the Discord front-end; (events per second, per CPU-second). The fake
    Discord runs in this process too, so both figures are lower bounds."""
    async with DiscordFake() as dc:
        cfg = Settings(
            backends={
                "luna": {"kind": "aurora", "base_url": base_url, "token": TOKEN, "character_id": 42}
            },
            store={"url": redis_url, "prefix": f"dc{uuid.uuid4().hex[:6]}"},
            discord={"enabled": True, "token": dc.token, "api_base_url": dc.api_base_url},
            relay={"speaker_names": "never"},  # the echo then answers "echo: last"
        )
        async with open_runtime(cfg) as rt:
            frontend = DiscordFrontEnd(cfg.discord, rt.bridge, rt.store, gateway_url=dc.gateway_url)
            await frontend.start()
            channel = dc.default_channel_id
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(events):
                await dc.user_says(channel, f"chatter {i}", user_id=900_001)
            await dc.user_says(channel, "last", user_id=900_001, mention_bot=True)
            await dc.wait_for(lambda: dc.channel_texts(channel) == ["echo: last"], within=120)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            await frontend.stop()
    return events / elapsed, events / cpu


@contextlib.asynccontextmanager
async def redis_store(url: str, *, cluster: bool) -> AsyncIterator[RedisStore]:
    store = RedisStore(url, prefix="bench", cluster=cluster)
    try:
        yield store
    finally:
        await store.aclose()


def cluster_nodes(url: str) -> list[redis.Redis]:
    client = redis.RedisCluster.from_url(url)
    try:
        return [redis.Redis(host=n.host, port=n.port) for n in client.get_primaries()]
    finally:
        client.close()


def report(result: RunResult) -> list[str]:
    total = sum(result.commands.values())
    lines = [
        f"{result.label}: {result.messages} messages in {result.wall:.2f} s wall, "
        f"{result.cpu:.2f} s CPU -> {result.per_second:.0f} msg/s, "
        f"{result.per_cpu_second:.0f} msg per CPU-second of the bridge process",
        f"  store round-trips per message: {result.trips / result.messages:.2f}; "
        f"Redis commands per message: {total / result.messages:.2f}",
        f"  outcomes: {dict(result.outcomes)}",
    ]
    if len(result.commands) > 1:
        shares = ", ".join(
            f"{node} {count / total:.0%}" for node, count in sorted(result.commands.items())
        )
        lines.append(f"  commands per node: {shares}")
    return lines


async def main(argv: Sequence[str] | None = None) -> int:
    # The fake Bot API logs every connection a stopping worker drops; not ours to report.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--cluster-url", default=os.environ.get("BENCH_CLUSTER_URL"))
    args = parser.parse_args(argv)
    lines: list[str] = []
    async with own_redis() as url:
        with upstream() as base_url:
            node = redis.Redis.from_url(url)
            used_before = int(node.info("memory")["used_memory"])
            async with redis_store(url, cluster=False) as store:
                result = await relay_run(
                    "redis", store, [node], base_url, messages=args.messages, channels=args.channels
                )
            lines += report(result)
            used = int(node.info("memory")["used_memory"]) - used_before
            lines.append(
                f"  used_memory grew {used / 1024:.0f} KiB: "
                f"{used / args.messages:.0f} B per message, all keys included"
            )
            lines.append("  keys by kind (count, MEMORY USAGE total, average):")
            for kind, (count, size) in key_memory(node, "bench").items():
                lines.append(
                    f"    {kind:<12} {count:>6} {size / 1024:>9.1f} KiB {size / count:>7.0f} B"
                )

            if args.cluster_url:
                nodes = cluster_nodes(args.cluster_url)
                async with redis_store(args.cluster_url, cluster=True) as store:
                    result = await relay_run(
                        "cluster", store, nodes, base_url, messages=args.messages,
                        channels=args.channels,
                    )  # fmt: skip
                lines += report(result)
                for n in nodes:
                    for key in n.scan_iter(match="bench:*", count=1000):
                        n.delete(key)

            for chats, chatter in (
                (args.updates, True),
                (args.updates, False),
                (args.updates // 10, False),
            ):
                rate, per_cpu, failed = await webhook_run(
                    base_url, url, args.updates, chats=chats, chatter=chatter
                )
                lines.append(
                    f"telegram webhook worker: {args.updates} updates over {chats} chats, "
                    f"40 connections, {'group chatter, no replies' if chatter else 'each answered'}: "
                    f"{rate:.0f} updates/s answered after recording, {per_cpu:.0f} per CPU-second "
                    f"(worker and fake Bot API together; {failed} not 200)"
                )
            rate, per_cpu = await discord_run(base_url, url, args.events)
            lines.append(
                f"discord gateway: {args.events} guild messages not for the bot, one shard: "
                f"{rate:.0f} events/s, {per_cpu:.0f} per CPU-second (front-end and fake together)"
            )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
