"""Scale benchmark: what one message costs the store, and how much one process and one webhook
worker get through. The figures behind docs/scaling.md.

Run: ``.venv/bin/python -m bench.scale_bench [--messages 2000] [--channels 200]
[--cluster-url redis://127.0.0.1:7101]``.

Everything is real and on loopback: a redis-server of the benchmark's own (so INFO and
commandstats count only this traffic), the fake Aurora upstream in a child process, the relay and
store in this process writing to in-memory chats. With a cluster URL (``.ci/redis-cluster``
starts one) the same run goes through a Redis Cluster too, and the load per node is shown.
The webhook part POSTs updates to one Telegram webhook worker (this process) with the fake Bot
API in this process too, so its figure is a lower bound.

The platforms part measures a whole message from outside, platform side included: a real
``bridge run`` process (python-telegram-bot or discord.py in it) on the benchmark's redis-server,
the fake Discord or Telegram in this process and the fake Aurora in its own, with the default
write budgets and the fakes' limits on. Chats send in waves (one message each, the next wave
once every reply of the last is whole on the fake), after one untimed wave that binds them. Per
message: the ``bridge run`` process's CPU (utime + stime from /proc), the Redis commands
(``total_commands_processed``, which counts those inside scripts too) and the platform writes.
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
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis

from bench import relay_bench
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
from tests.harness.processes import BridgeProcess
from tests.harness.settings import toml

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


async def discord_run(base_url: str, redis_url: str, events: int) -> tuple[float, float, float]:
    """``events`` guild messages not meant for the bot, then one mention, through one shard's
    gateway session into the Discord front-end; (events per second, per CPU-second, Redis
    commands per event, the mention's reply included). The fake Discord runs in this process
    too, so the first two are lower bounds."""
    node = redis.Redis.from_url(redis_url)
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
            commands = command_counts([node])
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(events):
                await dc.user_says(channel, f"chatter {i}", user_id=900_001)
            await dc.user_says(channel, "last", user_id=900_001, mention_bot=True)
            await dc.wait_for(lambda: dc.channel_texts(channel) == ["echo: last"], within=120)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            sent = sum(command_counts([node]).values()) - sum(commands.values())
            await frontend.stop()
    node.close()
    return events / elapsed, events / cpu, sent / events


# --- the platforms part: `bridge run` measured from outside --------------------------------------

PLATFORMS = ("discord", "tg-private", "tg-group")
TG_USER = 700_001
DC_USER = 800_001


@dataclass
class PlatformResult:
    """One platform's figures over the timed waves."""

    platform: str
    messages: int
    wall: float
    cpu: float
    """CPU seconds of the `bridge run` process."""
    commands: int
    redis_usec: int
    """Microseconds Redis spent on the commands (INFO commandstats)."""
    by_command: Counter[str]
    writes: int
    drafts: int
    refused: int
    """Writes the fake platform answered with a 429."""
    families: Counter[str]
    """Commands by what their key is for (MONITOR), when tallied."""
    idle_commands: float
    """Commands per second the idle process sends (lease renewals, recovery, polls)."""
    idle_cpu: float
    """CPU seconds per second of the idle process."""


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def command_stats(node: redis.Redis) -> tuple[int, int, Counter[str]]:
    """(commands processed, microseconds spent, calls by command) so far."""
    total = int(node.info("stats")["total_commands_processed"])
    calls: Counter[str] = Counter()
    usec = 0
    for name, stat in node.info("commandstats").items():
        calls[name.removeprefix("cmdstat_")] = int(stat["calls"])
        usec += int(stat["usec"])
    return total, usec, calls


KEY_FAMILIES = (
    ("pacing: the bot-wide budget", ("{pace:dc:*}", "{pace:tg:*}")),
    ("pacing: the chat's budgets", ("{pace:",)),
    ("operator page counts", (":page:",)),
    ("catch-up index", (":active", "}:last")),
)


def key_family(line: str) -> str | None:
    """What a MONITOR line's command is for, by the key it names; None for the benchmark's own
    INFO readings."""
    if '"INFO"' in line.upper() or "monitor" in line.lower():
        return None
    for family, marks in KEY_FAMILIES:
        if any(mark in line for mark in marks):
            return family
    return "relay: admission, journal, turn, release, liveness"


class CommandLog:
    """Redis's MONITOR feed, read in a thread and tallied by key family while it is on."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self.families: Counter[str] = Counter()
        self.on = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # the connection closes at the end
            for event in self._monitor.listen():
                if self.on and (family := key_family(str(event.get("command", "")))):
                    self.families[family] += 1

    def close(self) -> None:
        """Stop reading."""
        with contextlib.suppress(Exception):
            self._monitor.connection.disconnect()
        self._thread.join(5)
        self._client.close()


def platform_config(
    platform: str, base_url: str, redis_url: str, *, tg: FakeTelegram | None, dc: DiscordFake | None
) -> str:
    """A `bridge run` config on the fakes with the production write budgets."""
    tables: dict[str, dict[str, Any]] = {
        "store": {"url": redis_url, "prefix": f"plat{uuid.uuid4().hex[:6]}"},
        "backends.luna": {
            "kind": "aurora",
            "base_url": base_url,
            "token": TOKEN,
            "character_id": 42,
        },
        "relay": {"rate_limit_messages": 10_000, "queue_size": 10_000},
    }
    if dc is not None:
        tables["discord"] = {"enabled": True, "token": dc.token, "api_base_url": dc.api_base_url}
    if tg is not None:
        port = free_port()
        tables["telegram"] = {
            "enabled": True,
            "token": tg.token,
            "base_url": tg.base_url,
            "mode": "webhook",
        }
        tables["telegram.webhook"] = {
            "port": port,
            "url": f"http://127.0.0.1:{port}/hook",
            "secret_token": SECRET,
        }
    return toml(tables)


async def platform_run(
    platform: str,
    node: redis.Redis,
    redis_url: str,
    base_url: str,
    reply: str,
    *,
    chats: int,
    waves: int,
    folder: Path,
    by_key: bool = False,
) -> PlatformResult:
    """``waves`` x ``chats`` messages through a `bridge run` process on ``platform``."""
    async with contextlib.AsyncExitStack() as stack:
        dc = tg = None
        if platform == "discord":
            dc = await stack.enter_async_context(DiscordFake())
            ids = [dc.snowflake() for _ in range(chats)]
            for cid in ids:
                await dc.ensure_channel(cid)
        else:
            tg = await stack.enter_async_context(FakeTelegram())
            private = platform == "tg-private"
            ids = [(3000 + c if private else -100_3000 - c) for c in range(chats)]
        config = folder / f"{platform}.toml"
        config.write_text(platform_config(platform, base_url, redis_url, tg=tg, dc=dc))
        bridge = await BridgeProcess.start(
            "run",
            "--config",
            str(config),
            gateway_url=dc.gateway_url if dc else None,
            merge_stderr=True,
        )
        stack.push_async_callback(bridge.kill)
        await bridge.wait_log("bridge running", within=120)
        if dc is not None:
            await dc.wait_ready(within=60)

        def shown(cid: int) -> int:
            texts = dc.channel_texts(cid) if dc else tg.chat_texts(cid) if tg else []
            return sum(t == reply for t in texts)

        async def wave(number: int) -> None:
            for i, cid in enumerate(ids):
                text = f"wave {number} chat {i}"
                if dc is not None:
                    await dc.user_says(cid, text, user_id=DC_USER + i, mention_bot=True)
                elif tg is not None and cid > 0:
                    tg.user_says(cid, text, user_id=TG_USER + i)
                elif tg is not None:
                    tg.user_says(
                        cid, f"@bridge_bot {text}", user_id=TG_USER + i, chat_type="supergroup"
                    )
            target = number + 1
            waiter = dc or tg
            assert waiter is not None
            await waiter.wait_for(lambda: all(shown(cid) >= target for cid in ids), within=300)

        def writes() -> tuple[int, int, int]:
            """Accepted writes, accepted drafts, and writes the fake refused with a 429."""
            if dc is not None:
                done = [w.status < 300 for w in dc.writes]
                return sum(done), 0, sum(w.status == 429 for w in dc.writes)
            assert tg is not None
            drafts = sum(w.ok and w.method == "sendMessageDraft" for w in tg.writes)
            accepted = sum(w.ok for w in tg.writes)
            return accepted - drafts, drafts, sum(w.error_code == 429 for w in tg.writes)

        await wave(0)  # untimed: binds every chat to its conversation
        pid = bridge.proc.pid
        commands0, usec0, calls0 = command_stats(node)
        writes0, drafts0, refused0 = writes()
        monitor = CommandLog(redis_url) if by_key else None
        if monitor is not None:
            stack.callback(monitor.close)
            monitor.on = True
        cpu0, wall0 = process_cpu(pid), time.perf_counter()
        for number in range(1, waves + 1):
            await wave(number)
        wall, cpu = time.perf_counter() - wall0, process_cpu(pid) - cpu0
        families = Counter(monitor.families) if monitor else Counter()
        if monitor is not None:
            monitor.on = False
        commands1, usec1, calls1 = command_stats(node)
        writes1, drafts1, refused1 = writes()
        # The idle process: what it sends and spends with nothing to do (for the per-message
        # figures' share of it).
        idle = 3.0
        await asyncio.sleep(0.5)
        idle0, icpu0 = command_stats(node)[0], process_cpu(pid)
        await asyncio.sleep(idle)
        idle1, icpu1 = command_stats(node)[0], process_cpu(pid)
        await bridge.stop(within=60)
    calls1.subtract(calls0)
    return PlatformResult(
        platform,
        waves * chats,
        wall,
        cpu,
        commands1 - commands0,
        usec1 - usec0,
        +calls1,
        writes1 - writes0,
        drafts1 - drafts0,
        refused1 - refused0,
        families,
        (idle1 - idle0 - 2) / idle,  # less the two INFO commands of the first reading
        (icpu1 - icpu0) / idle,
    )


def platform_report(r: PlatformResult) -> list[str]:
    """The lines of one platform's figures."""
    n = r.messages
    top = ", ".join(f"{name} {count / n:.1f}" for name, count in r.by_command.most_common(8))
    return [
        f"{r.platform}: {n} messages through `bridge run` in {r.wall:.1f} s: "
        f"{r.cpu / n * 1000:.1f} ms CPU per message (the whole process, platform client included), "
        f"{r.commands / n:.1f} Redis commands per message "
        f"({r.redis_usec / n:.0f} us of Redis time), "
        f"{r.writes / n:.1f} platform writes and {r.drafts / n:.1f} drafts per message, "
        f"{r.refused} 429s",
        f"  commands per message by kind: {top}",
        *(
            [
                "  commands per message by what they are for (MONITOR): "
                + ", ".join(
                    f"{family} {count / n:.1f}" for family, count in r.families.most_common()
                )
            ]
            if r.families
            else []
        ),
        f"  idle process: {r.idle_commands:.1f} Redis commands/s, "
        f"{r.idle_cpu * 1000:.1f} ms CPU per second",
    ]


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
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"what to measure, comma-separated: {', '.join(PARTS)}",
    )
    parser.add_argument("--platforms", default=",".join(PLATFORMS), help="for the platforms part")
    parser.add_argument("--platform-chats", type=int, default=20, help="chats writing at once")
    parser.add_argument("--platform-waves", type=int, default=5, help="timed messages per chat")
    parser.add_argument(
        "--by-key",
        action="store_true",
        help="platforms part: tally Redis commands by key family over MONITOR (slows Redis)",
    )
    parser.add_argument("--reply-chunks", type=int, default=40, help="chunks per reply")
    parser.add_argument("--reply-chunk-size", type=int, default=15, help="characters per chunk")
    parser.add_argument("--reply-delay", type=float, default=0.1, help="seconds between chunks")
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if parts - set(PARTS):
        parser.error(f"--parts: one or more of {', '.join(PARTS)}")
    lines: list[str] = []
    async with own_redis() as url:
        if "platforms" in parts:
            lines += await platforms_part(url, args)
        if parts - {"platforms"}:
            lines += await store_parts(url, parts, args)
    print("\n".join(lines))
    return 0


