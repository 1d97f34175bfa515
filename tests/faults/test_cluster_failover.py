"""A Redis Cluster failover under load: three masters with a replica each, two `bridge run`
webhook workers behind the fake Telegram's balancer, and several chats talking when the master
serving some of them is killed -9.

The cluster is the test's own (free ports, never the shared one); the bridge processes are real
subprocesses; Telegram and Aurora are the loopback fakes, living in the test process, so their
records show what every user saw.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import notices
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    BridgeProcess,
    aurora_backend,
    free_port,
    need_redis_server,
    no_traceback,
    telegram_section,
    toml,
)
from tests.harness.clusters import ClusterGroup

SECRET = "failover-test_secret"
CHATS = 8
FIRST = 7_001  # the chats are private chats of users FIRST, FIRST + 1, ...
ROUNDS = 12  # each chat says something every round...
ROUND = 0.4  # ...this many seconds apart
KILL_AT = 4  # the master goes down after this many rounds
LOCK_TTL = 3.0
# "Something went wrong": the notice of a failure nobody planned for.
FAILED = str(notices.failed())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterGroup]:
    """Three masters and three replicas of this test's own."""
    need_redis_server("redis-cli")
    group = ClusterGroup(tmp_path / "cluster")
    try:
        group.start()
        yield group
    finally:
        group.stop()


def worker_config(tg: FakeTelegram, aurora: AuroraFake, cluster: ClusterGroup, port: int) -> str:
    """A webhook worker on the cluster, listening on ``port``."""
    return toml(
        {
            "store": {"url": cluster.url, "cluster": True, "prefix": "failover"},
            "backends.luna": aurora_backend(aurora),
            "relay": {
                "lock_ttl": LOCK_TTL,
                "rate_limit_messages": 1000,
                "speaker_names": "never",
                "merge_queued": False,
                "queue_size": 50,
            },
            "telegram": telegram_section(tg, mode="webhook"),
            "telegram.webhook": {"port": port, "url": tg.load_balanced[0], "secret_token": SECRET},
            "run": {"grace_period": 2},
        }
    )


def unanswered(tg: FakeTelegram, chat: int, prompts: list[str]) -> tuple[list[str], list[str]]:
    """The chat's prompts without their reply, and the notices the chat shows."""
    texts = tg.chat_texts(chat)
    missing = [p for p in prompts if f"echo: {p}" not in texts]
    return missing, [t for t in texts if not t.startswith("echo: ")]


async def test_a_master_killed_under_load_silences_no_chat_and_fails_no_message(
    aurora: AuroraFake, tmp_path: Path, cluster: ClusterGroup
) -> None:
    chats = [FIRST + k for k in range(CHATS)]
    # The master serving the most chats goes down.
    masters = [cluster.master_of(f"ch:tg:{chat}") for chat in chats]
    victim = max(set(masters), key=masters.count)
    aurora.set_default(chunk_size=4, chunk_delay=0.05)
    prompts: dict[int, list[str]] = {chat: [] for chat in chats}

    def say(chat: int, text: str) -> None:
        prompts[chat].append(text)
        tg.user_says(chat, text, user_id=chat)

    async with FakeTelegram() as tg:
        ports = [free_port(), free_port()]
        tg.load_balanced = [f"http://127.0.0.1:{port}/tg/hook" for port in ports]
        workers: list[BridgeProcess] = []
        try:
            for k, port in enumerate(ports):
                path = tmp_path / f"worker-{k}.toml"
                path.write_text(worker_config(tg, aurora, cluster, port))
                workers.append(
                    await BridgeProcess.start("run", "--config", str(path), merge_stderr=True)
                )
            for worker in workers:
                await worker.wait_log("bridge running", within=60)

            for round_ in range(ROUNDS):
                if round_ == KILL_AT:
                    cluster.kill(victim)
                for chat in chats:
                    say(chat, f"chat {chat} message {round_}")
                await asyncio.sleep(ROUND)
            await asyncio.to_thread(cluster.wait_promoted, victim)

            # After the promotion every chat answers again, well within a few lease times (a
            # chat silenced by a stranded ticket would wait for relay.lock_wait, 10 minutes).
            for chat in chats:
                say(chat, f"chat {chat} after the failover")

            def silent() -> list[int]:
                last = "echo: chat {} after the failover"
                return [chat for chat in chats if last.format(chat) not in tg.chat_texts(chat)]

            with contextlib.suppress(TimeoutError):
                await tg.wait_for(lambda: not silent(), within=10 * LOCK_TTL)
            assert not silent(), {chat: tg.chat_texts(chat) for chat in silent()}
        finally:
            for worker in workers:
                await worker.kill()

    for chat in chats:
        missing, notices = unanswered(tg, chat, prompts[chat])
        assert FAILED not in tg.chat_texts(chat), (chat, tg.chat_texts(chat))
        # A message not answered got a notice (its store was away): none is left without.
        assert len(notices) >= len(missing), (chat, missing, notices)
    no_traceback(*(worker.log for worker in workers))
