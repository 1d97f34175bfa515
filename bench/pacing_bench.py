"""Pacing benchmark: how soon and how steadily a streamed reply shows, at each platform's limit.

Run: ``.venv/bin/python -m bench.pacing_bench [--chars 1200,3000] [--chats 1,5,20]``, or with the
bridge's writers in separate processes sharing one Redis (the bot-wide budget in the store):
``.venv/bin/python -m bench.pacing_bench --processes 2 --k 50,100,200``.

Every row streams one reply into each of K chats at once, through the renderer, the write
budgets and the real platform clients (discord.py, python-telegram-bot) into the project's fake
Discord and fake Telegram on 127.0.0.1, whose rate limiters are on: Discord's 5 writes per 5 s
per channel with its X-RateLimit headers; Telegram's chat rules as configured below. The fakes
run in a child process (the platforms' CPU is not the bridge's). The reply: a first token after
``--first``, then ``--pieces`` chunks ``--gap`` apart. Everything is timed on the machine's one
monotonic clock: when each chunk was produced, and when each write reached the fake.

With ``--processes N`` the K chats of a row are dealt to N writer processes (chat i to process
i mod N), each with its own platform client and a :class:`StoredPacing` on one Redis, and the
replies arrive ``--stagger`` seconds apart in all (by default a third of the bot-wide budget's
rate, first messages and finals taking two writes each): a busy evening, not one burst. The
replies stream ``--pieces`` x ``--gap`` seconds (0.1 s by default here: about 30 s, so that all K
stream at once), and every row also shows the bot's writes per second at the platform, its 429s
by route and bot-wide, and how evenly the replies shared the streaming edits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import discord
import redis.asyncio
from telegram import Bot
from telegram.error import RetryAfter
from telegram.request import HTTPXRequest

from bots.discord.frontend import pointed_at
from bots.discord.ratelimits import rate_limit_trace
from bots.discord.surface import DiscordSurface
from bots.runtime import bot_wide_budgets
from bots.telegram.surface import ChatTarget, DraftPolicy, TelegramSurface
from core import notices
from core.budget import Budget
from core.config import DiscordSettings, TelegramSettings
from core.pacing import Pacing, PacingBoard, StoredPacing
from core.render import ReplyRenderer
from core.store import RedisStore
from core.surface import Surface
from tests.fakes.discord import DiscordFake
from tests.fakes.discord import Write as DiscordWrite
from tests.fakes.telegram import FakeTelegram, FloodRule
from tests.fakes.telegram import Write as TelegramWrite

WORDS = "the quick brown fox jumps over the lazy dog while streaming a reply chunk by chunk "
PLATFORMS = ("discord", "tg-private", "tg-group")
FakeWrites = Callable[[], Awaitable[tuple[list[DiscordWrite], list[TelegramWrite]]]]
FakeCounts = Callable[[], Awaitable[tuple[int, int]]]
"""The fakes' bot-wide refusals so far: (Discord's global 429s, Telegram's per-bot 429s)."""

# The fake Telegram's limits, after the Bot FAQ: about one message a second in a chat with short
# bursts, 20 a minute in a group. No limit is published for drafts; this one is the fake's.
TG_PRIVATE_RULE = FloodRule(max_writes=3, window=3.0)
TG_GROUP_RULE = FloodRule(max_writes=20, window=60.0)
TG_DRAFT_RULE = FloodRule(max_writes=10, window=1.0)
# The bot-wide budgets of the default settings: the fakes enforce each platform's global limit.
BOT_WIDE = bot_wide_budgets(DiscordSettings, TelegramSettings)