PARTS = ("relay", "webhook", "gateway", "platforms")


async def platforms_part(url: str, args: argparse.Namespace) -> list[str]:
    """Each platform's cost per message, measured on a `bridge run` process."""
    shape = relay_bench.BenchConfig(
        sizes=(1,),
        chunks=args.reply_chunks,
        chunk_size=args.reply_chunk_size,
        chunk_delay=args.reply_delay,
        budget="",
        store="redis",
        redis_url=url,
        sqlite_path=None,
        memory=False,
    )
    lines = [
        f"platforms: replies of {len(shape.reply_text)} characters in {shape.chunks} chunks "
        f"{shape.chunk_delay * 1000:.0f} ms apart; {args.platform_chats} chats at once, "
        f"{args.platform_waves} timed messages each; default write budgets, the fakes' limits on"
    ]
    node = redis.Redis.from_url(url)
    with tempfile.TemporaryDirectory() as folder:
        async with relay_bench.fake_upstream(shape) as base_url:
            for platform in (p.strip() for p in args.platforms.split(",") if p.strip()):
                result = await platform_run(
                    platform,
                    node,
                    url,
                    base_url,
                    shape.reply_text,
                    chats=args.platform_chats,
                    waves=args.platform_waves,
                    folder=Path(folder),
                    by_key=args.by_key,
                )
                lines += platform_report(result)
    node.close()
    return lines


