"""Two `bridge run` processes on one Redis, as a community that outgrew one process runs them.

Discord: the shards split between the processes (shard_count 2, shard_ids [0] / [1]); the fake
Discord routes each guild's events to its shard and DMs to shard 0. Telegram: two webhook workers
behind a load balancer (the fake posts updates to each in turn). The processes are real
subprocesses; Discord, Telegram and Aurora are the loopback fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from bots.discord.frontend import DiscordFrontEnd
from bots.runtime import open_runtime
from core.store.base import Store
from core.translations import LANGUAGES
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram, FloodRule
from tests.harness import (
    BridgeProcess,
    aurora_backend,
    discord_section,
    free_port,
    is_notice,
    luna_settings,
    telegram_section,
    toml,
)

MEMBER = 900_002
ALICE = 501
SECRET = "scale-test_secret"
T = TypeVar("T")
Tables = dict[str, dict[str, Any]]
# Order across processes comes from the store's per-channel FIFO turn; with only the old
# lock (a waiting process polls it), replies in one chat may come out of order across workers.
FIFO_TURN = hasattr(Store, "take_turn")


@dataclass
class Process:
    """One running `bridge run`."""

    proc: BridgeProcess
    health: str

    async def healthz(self) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(self.health + "/healthz")

    async def replied(self, platform: str) -> float:
        """How many messages this process answered on ``platform`` (from /metrics)."""
        async with httpx.AsyncClient() as client:
            page = (await client.get(self.health + "/metrics")).text
        total = 0.0
        for labels, value in re.findall(r"^bridge_messages_total\{(.*)\} (\S+)$", page, re.M):
            if f'platform="{platform}"' in labels and 'outcome="replied"' in labels:
                total += float(value)
        return total

    async def stop(self) -> str:
        """SIGTERM; everything it logged."""
        await self.proc.stop(within=30)
        return self.proc.log


def config(
    aurora: AuroraFake, redis_url: str, prefix: str, health_port: int, tables: Tables
) -> str:
    """A `bridge run` config on the fake Aurora with health on ``health_port``, plus ``tables``
    (a ``relay`` table adds to the relay's settings)."""
    relay = {"rate_limit_messages": 100, "speaker_names": "never", "merge_queued": False}
    tables = dict(tables)
    return toml(
        {
            "store": {"url": redis_url, "prefix": prefix},
            "backends.luna": aurora_backend(aurora),
            # Prompts as typed (no speaker names, one per message), to compare with the upstream's.
            "relay": {**relay, **tables.pop("relay", {})},
            "health": {"enabled": True, "port": health_port},
            "run": {"grace_period": 3},
            **tables,
        }
    )


@contextlib.asynccontextmanager
async def start(
    tmp_path: Path, name: str, config: str, health_port: int, gateway: str = "ws://127.0.0.1:1/"
) -> AsyncIterator[Process]:
    """Start `bridge run` with ``config``; kill it if the test did not stop it. When the test
    fails, its log is printed (pytest shows it with the failure)."""
    path = tmp_path / f"{name}.toml"
    path.write_text(config)
    proc = await BridgeProcess.start(
        "run", "--config", str(path), gateway_url=gateway, merge_stderr=True
    )
    process = Process(proc, f"http://127.0.0.1:{health_port}")
    try:
        yield process
    except BaseException:
        print(f"--- bridge {name}'s log ---\n{proc.log}")
        raise
    finally:
        await proc.kill()


@contextlib.asynccontextmanager
async def two_bridges(
    tmp_path: Path,
    aurora: AuroraFake,
    redis_url: str,
    prefix: str,
    tables: Callable[[int], Tables],
    gateway: str = "ws://127.0.0.1:1/",
) -> AsyncIterator[tuple[Process, Process]]:
    """Two `bridge run` processes, a and b, on one Redis; process k adds ``tables(k)``."""
    ports = [free_port(), free_port()]
    configs = [config(aurora, redis_url, prefix, ports[k], tables(k)) for k in (0, 1)]
    async with (
        start(tmp_path, "a", configs[0], ports[0], gateway) as a,
        start(tmp_path, "b", configs[1], ports[1], gateway) as b,
    ):
        yield a, b


async def until_healthy(*processes: Process, within: float = 60.0) -> list[str]:
    """Wait until every process answers /healthz with 200; their bodies."""
    bodies = []
    async with asyncio.timeout(within):
        for process in processes:
            while True:
                assert process.proc.returncode is None, "bridge run exited"
                with contextlib.suppress(httpx.HTTPError):
                    answer = await process.healthz()
                    if answer.status_code == 200:
                        bodies.append(answer.text)
                        break
                await asyncio.sleep(0.1)
    return bodies


async def until(probe: Callable[[], Awaitable[T]], expected: T, within: float = 30.0) -> None:
    """Poll ``probe`` until it returns ``expected`` (a reply is visible a moment before the
    process counts it); fail with the last value otherwise."""
    value = None
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            # Polling on purpose: the value lives in another process.
            while (value := await probe()) != expected:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    assert value == expected


async def both(*counts: Awaitable[float]) -> tuple[bool, ...]:
    """Whether each count is above zero."""
    return tuple([await c > 0 for c in counts])


async def test_discord_shards_split_over_two_processes_answer_each_mention_once(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    async with DiscordFake(rate_window=1.0) as dc:
        guilds = [dc.add_guild(shard=k, shard_count=2) for k in (0, 1)]

        def shard(k: int) -> Tables:
            return {"discord": discord_section(dc, fast=False, shard_count=2, shard_ids=[k])}

        shards = two_bridges(tmp_path, aurora, redis_url, prefix, shard, dc.gateway_url)
        async with shards as (a, b):
            health = await until_healthy(a, b)
            assert "discord shard 0/2: connected" in health[0] and "shard 1" not in health[0]
            assert "discord shard 1/2: connected" in health[1] and "shard 0" not in health[1]
            assert sorted(dc.identified_shards) == [(0, 2), (1, 2)]

            channels = [dc.snowflake(), dc.snowflake()]
            for k in (0, 1):
                await dc.user_says(
                    channels[k], f"hello shard {k}", user_id=MEMBER, mention_bot=True,
                    guild_id=guilds[k],
                )  # fmt: skip
            dm = dc.snowflake()
            await dc.user_says(dm, "hello in a DM", user_id=MEMBER, guild=False)
            await dc.wait_for(
                lambda: (
                    dc.channel_texts(channels[0]) == ["echo: hello shard 0"]
                    and dc.channel_texts(channels[1]) == ["echo: hello shard 1"]
                    and dc.channel_texts(dm) == ["echo: hello in a DM"]
                ),
                within=30,
            )
            # Each process answered what its shard saw: shard 0 has guild 0 and the DM.
            await until(lambda: a.replied("discord"), 2)
            await until(lambda: b.replied("discord"), 1)
            logs = [await a.stop(), await b.stop()]
    assert sorted(aurora.messages_sent) == ["hello in a DM", "hello shard 0", "hello shard 1"]
    assert dc.command_syncs == 1, "the command list is synced once per deploy"
    assert all("Traceback" not in log for log in logs), logs


def webhook_workers(tg: FakeTelegram, *, budget: str = "20/60s") -> Callable[[int], Tables]:
    """Tables for two webhook workers behind the fake's balancer (worker k on its own port)."""
    hooks = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}/tg/hook" for port in hooks]
    tg.load_balanced = urls
    webhook = {"url": urls[0], "secret_token": SECRET}
    section = telegram_section(tg, fast=False, mode="webhook", group_budget=budget)
    return lambda k: {"telegram": section, "telegram.webhook": {"port": hooks[k], **webhook}}


async def test_telegram_webhook_workers_behind_a_balancer_relay_each_update_once(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    async with FakeTelegram() as tg:
        workers = webhook_workers(tg)
        async with two_bridges(tmp_path, aurora, redis_url, prefix, workers) as (a, b):
            await until_healthy(a, b)
            aurora.set_default(chunk_size=4, chunk_delay=0.02)
            prompts = [f"message {i}" for i in range(6)]
            for prompt in prompts:
                tg.user_says(ALICE, prompt, user_id=ALICE)
            expected = sorted(f"echo: {p}" for p in prompts)
            await tg.wait_for(lambda: sorted(tg.chat_texts(ALICE)) == expected, within=60)

            # Telegram retrying one update at both workers at once: relayed once.
            update = tg.user_says(ALICE, "retried", user_id=ALICE)
            statuses = await asyncio.gather(
                *(tg.deliver(update, url=url) for url in tg.load_balanced)
            )
            assert statuses == [200, 200]
            await tg.wait_for(lambda: "echo: retried" in tg.chat_texts(ALICE), within=30)
            await until(lambda: both(a.replied("telegram"), b.replied("telegram")), (True, True))
            logs = [await a.stop(), await b.stop()]

    assert sorted(aurora.messages_sent) == sorted([*prompts, "retried"])
    assert tg.chat_texts(ALICE).count("echo: retried") == 1
    if FIFO_TURN:
        # Each update was recorded in the channel's queue before its POST was answered, and the
        # fake posts one at a time: the queue holds them in the order they were sent.
        assert aurora.messages_sent[:6] == prompts
        assert tg.chat_texts(ALICE)[:6] == [f"echo: {p}" for p in prompts]
    assert aurora.max_open_streams == 1, "one reply at a time in one chat, across processes"
    assert tg.flood_violations == 0
    menus = 2 * (1 + len(LANGUAGES))  # 2 scopes, for any language and each one's own
    assert len(tg.calls_of("setMyCommands")) == menus, "menus registered once per deploy"
    assert all("Traceback" not in log for log in logs), logs


@pytest.mark.parametrize("exit", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "SIGTERM"])
async def test_a_webhook_worker_gone_with_messages_queued_keeps_every_chat_in_order(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path, exit: signal.Signals
) -> None:
    """One of two webhook workers is killed, or stopped as in a rolling restart, while each
    chat has messages queued there: the other worker answers them in their place, before the
    messages sent after the exit."""
    chats = [601 + k for k in range(5)]  # odd: the balancer gives each chat to both workers
    async with FakeTelegram() as tg:
        workers = webhook_workers(tg)

        def tables(k: int) -> Tables:
            return {**workers(k), "relay": {"lock_ttl": 3, "queue_size": 20}}

        async with two_bridges(tmp_path, aurora, redis_url, prefix, tables) as (a, b):
            await until_healthy(a, b)
            aurora.set_default(chunk_size=4, chunk_delay=0.15)  # still replying at the exit

            def say(n: int) -> None:
                for chat in chats:
                    tg.user_says(chat, f"c{chat} m{n} and some more words", user_id=chat)

            for n in range(4):  # the balancer gives each worker some of every chat's messages
                say(n)
            # Every chat mid-reply, none between a final write and its release (a kill there
            # would show that reply twice: Telegram has no idempotency key).
            await tg.wait_for(lambda: all(mid_reply(tg, c) for c in chats), within=60)
            await a.proc.signal(exit)
            for n in (4, 5):  # taken by the worker left
                say(n)
            await a.proc.exited(within=30)
            try:
                await tg.wait_for(lambda: all(settled(tg, c) >= 6 for c in chats), within=90)
            except TimeoutError:
                pytest.fail(f"not every chat settled: {[tg.chat_texts(c) for c in chats]}")
            log = await b.stop()

    for chat in chats:
        assert answer_order(tg, chat) == sorted(answer_order(tg, chat)), tg.chat_texts(chat)
        assert settled(tg, chat) == 6, tg.chat_texts(chat)
        whole = [n for text in tg.chat_texts(chat) for n in WHOLE.findall(text)]
        assert len(whole) == len(set(whole)), "no answer shown twice"
    prompts = aurora.messages_sent
    assert len(prompts) == len(set(prompts)), "no prompt POSTed twice"
    assert "Traceback" not in log


ANSWER = re.compile(r"echo: c\d+ m(\d+)")
WHOLE = re.compile(r"echo: c\d+ m(\d+) and some more words")


def answer_order(tg: FakeTelegram, chat: int) -> list[int]:
    """The chat's messages in the order their answers appear (each once)."""
    order: list[int] = []
    for text in tg.chat_texts(chat):
        for n in map(int, ANSWER.findall(text)):
            if n not in order:
                order.append(n)
    return order


def mid_reply(tg: FakeTelegram, chat: int) -> bool:
    """Whether the chat shows its first answer and streams a later one, still some chunks
    from its end."""
    draft = tg.chats[chat].draft
    whole = len("echo: c601 m1 and some more words")
    return 0 in answer_order(tg, chat) and draft is not None and len(draft[1]) < whole - 8


def settled(tg: FakeTelegram, chat: int) -> int:
    """How many of the chat's messages were answered whole or ended with a notice (a notice
    alone names no message: it settles one)."""
    whole = {int(n) for text in tg.chat_texts(chat) for n in WHOLE.findall(text)}
    cut = {
        int(found.group(1))
        for text in tg.chat_texts(chat)
        if is_notice(text) and (found := ANSWER.search(text))
    }
    alone = sum(1 for text in tg.chat_texts(chat) if is_notice(text) and not ANSWER.search(text))
    return len(whole | cut) + alone


async def test_a_second_polling_process_stands_by_and_takes_over_when_the_first_dies(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    async with FakeTelegram() as tg:
        ports = [free_port(), free_port()]
        polling = {"telegram": telegram_section(tg, fast=False)}
        configs = [config(aurora, redis_url, prefix, port, polling) for port in ports]
        async with start(tmp_path, "a", configs[0], ports[0]) as a:
            await until_healthy(a)
            async with start(tmp_path, "b", configs[1], ports[1]) as b:
                health = await until_healthy(b)
                assert "telegram (standing by): connected" in health[0]
                tg.user_says(ALICE, "first", user_id=ALICE)
                await tg.wait_for(lambda: tg.chat_texts(ALICE) == ["echo: first"], within=30)
                await until(lambda: a.replied("telegram"), 1)
                assert tg.poll_conflicts == 0, "the two processes never polled at once"

                # The poller dies without a word (its last long poll, left open, is ended by
                # the new poller's: one 409 nobody reads); the lease lapses.
                await a.proc.kill()
                tg.user_says(ALICE, "second", user_id=ALICE)
                await tg.wait_for(
                    lambda: tg.chat_texts(ALICE) == ["echo: first", "echo: second"], within=60
                )
                await until(lambda: b.replied("telegram"), 1)
                log = await b.stop()
    assert tg.poll_conflicts <= 1
    assert aurora.messages_sent == ["first", "second"]
    assert "Traceback" not in log, log
    # It said it stood by, and that it receives updates only once it did, after the takeover.
    lines = log.splitlines()
    standing = next(i for i, line in enumerate(lines) if "standing by" in line)
    running = next(i for i, line in enumerate(lines) if "bridge running" in line)
    receiving = [i for i, line in enumerate(lines) if "receiving updates by polling" in line]
    assert standing < running < receiving[0] and len(receiving) == 1, log


async def test_two_sessions_of_one_shard_answer_each_mention_and_command_once(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """A rolling deploy: old and new process both run shard 0 for a while."""
    async with DiscordFake(rate_window=1.0) as dc:
        section = {"discord": discord_section(dc, fast=False, admins=[MEMBER])}
        old_and_new = two_bridges(
            tmp_path, aurora, redis_url, prefix, lambda _: section, dc.gateway_url
        )
        async with old_and_new as (a, b):
            await until_healthy(a, b)
            assert dc.identified_shards == [(0, 1), (0, 1)]
            channel = dc.default_channel_id
            await dc.user_says(channel, "hello both", user_id=MEMBER, mention_bot=True)
            await dc.wait_for(lambda: dc.channel_texts(channel) == ["echo: hello both"])
            answer = await dc.slash(channel, "bridge", "status", user_id=MEMBER)
            assert answer.text and "luna" in answer.text
            logs = [await a.stop(), await b.stop()]  # each finishes what it took first
    assert aurora.messages_sent == ["hello both"]
    assert len(answer.callbacks) == 1
    assert dc.already_acknowledged == 0
    assert all("40060" not in log and "Traceback" not in log for log in logs), logs


GROUP = -100_777
STORY = " ".join(f"word{i}" for i in range(120))


async def test_two_workers_streaming_in_two_topics_of_one_group_share_its_budget(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    async with FakeTelegram() as tg:
        tg.chat(GROUP, "supergroup", forum=True)
        # Telegram's limit for a group, shared by all its topics (small, so the test is short).
        tg.set_flood(GROUP, FloodRule(max_writes=6, window=30.0))
        workers = webhook_workers(tg, budget="6/30s")
        async with two_bridges(tmp_path, aurora, redis_url, prefix, workers) as (a, b):
            await until_healthy(a, b)
            aurora.set_default(text=STORY, chunk_size=40, chunk_delay=0.3)
            for topic in (11, 12):  # one update to each worker
                tg.user_says(
                    GROUP, f"@bridge_bot tell a story in topic {topic}", user_id=ALICE,
                    chat_type="supergroup", thread_id=topic,
                )  # fmt: skip
            await tg.wait_for(
                lambda: tg.chat_texts(GROUP, 11) == [STORY] and tg.chat_texts(GROUP, 12) == [STORY],
                within=120,
            )
            await until(lambda: both(a.replied("telegram"), b.replied("telegram")), (True, True))
            logs = [await a.stop(), await b.stop()]
    refused = [(w.method, w.error_code) for w in tg.writes_to(GROUP, ok=False)]
    assert refused == [] and tg.flood_violations == 0, refused
    assert all("Traceback" not in log for log in logs), logs


# The identify queue, quick: Discord spaces IDENTIFYs of one bucket by 5 s; the fake by 0.2 s
# and the bridge keeps 0.6 s (more, as a connection's set-up varies on a loaded machine: with
# 0.4 s, one IDENTIFY in a run came too soon while two cores ran four other test processes).
FAKE_SPACING = 0.2
SPACING = 0.6


async def test_a_process_whose_shards_queue_longer_than_its_margin_waits_for_them(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with DiscordFake() as dc:
        dc.identify_spacing = FAKE_SPACING
        shards = 12  # 12 turns of 0.4 s: almost five times the 1 s margin given past the queue
        section = discord_section(dc, shard_count=shards, identify_spacing=SPACING)
        settings = luna_settings(aurora, redis_url, prefix, discord=section)
        async with open_runtime(settings) as rt:
            frontend = DiscordFrontEnd(
                settings.discord, rt.bridge, rt.store, gateway_url=dc.gateway_url,
                guild_ready_timeout=0.05, start_timeout=1.0,
            )  # fmt: skip
            starting = asyncio.create_task(frontend.start())
            seen: list[list[tuple[str, bool | None]]] = []
            while not starting.done():
                seen.append(frontend.status())
                await asyncio.sleep(0.05)
            await starting
            try:
                assert frontend.connected
                assert len(frontend.status()) == shards
            finally:
                await frontend.stop()
    assert sorted(dc.identified_shards) == [(k, shards) for k in range(shards)]
    assert dc.identify_too_fast == 0
    # While queued, a shard is "starting" (None), never down.
    queued = [part for status in seen for part in status if part[0].startswith("discord shard")]
    assert any(up is None for _, up in queued) and all(up is not False for _, up in queued)


async def test_a_16_shard_process_comes_up_and_shows_queued_shards_as_starting(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    async with DiscordFake(rate_window=1.0) as dc:
        dc.identify_spacing = FAKE_SPACING
        section = discord_section(dc, fast=False, shard_count=16, identify_spacing=SPACING)
        port = free_port()
        text = config(aurora, redis_url, prefix, port, {"discord": section})
        async with start(tmp_path, "sixteen", text, port, dc.gateway_url) as process:
            bodies = []
            async with asyncio.timeout(60):
                while True:
                    assert process.proc.returncode is None, process.proc.log
                    with contextlib.suppress(httpx.HTTPError):
                        answer = await process.healthz()
                        bodies.append(answer.text)
                        if answer.status_code == 200:
                            break
                    await asyncio.sleep(0.1)
            log = await process.stop()
    assert sorted(dc.identified_shards) == [(k, 16) for k in range(16)]
    assert dc.identify_too_fast == 0
    assert all(f"discord shard {k}/16: connected" in bodies[-1] for k in range(16))
    assert any(": starting" in body for body in bodies), bodies
    assert not any("shard" in body and ": down" in body for body in bodies), bodies
    assert "Traceback" not in log, log


async def test_four_processes_of_four_shards_started_at_once_all_become_ready(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    async with DiscordFake(rate_window=1.0) as dc:
        dc.identify_spacing = FAKE_SPACING
        dc.max_concurrency = 2  # two buckets: shards 0, 2, 4 ... and 1, 3, 5 ...
        guilds = [dc.add_guild(shard=k, shard_count=16) for k in range(16)]
        ports = [free_port() for _ in range(4)]
        async with contextlib.AsyncExitStack() as stack:
            processes = []
            for k in range(4):
                section = discord_section(
                    dc, fast=False, shard_count=16, shard_ids=list(range(4 * k, 4 * k + 4)),
                    identify_spacing=SPACING,
                )  # fmt: skip
                text = config(aurora, redis_url, prefix, ports[k], {"discord": section})
                processes.append(
                    await stack.enter_async_context(
                        start(tmp_path, f"p{k}", text, ports[k], dc.gateway_url)
                    )
                )
            health = await until_healthy(*processes, within=90)
            for k, body in enumerate(health):
                assert all(
                    f"discord shard {s}/16: connected" in body for s in range(4 * k, 4 * k + 4)
                )
            # Each process answers in the guilds of its own shards.
            channel = dc.snowflake()
            await dc.user_says(
                channel, "hello shard 13", user_id=MEMBER, mention_bot=True, guild_id=guilds[13]
            )
            await dc.wait_for(lambda: dc.channel_texts(channel) == ["echo: hello shard 13"])
            await until(lambda: processes[3].replied("discord"), 1)
            logs = [await p.stop() for p in processes]
    assert sorted(dc.identified_shards) == [(k, 16) for k in range(16)]
    assert dc.identify_too_fast == 0
    assert all("Traceback" not in log for log in logs), logs


async def test_two_processes_streaming_in_many_channels_keep_under_the_global_limit(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """The whole bot's writes, from both processes, stay under Discord's global limit."""
    async with DiscordFake(rate_window=1.0) as dc:
        # A small global limit (Discord's is 50/s), so that a few channels reach it: 8 channels
        # per process at 4 writes a second each ask for far more than the bot's 10 a second.
        dc.global_limit = 12
        guilds = [dc.add_guild(shard=k, shard_count=2) for k in (0, 1)]

        def shard(k: int) -> Tables:
            section = discord_section(
                dc, fast=False, shard_count=2, shard_ids=[k], write_budget="4/1s",
                global_budget="10/1s",
            )  # fmt: skip
            return {"discord": section}

        shards = two_bridges(tmp_path, aurora, redis_url, prefix, shard, dc.gateway_url)
        async with shards as (a, b):
            await until_healthy(a, b)
            story = " ".join(f"word{i}" for i in range(80))
            aurora.set_default(text=story, chunk_size=30, chunk_delay=0.3)
            channels = [(dc.snowflake(), guilds[k % 2]) for k in range(16)]
            for channel, guild in channels:
                await dc.user_says(
                    channel, "tell a story", user_id=MEMBER, mention_bot=True, guild_id=guild
                )
            await dc.wait_for(
                lambda: all(dc.channel_texts(c) == [story] for c, _ in channels), within=120
            )
            await until(lambda: both(a.replied("discord"), b.replied("discord")), (True, True))
            logs = [await a.stop(), await b.stop()]
    assert dc.global_429s == 0 and dc.rate_limited == []
    # The bot wrote more than a final per channel: the budget was spent on streaming edits too.
    assert len([w for w in dc.writes if w.status == 200]) > 2 * len(channels)
    assert all("Traceback" not in log for log in logs), logs
