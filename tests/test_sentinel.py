"""Redis behind Sentinel: `bridge check` names the master the sentinels found, a demoted master's
READONLY is an outage and not an error, and the bridge follows a failover with the master
killed mid-reply (real redis-server processes: a master, a replica and three sentinels)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from core import notices
from core.config import host_port
from core.errors import StoreUnavailable
from core.store import RedisStore
from core.store.sentinel import SentinelTarget
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import MakeBridge, aurora_config, no_traceback, run_cli
from tests.harness.contract_stores import admit_args
from tests.harness.faults import GROUP, STORY, prompts_once
from tests.harness.sentinels import MASTER_NAME, SentinelGroup

WINDOW = 613  # a private chat that talks while no master answers
AFTER = 614  # one that talks once the replica is promoted

# What a reply cut by the failover may end with instead of its whole text.
ENDINGS = (notices.interrupted(), notices.reply_lost(), notices.store_down())


def whole_or_noticed(texts: list[str]) -> bool:
    """The story arrived whole, or what it showed ends with one of the existing notices."""
    if texts == [STORY]:
        return True
    return bool(texts) and any(texts[-1].endswith(str(ending)) for ending in ENDINGS)


def sentinel_config(
    tmp_path: Path,
    aurora: AuroraFake,
    group: SentinelGroup,
    master: str,
    tg: FakeTelegram | None = None,
) -> Path:
    """The fake Aurora's config with its store on ``group``'s sentinels, naming ``master`` (and
    the Telegram front-end on ``tg``, for a check that passes)."""
    config = aurora_config(tmp_path, aurora, tg=tg)
    sentinels = ", ".join(f'"{address}"' for address in group.addresses)
    store = f'sentinels = [{sentinels}]\nsentinel_master = "{master}"\nprefix = "test-check"'
    config.write_text(re.sub(r"(?m)^path = .*$", store, config.read_text()))
    return config


async def promoted_when(group: SentinelGroup, old: int) -> tuple[int, float]:
    """The new master's port once every sentinel names it, and when that was seen."""
    port = await asyncio.to_thread(group.wait_promoted, old)
    return port, time.monotonic()


async def test_check_names_the_master_and_its_replica(
    tmp_path: Path, aurora: AuroraFake, shared_sentinels: SentinelGroup, tg: FakeTelegram
) -> None:
    config = sentinel_config(tmp_path, aurora, shared_sentinels, MASTER_NAME, tg)
    code, out, err = await run_cli("check", "--config", str(config))
    assert code == 0, out + err
    port = shared_sentinels.master_port()
    found = f"sentinel master {MASTER_NAME} at 127.0.0.1:{port}, 1 replica"
    assert re.search(rf"(?m)^ok\s+store\s+redis [\d.]+, {re.escape(found)}$", out), out


@pytest.mark.parametrize("right", [True, False])
async def test_check_with_passwords(
    tmp_path: Path,
    aurora: AuroraFake,
    guarded_sentinels: SentinelGroup,
    right: bool,
    tg: FakeTelegram,
) -> None:
    """The servers' and the sentinels' passwords from the environment; a wrong one fails the
    store line without showing either."""
    config = sentinel_config(tmp_path, aurora, guarded_sentinels, MASTER_NAME, tg)
    sentinel_password = guarded_sentinels.sentinel_password if right else "wrong-s3cret"
    env = {
        "BRIDGE_STORE__PASSWORD": guarded_sentinels.password,
        "BRIDGE_STORE__SENTINEL_PASSWORD": sentinel_password,
    }
    code, out, err = await run_cli("check", "--config", str(config), env=env)
    found = f"sentinel master {MASTER_NAME} at 127.0.0.1:{guarded_sentinels.master_port()}"
    if right:
        assert code == 0, out + err
        assert re.search(rf"(?m)^ok\s+store\s+redis [\d.]+, {re.escape(found)}, 1 replica$", out)
    else:
        assert code != 0
        assert re.search(r"(?m)^FAIL\s+store\s+", out), out
    assert "s3cret" not in out + err


async def test_check_without_a_known_master_is_one_failing_line(
    tmp_path: Path, aurora: AuroraFake, shared_sentinels: SentinelGroup
) -> None:
    config = sentinel_config(tmp_path, aurora, shared_sentinels, "nosuch")
    code, out, err = await run_cli("check", "--config", str(config))
    assert code != 0
    assert re.search(r"(?m)^FAIL\s+store\s+.*names a master 'nosuch'", out), out
    assert "Traceback" not in out + err