TARGET_LAG = 0.15
TARGET_STALENESS = 85.0
TARGET_STALENESS_CHARS = 1200
# With writers in several processes (the bot-wide budget binds): the targets.
TARGET_LAG_P95 = 2.0
TARGET_SPREAD = 2.0  # every reply's streaming edits within this factor of the mean
ARRIVALS_SHARE = 3  # --stagger auto: replies arrive at a third of the bot-wide budget's rate


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run does."""

    chars: tuple[int, ...]
    chats: tuple[int, ...]
    platforms: tuple[str, ...]
    pieces: int
    gap: float
    first: float
    probe: bool
    processes: int = 0
    """Writer processes sharing one Redis (0: the writers run in the benchmark's process)."""
    stagger: float | None = None
    """Seconds over which a row's replies arrive (None: auto, from the bot-wide budget)."""
    redis: str = "redis://127.0.0.1:6379/0"
    discord_budget: str = DiscordSettings().write_budget
    """Each Discord channel's write budget (the default setting unless changed for a test)."""
    discord_reserve: int = 1
    """Writes of it kept back while streaming, for the final text."""


@dataclass
class Reply:
    """One reply's timeline: chunks produced (time, characters so far) and what was shown."""

    expected: str
    produced: list[tuple[float, int]] = field(default_factory=list)
    shown: list[tuple[float, int]] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    drafts: list[float] = field(default_factory=list)
    floods: int = 0
    final_texts: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """The chat ends with the whole text (messages split at a space are joined by one)."""
        return " ".join(t.strip() for t in self.final_texts) == self.expected.strip()

    @property
    def visible_at(self) -> float | None:
        """When the whole text was first visible."""
        total = len(self.expected.strip()) - len(self.final_texts) + 1
        return next((t for t, n in self.shown if n >= total), None)

    @property
    def final_lag(self) -> float:
        """From the last chunk produced to the whole text visible."""
        visible = self.visible_at
        return math.inf if visible is None else visible - self.produced[-1][0]

    @property
    def staleness(self) -> float:
        """Characters produced but not yet shown, averaged over time from the first chunk to
        the whole text visible."""
        end = self.visible_at
        if end is None or not self.produced:
            return math.nan
        start = self.produced[0][0]
        events = sorted(
            [(t, "p", n) for t, n in self.produced] + [(t, "s", n) for t, n in self.shown]
        )
        produced = shown = 0
        area, last = 0.0, start
        for t, kind, n in events:
            t = min(max(t, start), end)
            area += max(produced - shown, 0) * (t - last)
            last = t
            if kind == "p":
                produced = n
            else:
                shown = n
        return area / (end - start) if end > start else 0.0


def reply_text(chars: int) -> str:
    """The reply: exactly ``chars`` characters of words."""
    return (WORDS * (chars // len(WORDS) + 1))[:chars]


async def stream(
    reply: Reply, pieces: int, gap: float, first: float, at: float | None = None
) -> AsyncIterator[str]:
    """The reply's chunks on a fixed schedule (no drift), noting when each was produced; the
    schedule starts ``first`` after ``at`` (default: now)."""
    text = reply.expected
    size = math.ceil(len(text) / pieces)
    start = (time.monotonic() if at is None else at) + first
    for i, at in enumerate(range(0, len(text), size)):
        delay = start + i * gap - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = text[at : at + size]
        reply.produced.append((time.monotonic(), at + len(chunk)))
        yield chunk


async def render(
    surface: Surface, pacing: Pacing, reply: Reply, cfg: BenchConfig, at: float | None = None
) -> None:
    """Stream one reply into one chat (the platform's 429s are counted from the fake's log);
    the user's message arrives at ``at`` on the monotonic clock (default: now)."""
    if at is not None:
        await asyncio.sleep(max(at - time.monotonic(), 0.0))
    renderer = ReplyRenderer(surface, pacing, notice_for=notices.for_error)
    await renderer.render(stream(reply, cfg.pieces, cfg.gap, cfg.first, at))


# --- the fake platforms, in their own process ---------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Every chat the run writes to, created on the fakes before it starts."""

    discord_channels: tuple[int, ...]
    private_chats: tuple[int, ...]
    groups: tuple[int, ...]


@dataclass(frozen=True)
class Platforms:
    """Where the fakes listen, and how a client authenticates."""

    discord_url: str
    discord_token: str
    telegram_url: str
    telegram_token: str


def _fakes_process(conn: multiprocessing.connection.Connection, plan: Plan) -> None:
    """Child process entry: serve both fakes; answer "writes" with every write; "stop" ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve_fakes(conn, plan))


async def _serve_fakes(conn: multiprocessing.connection.Connection, plan: Plan) -> None:
    async with (
        DiscordFake() as dc,
        FakeTelegram(flood=TG_PRIVATE_RULE, draft_flood=TG_DRAFT_RULE) as tg,
    ):
        for cid in plan.discord_channels:
            await dc.ensure_channel(cid)
        for chat_id in plan.private_chats:
            tg.chat(chat_id, "private")
        for chat_id in plan.groups:
            tg.chat(chat_id, "supergroup")
            tg.set_flood(chat_id, TG_GROUP_RULE)
        conn.send(Platforms(dc.api_base_url, dc.token, tg.base_url, tg.token))
        while True:
            order = await asyncio.to_thread(conn.recv)
            if order == "counts":
                conn.send((dc.global_429s, tg.bot_floods))
            elif order == "writes":
                conn.send((dc.writes, tg.writes))
            else:
                break


@contextlib.asynccontextmanager
async def fake_platforms(
    plan: Plan,
) -> AsyncIterator[tuple[Platforms, FakeWrites, FakeCounts]]:
    """Start the fakes in a spawned process; yield where they are and ways to read their
    writes and their bot-wide refusals."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_fakes_process, args=(child, plan), daemon=True)
    proc.start()
    child.close()
    lock = asyncio.Lock()

    async def writes() -> tuple[list[DiscordWrite], list[TelegramWrite]]:
        async with lock:
            parent.send("writes")
            found: tuple[list[DiscordWrite], list[TelegramWrite]] = await asyncio.to_thread(
                parent.recv
            )
            return found

    async def counts() -> tuple[int, int]:
        async with lock:
            parent.send("counts")
            found: tuple[int, int] = await asyncio.to_thread(parent.recv)
            return found

    try:
        if not await asyncio.to_thread(parent.poll, 60):
            raise RuntimeError("the fake platforms did not start within 60 s")
        yield parent.recv(), writes, counts
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        await asyncio.to_thread(proc.join, 10)
        if proc.is_alive():
            proc.kill()
            await asyncio.to_thread(proc.join, 5)
        parent.close()


# --- Discord ------------------------------------------------------------------------------------


async def run_discord(
    platforms: Platforms,
    channels: Sequence[int],
    chars: int,
    cfg: BenchConfig,
    pacing: Pacing | None = None,
    starts: Sequence[float] | None = None,
) -> list[Reply]:
    """One reply in each channel, through discord.py: all at once, or each at its start."""
    pacing = PacingBoard(bot_wide=BOT_WIDE) if pacing is None else pacing
    budget = Budget.parse(cfg.discord_budget, reserve=cfg.discord_reserve)
    client = discord.Client(
        intents=discord.Intents.none(),
        max_ratelimit_timeout=30.0,
        http_trace=rate_limit_trace(pacing),
    )
    replies = [Reply(reply_text(chars)) for _ in channels]
    with pointed_at(platforms.discord_url):
        await client.login(platforms.discord_token)
        try:
            surfaces = [
                DiscordSurface(
                    client.get_partial_messageable(cid), cid, reply_to=None, budget=budget
                )
                for cid in channels
            ]
            at = starts or [None] * len(replies)
            await asyncio.gather(
                *(
                    render(s, pacing, r, cfg, a)
                    for s, r, a in zip(surfaces, replies, at, strict=True)
                )
            )
        finally:
            await client.close()
    return replies


def read_discord(writes: Sequence[DiscordWrite], cid: int, reply: Reply) -> None:
    """What the channel showed when, from the fake's record of its writes."""
    texts: dict[int, str] = {}
    for w in writes:
        if w.channel_id != cid:
            continue
        if w.status != 200 or w.message_id is None:
            reply.floods += w.status == 429
            continue
        texts[w.message_id] = w.content or ""
        reply.writes.append(w.at)
        reply.shown.append((w.at, sum(len(t) for t in texts.values())))
    reply.final_texts = list(texts.values())


# --- Telegram -----------------------------------------------------------------------------------


def telegram_bot(platforms: Platforms) -> Bot:
    """A PTB bot on the fake, with a connection pool like the Application's (not PTB's 1)."""
    request = HTTPXRequest(connection_pool_size=256)
    return Bot(platforms.telegram_token, base_url=platforms.telegram_url, request=request)


async def run_telegram(
    bot: Bot,
    chats: Sequence[int],
    chars: int,
    cfg: BenchConfig,
    *,
    private: bool,
    pacing: Pacing | None = None,
    starts: Sequence[float] | None = None,
) -> list[Reply]:
    """One reply in each chat, all at once or each at its start: private chats (drafts, then
    one message) or groups (send + edits)."""
    settings = TelegramSettings()
    pacing = PacingBoard(bot_wide=BOT_WIDE) if pacing is None else pacing
    ids = itertools.count(1)
    policy = DraftPolicy(True, lambda: next(ids))
    replies = [Reply(reply_text(chars)) for _ in chats]
    budget = Budget.parse(settings.private_budget if private else settings.group_budget)
    draft_budget = Budget.parse(settings.draft_budget, reserve=0)
    surfaces = [
        TelegramSurface(
            bot,
            ChatTarget(chat_id, private=private),
            budget=budget,
            draft_budget=draft_budget,
            drafts=policy,
        )
        for chat_id in chats
    ]
    at = starts or [None] * len(replies)
    await asyncio.gather(
        *(render(s, pacing, r, cfg, a) for s, r, a in zip(surfaces, replies, at, strict=True))
    )
    return replies


def read_telegram(writes: Sequence[TelegramWrite], chat_id: int, reply: Reply) -> None:
    """What the chat showed when (drafts included), from the fake's record of its writes."""
    texts: dict[int, str] = {}
    draft = ""
    for w in writes:
        if w.chat_id != chat_id:
            continue
        if not w.ok:
            reply.floods += w.error_code == 429
            continue
        if w.method == "sendMessageDraft":
            draft = w.text
            reply.drafts.append(w.at)
        else:
            assert w.message_id is not None
            texts[w.message_id] = w.text
            draft = ""
            reply.writes.append(w.at)
        reply.shown.append((w.at, sum(len(t) for t in texts.values()) + len(draft)))
    reply.final_texts = list(texts.values())


# --- writers in separate processes, sharing one Redis --------------------------------------------


@dataclass(frozen=True)
class Job:
    """One writer process's share of a row: its chats, when each reply arrives (offsets from
    the common start), and the store every writer shares."""

    platform: str
    platforms: Platforms
    chats: tuple[int, ...]
    offsets: tuple[float, ...]
    chars: int
    cfg: BenchConfig
    prefix: str


@dataclass(frozen=True)
class Done:
    """What a writer process sends back: each chat's chunk times, and its store trips."""

    produced: dict[int, list[tuple[float, int]]]
    round_trips: int
    pipelines: int


def _writer_process(conn: multiprocessing.connection.Connection, job: Job) -> None:
    """Child process entry: say "ready", take the common start time, write, send :class:`Done`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send(asyncio.run(_write_share(conn, job)))


async def _write_share(conn: multiprocessing.connection.Connection, job: Job) -> Done:
    store = RedisStore(job.cfg.redis, prefix=job.prefix)
    pacing = StoredPacing(store, bot_wide=BOT_WIDE)
    try:
        await store.ping()
        conn.send("ready")
        t0: float = await asyncio.to_thread(conn.recv)
        starts = [t0 + offset for offset in job.offsets]
        if job.platform == "discord":
            replies = await run_discord(
                job.platforms, job.chats, job.chars, job.cfg, pacing, starts
            )
        else:
            async with telegram_bot(job.platforms) as bot:
                private = job.platform == "tg-private"
                replies = await run_telegram(
                    bot, job.chats, job.chars, job.cfg, private=private, pacing=pacing,
                    starts=starts,
                )  # fmt: skip
        produced = {chat: r.produced for chat, r in zip(job.chats, replies, strict=True)}
        return Done(produced, store.round_trips, store.pipelines)
    finally:
        await store.aclose()


async def _forget(url: str, prefix: str) -> None:
    """Delete a row's keys (the pacing states would lapse anyway, within minutes)."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def stagger_for(platform: str, k: int, cfg: BenchConfig) -> float:
    """Seconds over which a row's K replies arrive: as given, or auto (a third of the
    bot-wide budget's rate, so that first messages and finals leave edits room)."""
    if cfg.stagger is not None:
        return cfg.stagger
    budget = BOT_WIDE("dc" if platform == "discord" else "tg")
    assert budget is not None
    return k * ARRIVALS_SHARE * budget.window / budget.writes


async def run_processes(
    platforms: Platforms, platform: str, chats: Sequence[int], chars: int, cfg: BenchConfig
) -> tuple[list[Reply], int, int]:
    """One row with the writers in ``cfg.processes`` processes on one Redis (a fresh prefix, so
    a fresh bot-wide budget): the replies, and the writers' store round-trips and pipelines."""
    ctx = multiprocessing.get_context("spawn")
    prefix = f"pacing-bench-{uuid.uuid4().hex[:8]}"
    gap = stagger_for(platform, len(chats), cfg) / len(chats)
    offsets = [i * gap for i in range(len(chats))]
    n = cfg.processes
    jobs = [
        Job(platform, platforms, tuple(chats[i::n]), tuple(offsets[i::n]), chars, cfg, prefix)
        for i in range(n)
    ]
    pipes, procs = [], []
    for job in jobs:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_writer_process, args=(child, job), daemon=True)
        proc.start()
        child.close()
        pipes.append(parent)
        procs.append(proc)
    try:
        for parent in pipes:
            if not await asyncio.to_thread(parent.poll, 60):
                raise RuntimeError("a writer process did not start within 60 s")
            assert parent.recv() == "ready"
        t0 = time.monotonic() + 1.0  # time for every writer to log in
        for parent in pipes:
            parent.send(t0)
        done: list[Done] = [await asyncio.to_thread(parent.recv) for parent in pipes]
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.join, 10)
            if proc.is_alive():
                proc.kill()
        for parent in pipes:
            parent.close()
        await _forget(cfg.redis, prefix)
    produced = {chat: times for d in done for chat, times in d.produced.items()}
    replies = []
    for chat in chats:
        reply = Reply(reply_text(chars))
        reply.produced = produced[chat]
        replies.append(reply)
    return replies, sum(d.round_trips for d in done), sum(d.pipelines for d in done)


PROBE_RATES = (5.0, 8.0, 10.0, 12.0, 20.0)
PROBE_CHATS = tuple(20_000_000 + int(rate * 10) for rate in PROBE_RATES)


async def probe_drafts(bot: Bot) -> list[tuple[float, int, int]]:
    """Drafts sent evenly at rising rates for 2 s each, one chat per rate: (rate, sent, refused)."""
    found = []
    for rate, chat_id in zip(PROBE_RATES, PROBE_CHATS, strict=True):
        sent = refused = 0
        start = time.monotonic()
        for i in range(int(rate * 2)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await bot.send_message_draft(chat_id, 1, f"draft {i}")
                sent += 1
            except RetryAfter:
                refused += 1
        found.append((rate, sent, refused))
    return found


# --- the benchmark ------------------------------------------------------------------------------


@dataclass
class Row:
    """One platform x reply length x K."""

    platform: str
    chars: int
    k: int
    replies: list[Reply]
    budget: str
    draft_budget: str | None
    bot_floods: int = 0
    """429s the platform gave for the bot-wide limit during the row."""
    round_trips: int = 0
    """Store round-trips of the writer processes (0 when they ran in this one)."""
    pipelines: int = 0


def peak(times: Sequence[float], window: float) -> int:
    """Most writes within any ``window`` seconds."""
    ordered = sorted(times)
    best = 0
    for i, t in enumerate(ordered):
        j = i
        while j < len(ordered) and ordered[j] < t + window:
            j += 1
        best = max(best, j - i)
    return best


async def run(cfg: BenchConfig) -> tuple[list[Row], list[tuple[float, int, int]]]:
    """Every row, one after the other, against the fakes in their own process."""
    tg_settings = TelegramSettings()
    combos = [(p, c, k) for p in cfg.platforms for c in cfg.chars for k in cfg.chats]
    numbers = itertools.count(10_000_000)
    chats = {combo: [next(numbers) for _ in range(combo[2])] for combo in combos}
    for (platform, _, _), ids in chats.items():
        if platform == "discord":
            ids[:] = [10**17 + n for n in ids]
        elif platform == "tg-group":
            ids[:] = [-n for n in ids]
    plan = Plan(
        discord_channels=tuple(
            i for (p, _, _), ids in chats.items() if p == "discord" for i in ids
        ),
        private_chats=(
            *(i for (p, _, _), ids in chats.items() if p == "tg-private" for i in ids),
            *PROBE_CHATS,
        ),
        groups=tuple(i for (p, _, _), ids in chats.items() if p == "tg-group" for i in ids),
    )
    rows: list[Row] = []
    probe: list[tuple[float, int, int]] = []
    async with fake_platforms(plan) as (platforms, writes, counts):
        bot = telegram_bot(platforms)
        async with bot:
            if cfg.probe:
                probe = await probe_drafts(bot)
            for combo in combos:
                platform, chars, k = combo
                private = platform == "tg-private"
                before = await counts()
                trips = (0, 0)
                if cfg.processes:
                    replies, *counted = await run_processes(
                        platforms, platform, chats[combo], chars, cfg
                    )
                    trips = (counted[0], counted[1])
                elif platform == "discord":
                    replies = await run_discord(platforms, chats[combo], chars, cfg)
                else:
                    replies = await run_telegram(bot, chats[combo], chars, cfg, private=private)
                after = await counts()
                side = 0 if platform == "discord" else 1
                if platform == "discord":
                    budget, drafts = cfg.discord_budget, None
                else:
                    budget = tg_settings.private_budget if private else tg_settings.group_budget
                    drafts = tg_settings.draft_budget if private else None
                rows.append(
                    Row(platform, chars, k, replies, budget, drafts,
                        after[side] - before[side], *trips)
                )  # fmt: skip
                print(f"  measured {platform} {chars} chars x{k}", file=sys.stderr, flush=True)
        dc_writes, tg_writes = await writes()
    for row, combo in zip(rows, combos, strict=True):
        for chat_id, reply in zip(chats[combo], row.replies, strict=True):
            if row.platform == "discord":
                read_discord(dc_writes, chat_id, reply)
            else:
                read_telegram(tg_writes, chat_id, reply)
    return rows, probe


# --- output -------------------------------------------------------------------------------------


def _budget_use(times: list[float], budget: str) -> str:
    b = Budget.parse(budget)
    return f"{peak(times, b.window)}/{b.writes} per {b.window:g}s"


def render_table(
    rows: Sequence[Row], probe: Sequence[tuple[float, int, int]], cfg: BenchConfig
) -> str:
    """The rows as a Markdown table, then the targets with PASS/MISS."""
    head = (
        "| platform | chars | K | final lag p50 s | max s | staleness chars (mean) | max"
        " | writes/reply | drafts/reply | peak writes/budget | peak drafts/budget | 429s | exact |"
    )
    lines = [
        f"reply: first token after {cfg.first:g} s, then {cfg.pieces} chunks {cfg.gap * 1000:g} ms"
        f" apart; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs,"
        f" load {os.getloadavg()[0]:.1f}",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    verdicts = []
    for row in rows:
        lags = [r.final_lag for r in row.replies]
        stale = [r.staleness for r in row.replies]
        floods = sum(r.floods for r in row.replies)
        exact = sum(r.exact for r in row.replies)
        writes = statistics.mean(len(r.writes) for r in row.replies)
        drafts = statistics.mean(len(r.drafts) for r in row.replies)
        use = max((_budget_use(r.writes, row.budget) for r in row.replies), key=_lead)
        draft_use = (
            max((_budget_use(r.drafts, row.draft_budget) for r in row.replies), key=_lead)
            if row.draft_budget
            else "-"
        )
        lines.append(
            f"| {row.platform} | {row.chars} | {row.k} | {statistics.median(lags):.3f}"
            f" | {max(lags):.3f} | {statistics.mean(stale):.1f} | {max(stale):.1f}"
            f" | {writes:.1f} | {drafts:.1f} | {use} | {draft_use} | {floods}"
            f" | {exact}/{row.k} |"
        )
        ok = statistics.median(lags) <= TARGET_LAG and floods == 0 and exact == row.k
        if row.platform == "discord" and row.chars == TARGET_STALENESS_CHARS:
            ok = ok and statistics.mean(stale) <= TARGET_STALENESS
        verdicts.append(
            f"{row.platform} {row.chars} x{row.k}: {'PASS' if ok else 'MISS'}"
            f" (lag p50 {statistics.median(lags):.3f} s, staleness {statistics.mean(stale):.1f},"
            f" 429s {floods}, exact {exact}/{row.k})"
        )
    lines += [
        "",
        f"targets: final lag p50 <= {TARGET_LAG} s, 0 platform 429s, exact text at every K;"
        f" staleness <= {TARGET_STALENESS:g} chars on Discord for {TARGET_STALENESS_CHARS} chars",
        *verdicts,
    ]
    if probe:
        rule = TG_DRAFT_RULE
        clean = [rate for rate, _, refused in probe if refused == 0]
        lines += [
            "",
            f"fake Telegram draft limit ({rule.max_writes} per {rule.window:g} s): drafts sent"
            " evenly for 2 s at each rate -> "
            + ", ".join(f"{rate:g}/s: {refused} refused" for rate, _, refused in probe)
            + f"; highest clean rate {max(clean, default=0):g}/s",
        ]
    return "\n".join(lines)


def edits_per_reply(reply: Reply) -> int:
    """The reply's updates before its final text (first message, edits and drafts)."""
    return max(len(reply.shown) - 1, 0)


def render_processes_table(rows: Sequence[Row], cfg: BenchConfig) -> str:
    """The rows of a run with writers in separate processes, then the issue's targets."""
    head = (
        "| platform | chars | K | stagger s | writes/s | peak bot writes/1 s | 429 route"
        " | 429 global | final lag p50 s | p95 s | staleness chars | edits/reply min/mean/max"
        " | max/mean | mean/min | exact | store trips/write |"
    )
    lines = [
        f"{cfg.processes} writer processes on one Redis; reply: first token after"
        f" {cfg.first:g} s, then {cfg.pieces} chunks {cfg.gap * 1000:g} ms apart; replies"
        f" arrive evenly over the stagger; Python {sys.version.split()[0]},"
        f" {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    verdicts = []
    for row in rows:
        replies = row.replies
        lags = sorted(r.final_lag for r in replies)
        p50, p95 = (
            statistics.median(lags),
            lags[min(len(lags) - 1, math.ceil(0.95 * len(lags)) - 1)],
        )
        stale = statistics.mean(r.staleness for r in replies)
        floods = sum(r.floods for r in replies)
        route = floods - row.bot_floods
        exact = sum(r.exact for r in replies)
        edits = [edits_per_reply(r) for r in replies]
        mean = statistics.mean(edits)
        spread_hi = max(edits) / mean if mean else math.inf
        spread_lo = mean / min(edits) if min(edits) else math.inf
        every = sorted(t for r in replies for t in (*r.writes, *r.drafts))
        span = every[-1] - every[0] if len(every) > 1 else 0.0
        rate = len(every) / span if span else 0.0
        # The writes the platform's bot-wide limit counts (Telegram's leaves drafts out).
        counted = [t for r in replies for t in r.writes] + (
            [t for r in replies for t in r.drafts] if row.platform == "discord" else []
        )
        limit = 50 if row.platform == "discord" else 30
        trips = row.round_trips / len(every) if every else 0.0
        lines.append(
            f"| {row.platform} | {row.chars} | {row.k} | {stagger_for(row.platform, row.k, cfg):.1f}"
            f" | {rate:.1f} | {peak(counted, 1.0)}/{limit} | {route} | {row.bot_floods}"
            f" | {p50:.3f} | {p95:.3f} | {stale:.1f} | {min(edits)}/{mean:.1f}/{max(edits)}"
            f" | {spread_hi:.2f} | {spread_lo:.2f} | {exact}/{row.k} | {trips:.2f} |"
        )
        fair = spread_hi <= TARGET_SPREAD and spread_lo <= TARGET_SPREAD
        ok = floods == 0 and exact == row.k and p95 <= TARGET_LAG_P95 and fair
        verdicts.append(
            f"{row.platform} {row.chars} x{row.k}: {'PASS' if ok else 'MISS'}"
            f" (429s {floods}, exact {exact}/{row.k}, lag p95 {p95:.3f} s,"
            f" edits max/mean {spread_hi:.2f}, mean/min {spread_lo:.2f})"
        )
    lines += [
        "",
        f"targets: 0 platform 429s, exact text, final lag p95 <= {TARGET_LAG_P95:g} s, every"
        f" reply's edits within a factor {TARGET_SPREAD:g} of the mean",
        *verdicts,
    ]
    return "\n".join(lines)


def _lead(text: str) -> int:
    return int(text.split("/", 1)[0])


def parse_args(argv: Sequence[str] | None = None) -> BenchConfig:
    """The command line as a :class:`BenchConfig`."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--chars", help="reply lengths, comma-separated (1200,3000; 3000 with --processes)"
    )
    p.add_argument("--chats", "--k", default="1,5,20", help="chats at once (K), comma-separated")
    p.add_argument("--platforms", default=",".join(PLATFORMS), help="discord,tg-private,tg-group")
    p.add_argument("--pieces", type=int, default=300, help="chunks per reply")
    p.add_argument("--gap", type=float, help="seconds between chunks (0.03; 0.1 with --processes)")
    p.add_argument("--first", type=float, default=0.5, help="seconds before the first token")
    p.add_argument("--no-probe", dest="probe", action="store_false", help="skip the draft probe")
    p.add_argument(
        "--processes", type=int, default=0, help="writer processes on one Redis (0: in this one)"
    )
    p.add_argument(
        "--stagger", type=float, help="seconds over which a row's replies arrive (with"
        " --processes; default: from the bot-wide budget)"
    )  # fmt: skip
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the shared store")
    p.add_argument(
        "--discord-budget",
        default=DiscordSettings().write_budget,
        help="each Discord channel's write budget (default: the setting's default)",
    )
    p.add_argument(
        "--discord-reserve", type=int, default=1, help="Discord writes kept back for the final"
    )
    args = p.parse_args(argv)
    lengths = args.chars or ("3000" if args.processes else "1200,3000")
    try:
        chars = tuple(int(c) for c in lengths.split(",") if c.strip())
        chats = tuple(int(c) for c in args.chats.split(",") if c.strip())
    except ValueError:
        p.error("--chars and --chats: comma-separated positive integers")
    platforms = tuple(x.strip() for x in args.platforms.split(",") if x.strip())
    if set(platforms) - set(PLATFORMS) or not platforms:
        p.error(f"--platforms: choose from {', '.join(PLATFORMS)}")
    if not chars or not chats or min(chars + chats) < 1 or args.pieces < 1:
        p.error("--chars, --chats and --pieces must be positive")
    if args.processes < 0 or (args.stagger is not None and args.stagger < 0):
        p.error("--processes and --stagger must not be negative")
    try:
        Budget.parse(args.discord_budget, reserve=args.discord_reserve)
    except ValueError as exc:
        p.error(f"--discord-budget/--discord-reserve: {exc}")
    gap = args.gap if args.gap is not None else (0.1 if args.processes else 0.03)
    probe = args.probe and not args.processes
    return BenchConfig(
        chars, chats, platforms, args.pieces, gap, args.first, probe,
        args.processes, args.stagger, args.redis, args.discord_budget, args.discord_reserve,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    cfg = parse_args(argv)
    rows, probe = asyncio.run(run(cfg))
    print(render_processes_table(rows, cfg) if cfg.processes else render_table(rows, probe, cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
