"""Chaos soak: the bridge's guarantees under overlapping faults, for minutes.

Run: ``.venv/bin/python -m bench.soak [--minutes 10] [--seed 1] [--chats 40]``.

Several real `bridge run` processes (Telegram webhook workers behind the fake Bot API's load
balancer) share a redis-server of the soak's own; the fake Telegram and the fake Aurora run in
this process, so their records outlive every bridge process. Chats talk at a steady rate while
faults land at random (seeded) moments: kill -9 and SIGTERM of a process (each started again),
a Redis restart, Bot API 5xx and 429 bursts, upstream streams dropped mid-reply, slow first
tokens, and a conversation deleted upstream. At the end, from the fakes' records alone: every
message was answered exactly once or ends with a notice, no prompt was POSTed twice, each chat's
answers came in order, no user saw a traceback; and the longest silence a waiting chat saw.
Exits 1 when a guarantee broke (the silence is a figure against its target, not a guarantee).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeChat, FakeTelegram
from tests.fakes.upstream import Script
from tests.harness import (
    AURORA_TOKEN,
    CHARACTER_ID,
    RedisServer,
    RestartableRun,
    aurora_backend,
    free_port,
    is_notice,
    telegram_section,
)
from tests.harness.settings import toml

SECRET = "soak-webhook_secret"
BOT = "@bridge_bot"
FAULTS = ("kill9", "sigterm", "redis", "tg5xx", "tg429", "drop", "slow", "gone")
WEIGHTS = {
    "kill9": 5,
    "sigterm": 2,
    "redis": 1,
    "tg5xx": 2,
    "tg429": 2,
    "drop": 2,
    "slow": 1,
    "gone": 1,
}
TARGET_SILENCE = 20.0
TOKEN = re.compile(r"q(\d+)-(\d+)\b")
TRACEBACK = re.compile(r'Traceback \(most recent call last\)|File "[^"]+", line \d+')


@dataclass
class Sent:
    """One user message: its chat, its number there, its text and when it was sent."""

    chat: int
    n: int
    body: str
    message_id: int
    at: float

    @property
    def echo(self) -> str:
        """What the whole answer contains (the fake upstream echoes the prompt)."""
        return f"echo: {self.body}"


@dataclass
class Outcome:
    """What one chat shows for each of its messages."""

    full: Counter[int] = field(default_factory=Counter)
    notice: set[int] = field(default_factory=set)
    partial: set[int] = field(default_factory=set)
    loose_notices: list[int] = field(default_factory=list)
    """Bot messages holding a notice that names no message (a private chat's "busy")."""
    answer_order: list[int] = field(default_factory=list)
    tracebacks: int = 0

    def settled(self, n: int) -> bool:
        return self.full[n] > 0 or n in self.notice


@dataclass
class Fault:
    """One fault injected: when (monotonic) and what."""

    at: float
    kind: str
    detail: str


@dataclass
class Options:
    """The soak's command line."""

    minutes: float
    seed: int
    chats: int
    processes: int
    rate: float
    fault_every: float
    faults: tuple[str, ...]
    drain: float
    lock_ttl: float
    logs: Path | None


def read_chat(chat: FakeChat, sents: dict[int, Sent], by_message: dict[int, Sent]) -> Outcome:
    """Attribute each bot message of a chat to the user message it answers: the message it
    replies to (groups), else the prompt's token in the text; tally answers and notices."""
    out = Outcome()
    for message in sorted(chat.messages.values(), key=lambda m: m.message_id):
        if not message.from_bot:
            continue
        text = message.text
        if TRACEBACK.search(text):
            out.tracebacks += 1
        sent = by_message.get(message.reply_to or 0)
        token = TOKEN.search(text)
        if sent is None and token and int(token.group(1)) == abs(chat.id) % 1000:
            sent = sents.get(int(token.group(2)))
        notice = is_notice(text)
        if sent is None:
            if notice:
                out.loose_notices.append(message.message_id)
            continue
        if sent.echo in text:
            out.full[sent.n] += 1
        elif "echo:" in text:
            out.partial.add(sent.n)
        if "echo:" in text:
            out.answer_order.append(sent.n)
        if notice:
            out.notice.add(sent.n)
    return out


def unsettled(out: Outcome, sents: dict[int, Sent]) -> list[Sent]:
    """The chat's messages with neither an answer nor a notice. A notice that names no message
    covers the latest such message sent before it (message ids share the chat's counter)."""
    waiting = [s for n, s in sorted(sents.items()) if not out.settled(n)]
    for notice in out.loose_notices:
        before = [s for s in waiting if s.message_id < notice]
        if before:
            waiting.remove(before[-1])
    return waiting


class Soak:
    """The fakes, the Redis, the bridge processes, the talking chats and the fault loop."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.o = options
        self.rng = random.Random(options.seed)
        self.workdir = workdir
        self.tg = FakeTelegram()
        self.aurora = AuroraFake(AURORA_TOKEN, CHARACTER_ID)
        self.redis = RedisServer(free_port(), workdir, appendonly=True)
        self.workers: list[RestartableRun] = []
        self.busy: set[int] = set()  # workers being restarted
        self.redis_lock = asyncio.Lock()
        self.sent: dict[int, dict[int, Sent]] = {}
        self.by_message: dict[int, dict[int, Sent]] = {}
        self.faults: list[Fault] = []
        self.silences: dict[tuple[int, int], tuple[float, str]] = {}
        """(chat, message) -> the longest its chat was silent while it was the oldest waiting
        there, and the fault injected last before that silence began."""
        self.silent_since: dict[tuple[int, int], float] = {}
        """(chat, message) -> when that longest silence began."""
        self.last_write: dict[int, float] = {}
        self._seen_writes = 0
        self.gone: set[int] = set()
        self.restart_failures = 0
        self.fault_tasks: set[asyncio.Task[None]] = set()

    # -- set-up ----------------------------------------------------------------------------

    def chat_ids(self) -> list[int]:
        """Half private chats, half groups (where the bot is mentioned)."""
        return [(700_000 + i) if i % 2 == 0 else -(100_000_000 + i) for i in range(self.o.chats)]

    def config(self, port: int, urls: list[str]) -> str:
        return toml(
            {
                "store": {"url": self.redis.url, "prefix": "soak"},
                "backends.luna": aurora_backend(self.aurora),
                "relay": {
                    "speaker_names": "never",
                    "rate_limit_messages": 100,
                    # How soon a killed process's chats are taken over: the silence after a
                    # kill -9 is about this long.
                    "lock_ttl": self.o.lock_ttl,
                },
                "telegram": telegram_section(self.tg, mode="webhook"),
                "telegram.webhook": {"port": port, "url": urls[0], "secret_token": SECRET},
                "log": {"level": "INFO"},
                "run": {"grace_period": 5},
            }
        )

    async def start(self) -> None:
        await self.tg.__aenter__()
        await self.aurora.start()
        await self.redis.start()
        # About four chunks a reply; the first one holds the prompt's token.
        self.aurora.set_default(chunk_size=16, chunk_delay=0.15)
        for chat in self.chat_ids():
            self.tg.chat(chat, "private" if chat > 0 else "supergroup")
            self.sent[chat] = {}
            self.by_message[chat] = {}
        ports = [free_port() for _ in range(self.o.processes)]
        urls = [f"http://127.0.0.1:{port}/tg/hook" for port in ports]
        self.tg.load_balanced = urls
        for k, port in enumerate(ports):
            path = self.workdir / f"worker-{k}.toml"
            path.write_text(self.config(port, urls))
            worker = RestartableRun(path, "ws://127.0.0.1:1/")
            self.workers.append(worker)
            await worker.start()
        for worker in self.workers:
            await worker.current.wait_log("bridge running", within=90)

    async def close(self) -> None:
        for task in list(self.fault_tasks):
            task.cancel()
        await asyncio.gather(*self.fault_tasks, return_exceptions=True)
        for worker in self.workers:
            with contextlib.suppress(Exception):
                await worker.current.stop(within=20)
            await worker.close()
        await self.redis.stop()
        await self.aurora.stop()
        await self.tg.__aexit__(None, None, None)

    # -- talking ---------------------------------------------------------------------------

    def say(self, chat: int) -> None:
        n = len(self.sent[chat]) + 1
        body = f"q{abs(chat) % 1000}-{n} what do you make of this"
        private = chat > 0
        text = body if private else f"{body} {BOT}"
        update = self.tg.user_says(
            chat,
            text,
            user_id=800_000 + abs(chat) % 1000,
            chat_type="private" if private else "supergroup",
        )
        sent = Sent(chat, n, body, update["message"]["message_id"], time.monotonic())
        self.sent[chat][n] = sent
        self.by_message[chat][sent.message_id] = sent

    async def talk(self, until: float) -> None:
        """Each chat writes every ``chats / rate`` seconds, starting at a random phase."""
        period = self.o.chats / self.o.rate
        due = {chat: time.monotonic() + self.rng.uniform(0, period) for chat in self.chat_ids()}
        while time.monotonic() < until:
            chat, at = min(due.items(), key=lambda item: item[1])
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            if time.monotonic() >= until:
                return
            self.say(chat)
            due[chat] = at + period

    # -- faults ----------------------------------------------------------------------------

    def note(self, kind: str, detail: str = "") -> None:
        self.faults.append(Fault(time.monotonic(), kind, detail))

    async def inject(self, until: float) -> None:
        """Faults at exponential intervals; each runs as its own task, so they overlap."""
        kinds = [k for k in FAULTS if k in self.o.faults]
        tasks = self.fault_tasks
        while kinds:
            await asyncio.sleep(self.rng.expovariate(1 / self.o.fault_every))
            if time.monotonic() >= until:
                break
            kind = self.rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
            task = asyncio.create_task(self.fault(kind))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)

    async def fault(self, kind: str) -> None:
        rng = self.rng
        if kind in ("kill9", "sigterm"):
            await self.restart(signal.SIGKILL if kind == "kill9" else signal.SIGTERM)
        elif kind == "redis":
            await self.restart_redis()
        elif kind in ("tg5xx", "tg429"):
            chats = rng.sample(self.chat_ids(), k=max(1, self.o.chats // 4))
            for chat in chats:
                if kind == "tg5xx":  # an outage of a few seconds, every write refused
                    self.tg.outage(chat, rng.uniform(1.0, 8.0), rng.choice((500, 502)))
                else:
                    self.tg.flood_after(chat, 0, retry_after=rng.randint(1, 8))
            self.note(kind, f"{len(chats)} chats")
        elif kind == "drop":
            count = rng.randint(1, 4)
            for _ in range(count):
                stored = rng.random() < 0.5
                self.aurora._scripts.append(
                    Script(
                        chunk_size=16,
                        chunk_delay=0.15,
                        fault="drop",
                        fault_after=rng.randint(1, 2),
                        server_finishes=stored,
                    )
                )
            self.note(kind, f"next {count} streams")
        elif kind == "slow":
            count = rng.randint(1, 4)
            delay = rng.uniform(3, 10)
            for _ in range(count):
                self.aurora._scripts.append(
                    Script(chunk_size=16, chunk_delay=0.15, first_delay=delay)
                )
            self.note(kind, f"next {count} streams, first token after {delay:.1f} s")
        elif kind == "gone" and self.aurora.chats:
            chat_id = rng.choice(sorted(self.aurora.chats))
            del self.aurora.chats[chat_id]
            self.gone.add(chat_id)
            self.note(kind, f"chatId {chat_id}")

    async def restart(self, sig: signal.Signals) -> None:
        """Stop one process with ``sig`` (never the last one running) and start it again."""
        idle = [k for k in range(len(self.workers)) if k not in self.busy]
        if len(idle) < 2:
            return
        k = self.rng.choice(idle)
        down = self.rng.uniform(0.5, 3.0)
        self.busy.add(k)
        worker = self.workers[k]
        try:
            self.note("kill -9" if sig == signal.SIGKILL else "SIGTERM", f"process {k}")
            await worker.current.signal(sig)
            await worker.current.exited(within=60)
            await asyncio.sleep(down)
            await worker.start()
            await worker.current.wait_log("bridge running", within=120)
        except (AssertionError, TimeoutError):
            self.restart_failures += 1
            await worker.current.kill()
            await worker.start()
        finally:
            self.busy.discard(k)

    async def restart_redis(self) -> None:
        if self.redis_lock.locked():
            return
        async with self.redis_lock:
            down = self.rng.uniform(1.0, 5.0)
            self.note("redis restart", f"down {down:.1f} s")
            await self.redis.terminate()
            await asyncio.sleep(down)
            await self.redis.start()

    # -- watching --------------------------------------------------------------------------

    def outcomes(self) -> dict[int, Outcome]:
        return {
            chat: read_chat(self.tg.chats[chat], self.sent[chat], self.by_message[chat])
            for chat in self.chat_ids()
        }

    def pending(self) -> dict[int, list[Sent]]:
        outcomes = self.outcomes()
        return {chat: unsettled(outcomes[chat], self.sent[chat]) for chat in self.chat_ids()}

    def fault_before(self, at: float) -> str:
        earlier = [f for f in self.faults if f.at <= at]
        if not earlier:
            return "no fault"
        f = earlier[-1]
        return f"{f.kind} {f.detail} at {f.at - self.t0:.0f} s".strip()

    def faults_during(self, key: tuple[int, int], seconds: float) -> str:
        """The faults from the last one before a silence began to its end, counted by kind."""
        since = self.silent_since.get(key, 0.0)
        before = [f.at for f in self.faults if f.at <= since]
        start = before[-1] if before else since
        kinds = Counter(f.kind for f in self.faults if start <= f.at <= since + seconds)
        return ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common()) or "none"

    async def watch(self) -> None:
        """Twice a second: the longest a chat with an unanswered message went without any
        write from the bot."""
        while True:
            writes = self.tg.writes
            for write in writes[self._seen_writes :]:
                if write.ok:
                    self.last_write[write.chat_id] = write.at
            self._seen_writes = len(writes)
            now = time.monotonic()
            for chat, waiting in self.pending().items():
                if not waiting:
                    continue
                since = max(self.last_write.get(chat, 0.0), waiting[0].at)
                key = (chat, waiting[0].n)
                if now - since > self.silences.get(key, (0.0, ""))[0]:
                    self.silences[key] = (now - since, self.fault_before(since))
                    self.silent_since[key] = since
            await asyncio.sleep(0.5)

    async def drain(self) -> None:
        """Wait (bounded) until every message is settled; the fault tasks have ended, so every
        process and the Redis run again."""
        deadline = time.monotonic() + self.o.drain
        while time.monotonic() < deadline:
            if not self.tg._updates and not any(self.pending().values()):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # let edits in flight land

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> int:
        await self.start()
        self.t0 = time.monotonic()
        until = self.t0 + self.o.minutes * 60
        watcher = asyncio.create_task(self.watch())
        try:
            await asyncio.gather(self.talk(until), self.inject(until))
            await self.drain()
        finally:
            watcher.cancel()
        return self.report()

    def report(self) -> int:
        """Print the figures; 1 when a guarantee broke."""
        lines, broken = self.figures()
        print("\n".join(lines), flush=True)
        if broken:
            print("\n".join(lines), file=sys.stderr, flush=True)
        if self.o.logs is not None:
            self.write_logs(self.o.logs)
        return 1 if broken else 0

    def figures(self) -> tuple[list[str], bool]:
        outcomes = self.outcomes()
        sent = sum(len(s) for s in self.sent.values())
        answered = sum(1 for o in outcomes.values() for c in o.full.values() if c == 1)
        doubles = [(chat, n) for chat, o in outcomes.items() for n, c in o.full.items() if c > 1]
        noticed = sum(1 for o in outcomes.values() for n in o.notice if o.full[n] == 0)
        noticed += sum(len(o.loose_notices) for o in outcomes.values())
        lost = [s for chat, o in outcomes.items() for s in unsettled(o, self.sent[chat])]
        double_posts = {p: c for p, c in Counter(self.aurora.messages_sent).items() if c > 1}
        breaks = [
            (chat, a, b)
            for chat, o in outcomes.items()
            for a, b in zip(o.answer_order, o.answer_order[1:], strict=False)
            if b < a
        ]
        tracebacks = sum(o.tracebacks for o in outcomes.values())
        logged = sum(
            run.log.count("Traceback (most recent call last)")
            for worker in self.workers
            for run in worker.runs
        )
        kinds = Counter(f.kind for f in self.faults)
        kills = kinds["kill -9"] + kinds["SIGTERM"]
        # A lost message's chat stays silent to the end: that counts as lost, not as silence.
        lost_keys = {(s.chat, s.n) for s in lost}
        heard = [(v, k[0]) for k, v in self.silences.items() if k not in lost_keys]
        (seconds, after), chat = max(heard, default=((0.0, "no fault"), 0))
        verdict = "met" if seconds <= TARGET_SILENCE else "missed"
        waits = sorted(v[0] for v, _ in heard)
        over = sum(1 for w in waits if w > TARGET_SILENCE)
        p95 = waits[int(0.95 * (len(waits) - 1))] if waits else 0.0
        lines = [
            f"soak: {self.o.minutes:g} min, seed {self.o.seed}, {self.o.chats} chats, "
            f"{self.o.processes} Telegram webhook workers, Aurora upstream, Redis",
            f"messages sent: {sent}",
            f"faults injected: {len(self.faults)} ("
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
            + ")",
            f"process kills: {kills} ({kinds['kill -9']} kill -9, {kinds['SIGTERM']} SIGTERM)",
            f"answered once: {answered}; ended with a notice: {noticed}",
            f"lost: {len(lost)}",
            f"answered twice: {len(doubles)}",
            f"double POSTs: {len(double_posts)}",
            f"order breaks: {len(breaks)}",
            f"tracebacks seen by users: {tracebacks}",
            f"longest silence: {seconds:.1f} s (chat {chat}, after {after}); "
            f"target <= {TARGET_SILENCE:g} s: {verdict}",
            f"silences: p95 {p95:.1f} s of {len(waits)} waiting messages; over "
            f"{TARGET_SILENCE:g} s: {over} (relay.lock_ttl {self.o.lock_ttl:g} s)",
            f"tracebacks in the processes' logs: {logged}; restarts that failed: "
            f"{self.restart_failures}; conversations deleted upstream: {len(self.gone)}",
        ]
        lines += [
            f"  lost: chat {s.chat} message {s.n} sent at {s.at - self.t0:.1f} s "
            f"(after {self.fault_before(s.at)})"
            for s in lost[:10]
        ]
        lines += [
            f"  silent {v[0]:.1f} s: chat {k[0]} message {k[1]}; faults from the one before "
            f"to its end: {self.faults_during(k, v[0])}"
            for k, v in sorted(self.silences.items(), key=lambda kv: -kv[1][0])
            if v[0] > TARGET_SILENCE and k not in lost_keys
        ][:10]
        lines += [f"  answered twice: chat {c} message {n}" for c, n in doubles[:10]]
        lines += [f"  POSTed {c} times: {p!r}" for p, c in list(double_posts.items())[:10]]
        lines += [f"  order: chat {c} answered {b} after {a}" for c, a, b in breaks[:10]]
        broken = bool(lost or doubles or double_posts or breaks or tracebacks)
        lines.append("guarantees: " + ("BROKEN" if broken else "held"))
        return lines, broken

    def write_logs(self, directory: Path) -> None:
        """Each process's log, the fault timeline and every chat as shown, for a post-mortem."""
        directory.mkdir(parents=True, exist_ok=True)
        for k, worker in enumerate(self.workers):
            (directory / f"worker-{k}.log").write_text(worker.all_output)
        (directory / "faults.txt").write_text(
            "".join(f"{f.at - self.t0:8.1f} {f.kind} {f.detail}\n" for f in self.faults)
        )
        chats = []
        for chat in self.chat_ids():
            chats.append(f"== chat {chat}")
            for sent in self.sent[chat].values():
                chats.append(f"  user {sent.message_id} at {sent.at - self.t0:.1f}: {sent.body}")
            for m in sorted(self.tg.chats[chat].messages.values(), key=lambda m: m.message_id):
                if m.from_bot:
                    chats.append(f"  bot {m.message_id} (reply to {m.reply_to}): {m.text!r}")
        (directory / "chats.txt").write_text("\n".join(chats) + "\n")


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the fault phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1.5, help="messages per second, all chats")
    parser.add_argument(
        "--fault-every", type=float, default=4.0, help="mean seconds between faults"
    )
    parser.add_argument("--faults", default=",".join(FAULTS), help="which faults, comma-separated")
    parser.add_argument(
        "--drain", type=float, default=60.0, help="longest wait for the last replies"
    )
    parser.add_argument(
        "--lock-ttl",
        type=float,
        default=6.0,
        help="the bridges' relay.lock_ttl: how soon a killed process's chats are taken over",
    )
    parser.add_argument("--logs", type=Path, help="write the processes' logs and chats here")
    args = parser.parse_args(argv)
    faults = tuple(f for f in args.faults.split(",") if f)
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}; known: {', '.join(FAULTS)}")
    return Options(
        args.minutes, args.seed, args.chats, args.processes, args.rate, args.fault_every,
        faults, args.drain, args.lock_ttl, args.logs,
    )  # fmt: skip


async def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        soak = Soak(options, Path(tmp))
        try:
            return await soak.run()
        finally:
            await soak.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