async def store_parts(url: str, parts: set[str], args: argparse.Namespace) -> list[str]:
    """The relay's store cost on one Redis (and a cluster), the webhook intake and the gateway."""
    lines: list[str] = []
    with upstream() as base_url:
        if "relay" in parts:
            lines += await relay_parts(url, base_url, args)
        if "webhook" in parts:
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
        if "gateway" in parts:
            rate, per_cpu, commands = await discord_run(base_url, url, args.events)
            lines.append(
                f"discord gateway: {args.events} guild messages not for the bot, one shard: "
                f"{rate:.0f} events/s, {per_cpu:.0f} per CPU-second (front-end and fake together), "
                f"{commands:.2f} Redis commands per event"
            )
    return lines


async def relay_parts(url: str, base_url: str, args: argparse.Namespace) -> list[str]:
    """The relay into in-memory chats: store cost per message and memory, one Redis and a
    cluster."""
    lines: list[str] = []
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
        lines.append(f"    {kind:<12} {count:>6} {size / 1024:>9.1f} KiB {size / count:>7.0f} B")
    if args.cluster_url:
        nodes = cluster_nodes(args.cluster_url)
        async with redis_store(args.cluster_url, cluster=True) as store:
            result = await relay_run(
                "cluster", store, nodes, base_url, messages=args.messages, channels=args.channels
            )
        lines += report(result)
        for n in nodes:
            for key in n.scan_iter(match="bench:*", count=1000):
                n.delete(key)
    return lines


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