async def test_a_demoted_master_s_readonly_is_an_outage(shared_sentinels: SentinelGroup) -> None:
    """A client still pointed at a replica (a master demoted by a failover) gets READONLY on
    every write: the store reports it unreachable, as during any outage, never a raw error."""
    store = RedisStore(f"redis://127.0.0.1:{shared_sentinels.replica}/0", prefix="test-readonly")
    try:
        with pytest.raises(StoreUnavailable, match="READONLY"):
            await store.admit(**admit_args())
    finally:
        await store.aclose()


async def test_the_bridge_follows_a_failover_with_the_master_killed_mid_reply(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake, own_sentinels: SentinelGroup
) -> None:
    bridge = make_bridge(
        store={"sentinels": own_sentinels.addresses, "sentinel_master": MASTER_NAME}
    )
    await bridge.start()
    tg.user_says(GROUP, "@bridge_bot hello", user_id=501, chat_type="supergroup")
    await tg.wait_for(lambda: tg.chat_texts(GROUP) == ["echo: hello"], within=30)

    cody.reply_with(STORY, chunk_size=6, chunk_delay=0.2)  # ~6 s
    tg.user_says(GROUP, "@bridge_bot tell me a story", user_id=501, chat_type="supergroup")
    await tg.wait_for(lambda: len(tg.chat_texts(GROUP)) == 2, within=30)
    # What the test checks is following the promotion, not what asynchronous replication may
    # lose (the README says that): the replica has every write made so far.
    assert await asyncio.to_thread(own_sentinels.replicated) == 1
    killed = time.monotonic()
    old = await asyncio.to_thread(own_sentinels.kill_master)
    promotion = asyncio.create_task(promoted_when(own_sentinels, old))
    # A message while no master answers: the short notice, or (once promoted) its answer.
    tg.user_says(WINDOW, "meanwhile?", user_id=WINDOW)
    told = ([str(notices.store_down())], ["echo: meanwhile?"])

    # A message in another chat as soon as the sentinels name the new master.
    new, promoted = await promotion
    assert new != old
    tg.user_says(AFTER, "promoted?", user_id=AFTER)
    await tg.wait_for(lambda: tg.chat_texts(AFTER) == ["echo: promoted?"], within=60)
    answered = time.monotonic()

    await tg.wait_for(lambda: whole_or_noticed(tg.chat_texts(GROUP)[1:]), within=60)
    await tg.wait_for(lambda: tg.chat_texts(WINDOW) in told, within=60)
    story = "whole" if tg.chat_texts(GROUP)[1:] == [STORY] else "ended with a notice"
    tg.user_says(GROUP, "@bridge_bot and now?", user_id=502, chat_type="supergroup")
    await tg.wait_for(lambda: tg.chat_texts(GROUP)[-1:] == ["echo: and now?"], within=60)
    print(
        f"failover: the replica was promoted {promoted - killed:.1f} s after the kill; a "
        f"message sent then was answered {answered - killed:.1f} s after the kill "
        f"({answered - promoted:.1f} s after the promotion); the story in flight arrived "
        f"{story}; the message sent meanwhile got {tg.chat_texts(WINDOW)!r}"
    )
    prompts_once(cody, "hello", "tell me a story", "promoted?", "and now?")
    assert cody.messages_sent.count("meanwhile?") == (tg.chat_texts(WINDOW) == told[1])
    code, out = await bridge.terminate(within=20)
    assert code == 0
    no_traceback(out)


async def test_a_master_short_of_replicas_refuses_writes_as_an_outage(
    shared_sentinels: SentinelGroup,
) -> None:
    """With ``min-replicas-to-write`` above the replicas it has, the master answers NOREPLICAS:
    nothing was written, and the store says it is unreachable rather than raising the reply."""
    target = SentinelTarget(tuple(host_port(a) for a in shared_sentinels.addresses), MASTER_NAME)
    store = RedisStore(prefix="test-noreplicas", sentinel=target)
    master = aioredis.Redis(port=shared_sentinels.master_port())
    await master.config_set("min-replicas-to-write", 2)
    try:
        with pytest.raises(StoreUnavailable, match="NOREPLICAS"):
            await store.admit(**admit_args())
    finally:
        await master.config_set("min-replicas-to-write", 0)
        await master.aclose()
        await store.aclose()
