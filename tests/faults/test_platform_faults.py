"""Platform faults, each through the real client library and the loopback fakes.

Every test asserts the same four things: nothing is lost (the reply, or the notice, is shown
whole, once), no prompt reaches the upstream twice (its request log), no traceback is logged,
and the next message is served. Where a process dies, ``bridge run`` is a subprocess and is
killed for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

import core.notify
from bots.runtime import Runtime
from core import notices
from tests import harness
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.discord import DiscordFake
from tests.fakes.proxy import TcpProxy
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    DiscordChat,
    RestartableRun,
    discord_section,
    luna_settings,
    telegram_section,
)

ALICE = 501
BOB = 502
GROUP = -100777
MEMBER = 900_002
REPLY = "A reply that arrives in several small pieces, so it is written more than once."

# --- the four checks -----------------------------------------------------------------------------


def assert_posted_once(prompts: list[str]) -> None:
    """No prompt reached the upstream twice."""
    twice = {p for p in prompts if prompts.count(p) > 1}
    assert not twice, f"POSTed more than once: {twice}"


def assert_no_traceback(logs: str) -> None:
    assert "Traceback" not in logs, logs[-4000:]


# --- Telegram, in process --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def telegram_bridge(
    tg: FakeTelegram, up: AuroraFake, redis_url: str, prefix: str, logs: pytest.LogCaptureFixture
) -> AsyncIterator[Runtime]:
    """The bridge with its Telegram front-end (polling), paced fast for tests; once it has
    stopped, no prompt reached the upstream twice and no traceback was logged."""
    settings = luna_settings(up, redis_url, prefix, telegram=telegram_section(tg))
    async with harness.telegram_bridge(settings) as (rt, _):
        yield rt
    assert_posted_once(up.messages_sent)
    assert_no_traceback(logs.text)


StartBridge = Callable[[], contextlib.AbstractAsyncContextManager[Runtime]]


@pytest.fixture
def bridge(
    tg: FakeTelegram,
    aurora: AuroraFake,
    redis_url: str,
    prefix: str,
    logs: pytest.LogCaptureFixture,
) -> StartBridge:
    """``bridge()``: :func:`telegram_bridge` on this test's fakes."""
    return functools.partial(telegram_bridge, tg, aurora, redis_url, prefix, logs)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def slow(up: AuroraFake, text: str = REPLY) -> None:
    up.reply_with(text, chunk_size=6, chunk_delay=0.03)


async def served_next(tg: FakeTelegram, up: AuroraFake, chat_id: int, before: int) -> None:
    """A new message in the chat gets its whole reply after the ``before`` messages shown."""
    up.reply_with("And the next one.")
    chat_type = "private" if chat_id > 0 else "supergroup"
    text = "next please" if chat_id > 0 else "@bridge_bot next please"
    tg.user_says(chat_id, text, user_id=ALICE, chat_type=chat_type)
    await tg.wait_for(lambda: tg.chat_texts(chat_id)[before:] == ["And the next one."])


async def test_telegram_429_with_a_long_retry_after_delays_but_completes_the_reply(
    tg: FakeTelegram, aurora: AuroraFake, bridge: StartBridge
) -> None:
    async with bridge():
        tg.chat(GROUP, "supergroup")
        tg.flood_after(GROUP, writes=1, retry_after=6)  # the first edit is told to wait 6 s
        aurora.reply_with(REPLY, chunk_size=4, chunk_delay=0.06)  # a second or so: many edits
        tg.user_says(GROUP, "@bridge_bot tell me", user_id=ALICE, chat_type="supergroup")
        await tg.wait_for(lambda: tg.chat_texts(GROUP) == [REPLY], within=40)
        refused = [w for w in tg.writes_to(GROUP) if w.error_code == 429]
        assert refused, "the flood wait was never hit"
        assert tg.flood_violations == 0  # nothing written to the chat while it was told to wait
        await served_next(tg, aurora, GROUP, before=1)


async def test_telegram_notice_behind_a_long_flood_wait_is_delivered_after_it(
    tg: FakeTelegram, aurora: AuroraFake, bridge: StartBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What counts as a "long" wait is shortened so the test takes seconds, not half a minute.
    monkeypatch.setattr(core.notify, "NOTICE_FLOOD_WAIT", 1.0)
    async with bridge():
        tg.chat(ALICE)
        tg.flood_after(ALICE, writes=0, retry_after=3)
        tg.user_says(ALICE, "   ", user_id=ALICE)  # an empty message earns a notice
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == [notices.empty()], within=30)
        assert [w.error_code for w in tg.writes_to(ALICE)] == [429, None]
        await served_next(tg, aurora, ALICE, before=1)
    assert aurora.messages_sent == ["next please"]


async def test_telegram_user_who_blocked_the_bot_costs_no_upstream_call(
    tg: FakeTelegram, aurora: AuroraFake, bridge: StartBridge, logs: Any
) -> None:
    async with bridge():
        tg.chat(ALICE)
        tg.blocked.add(ALICE)
        tg.user_says(ALICE, "are you there?", user_id=ALICE)
        await tg.wait_for(lambda: "reply stopped" in logs.text)
        await asyncio.sleep(0.3)  # a POST, were one coming, would be on its way by now
        assert aurora.messages_sent == []
        stopped = [r for r in logs.records if "blocked" in r.getMessage()]
        assert len(stopped) == 1 and stopped[0].levelno == logging.WARNING
        tg.blocked.discard(ALICE)  # unblocked: served again
        await served_next(tg, aurora, ALICE, before=0)
    assert aurora.messages_sent == ["next please"]


async def test_telegram_reply_whose_message_is_deleted_mid_stream_carries_on(
    tg: FakeTelegram, aurora: AuroraFake, bridge: StartBridge
) -> None:
    async with bridge():
        aurora.reply_with(REPLY, chunk_size=4, chunk_delay=0.08)
        tg.user_says(GROUP, "@bridge_bot go", user_id=ALICE, chat_type="supergroup")
        await tg.wait_for(lambda: bool(tg.bot_messages(GROUP)))
        first = tg.bot_messages(GROUP)[0]
        tg.user_deletes(GROUP, first.message_id)
        await tg.wait_for(lambda: tg.chat_texts(GROUP) == [REPLY], within=30)
        assert tg.bot_messages(GROUP)[0].message_id != first.message_id
        await served_next(tg, aurora, GROUP, before=1)


def refuse_three_sends(tg: FakeTelegram) -> None:
    # A private chat streams drafts; its only sendMessage is the final one. Three 502s in a
    # row outlast the old three quick attempts (about 3 s); retried with backoff now.
    tg.fail_next(ALICE, "sendMessage", 3, status=502)


def send_slowly(tg: FakeTelegram) -> None:
    tg.slow("sendMessage", 7.0)  # past PTB's 5 s default read timeout


@pytest.mark.parametrize(
    ("fault", "sends"),
    [
        pytest.param(refuse_three_sends, 4, id="5xx-burst-is-outlasted"),  # 3 refused, 1 landed
        pytest.param(send_slowly, 1, id="slow-send-is-waited-for"),  # never sent twice
    ],
)
async def test_telegram_final_send_message_that_fails_or_is_slow_lands_once(
    tg: FakeTelegram,
    aurora: AuroraFake,
    bridge: StartBridge,
    fault: Callable[[FakeTelegram], None],
    sends: int,
) -> None:
    async with bridge():
        tg.chat(ALICE)
        fault(tg)
        slow(aurora)
        tg.user_says(ALICE, "tell me", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == [REPLY], within=40)
        await tg.wait_for(lambda: aurora.open_streams == 0)
        await asyncio.sleep(0.5)  # a second send, were one coming, would have landed by now
        assert tg.chat_texts(ALICE) == [REPLY]
        assert len(tg.calls_of("sendMessage")) == sends
        await served_next(tg, aurora, ALICE, before=1)


async def test_telegram_final_write_refused_for_over_a_minute_still_lands(
    tg: FakeTelegram, aurora: AuroraFake, bridge: StartBridge
) -> None:
    """The Bot API answers 500 to the final sendMessage for over a minute (ten tries, backing
    off): the final text is retried for minutes, not given up after one."""
    async with bridge():
        tg.chat(ALICE)
        tg.fail_next(ALICE, "sendMessage", 10, status=500)
        slow(aurora)
        tg.user_says(ALICE, "tell me", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == [REPLY], within=150)
        assert len(tg.calls_of("sendMessage")) == 11
        await served_next(tg, aurora, ALICE, before=1)


# --- Discord, in process ---------------------------------------------------------------------------


class DiscordEnv(DiscordChat):
    async def served_next(self, channel_id: int, before: list[str]) -> None:
        """A new mention in the channel gets its whole reply after the ``before`` messages."""
        self.up.reply_with("And the next one.")
        await self.fake.user_says(channel_id, "next please", user_id=MEMBER, mention_bot=True)
        await self.shown(channel_id, [*before, "And the next one."])


@pytest.fixture
async def dc(
    aurora: AuroraFake, redis_url: str, prefix: str, logs: pytest.LogCaptureFixture
) -> AsyncIterator[DiscordEnv]:
    """The bridge with its Discord front-end; once it has stopped, no prompt reached the
    upstream twice and no traceback was logged."""
    async with DiscordFake(rate_limit=50, rate_window=1.0) as fake:
        settings = luna_settings(
            aurora,
            redis_url,
            prefix,
            discord=discord_section(fake),
            relay={"speaker_names": "never"},  # prompts as typed, to compare with the upstream's
        )
        async with harness.discord_bridge(settings, fake) as (rt, frontend):
            yield DiscordEnv(fake, aurora, rt, frontend)
    assert_posted_once(aurora.messages_sent)
    assert_no_traceback(logs.text)


async def test_discord_429_without_headers_is_waited_out(dc: DiscordEnv) -> None:
    ch = dc.fake.default_channel_id
    dc.fake.bare_429(ch, 2)  # the first create and its retry: no Via, no rate-limit headers
    slow(dc.up)
    await dc.fake.user_says(ch, "tell me", user_id=MEMBER, mention_bot=True)
    await dc.shown(ch, [REPLY])
    assert [w.status for w in dc.fake.writes if w.channel_id == ch][:3] == [429, 429, 200]
    await dc.served_next(ch, [REPLY])


async def test_discord_5xx_mid_stream_loses_nothing(dc: DiscordEnv) -> None:
    ch = dc.fake.default_channel_id
    dc.up.reply_with(REPLY, chunk_size=4, chunk_delay=0.05)
    await dc.fake.user_says(ch, "tell me", user_id=MEMBER, mention_bot=True)
    await dc.fake.wait_for(lambda: bool(dc.fake.writes_to(ch)))
    dc.fake.fail_writes(ch, 502, count=2)
    await dc.shown(ch, [REPLY])
    assert [w.status for w in dc.fake.writes if w.channel_id == ch].count(502) == 2
    await dc.served_next(ch, [REPLY])


async def test_discord_missing_permissions_cost_no_upstream_call(dc: DiscordEnv, logs: Any) -> None:
    ch = dc.fake.default_channel_id
    dc.fake.forbidden.add(ch)
    await dc.fake.user_says(ch, "are you there?", user_id=MEMBER, mention_bot=True)
    await dc.fake.wait_for(lambda: "reply stopped" in logs.text)
    await asyncio.sleep(0.3)  # a POST, were one coming, would be on its way by now
    assert dc.up.messages_sent == []
    stopped = [r for r in logs.records if "50013" in r.getMessage()]
    assert len(stopped) == 1 and stopped[0].levelno == logging.WARNING
    dc.fake.forbidden.discard(ch)
    await dc.served_next(ch, [])
    assert dc.up.messages_sent == ["next please"]


async def test_discord_write_refused_after_the_post_stops_the_reply_quietly(
    dc: DiscordEnv, logs: Any
) -> None:
    ch = dc.fake.default_channel_id
    dc.fake.forbidden_writes.add(ch)  # typing is allowed, so the prompt does go out
    slow(dc.up)
    await dc.fake.user_says(ch, "are you there?", user_id=MEMBER, mention_bot=True)
    await dc.fake.wait_for(lambda: "reply stopped" in logs.text)
    await dc.fake.wait_for(lambda: dc.up.open_streams == 0)
    refused = [w for w in dc.fake.writes if w.channel_id == ch and w.status == 403]
    assert len(refused) == 1  # the first write: nothing is tried after it
    assert dc.up.messages_sent == ["are you there?"]
    dc.fake.forbidden_writes.discard(ch)
    await dc.served_next(ch, [])


async def test_discord_gateway_drop_mid_reply_loses_nothing(dc: DiscordEnv) -> None:
    ch = dc.fake.default_channel_id
    dc.up.reply_with(REPLY, chunk_size=4, chunk_delay=0.05)
    await dc.fake.user_says(ch, "tell me", user_id=MEMBER, mention_bot=True)
    await dc.fake.wait_for(lambda: bool(dc.fake.writes_to(ch)))
    sessions = len(dc.fake.identified_intents)
    dc.fake.identify_open.clear()  # the bot stays offline until the test lets it back
    await dc.fake.drop_gateway()
    # Posted while the bot is offline: the new session's catch-up must find it.
    await dc.fake.user_says(ch, "still there?", user_id=MEMBER, mention_bot=True)
    await dc.shown(ch, [REPLY])  # the reply in flight goes on over REST meanwhile
    reads = len(dc.fake.history_reads)
    dc.fake.identify_open.set()
    await dc.fake.wait_for(lambda: len(dc.fake.identified_intents) > sessions, within=30)
    await dc.shown(ch, [REPLY, "echo: still there?"])
    assert len(dc.fake.history_reads) > reads
    await dc.fake.wait_for(lambda: dc.frontend.connected, within=30)
    await dc.served_next(ch, [REPLY, "echo: still there?"])


# --- processes that die: `bridge run` as a subprocess ---------------------------------------------


RUN_TABLES = """
[relay]
speaker_names = "never"             # prompts as typed, to compare with the upstream's

[log]
level = "DEBUG"

[run]
grace_period = 2
"""


@contextlib.asynccontextmanager
async def bridge_process(
    config: str, tmp_path: Path, gateway_url: str
) -> AsyncIterator[RestartableRun]:
    path = tmp_path / "config.toml"
    path.write_text(config)
    process = RestartableRun(path, gateway_url)
    try:
        yield process
    finally:
        await process.close()


def lock_held(redis_url: str, prefix: str, channel: str) -> bool:
    client = redis.Redis.from_url(redis_url)
    try:
        return bool(client.exists(f"{prefix}:{{ch:{channel}}}:lock"))
    finally:
        client.close()


async def until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Poll a predicate on the fakes (test synchronisation, not a timing assertion)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_telegram_update_fetched_but_not_recorded_survives_kill_9(
    cody: CodyFake, redis_url: str, run_config: Callable[..., str], tmp_path: Path
) -> None:
    redis_port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    async with (
        FakeTelegram() as tg,
        TcpProxy("127.0.0.1", redis_port) as proxy,
    ):
        via_proxy = f"redis://127.0.0.1:{proxy.port}/0"
        config = run_config(tg=tg, redis_url=via_proxy, extra=RUN_TABLES)
        async with bridge_process(config, tmp_path, "ws://127.0.0.1:9/") as run:
            await run.start()
            await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), within=30)
            # The store stops answering: the update is fetched, and its recording hangs.
            proxy.hold()
            update = tg.user_says(ALICE, "hello?", user_id=ALICE)
            await until(lambda: proxy.held)
            await run.end(signal.SIGKILL)
            offsets = [int(c.get("offset") or 0) for c in tg.calls_of("getUpdates")]
            assert max(offsets) <= update["update_id"], "an unrecorded update was confirmed"
            assert cody.messages_sent == []

            proxy.drop_held()  # the store is back; what the dead process sent never arrived
            cody.reply_with("Hello after the restart.")
            await run.start()
            await tg.wait_for(lambda: tg.chat_texts(ALICE) == ["Hello after the restart."])
            cody.reply_with("And the next one.")
            tg.user_says(ALICE, "next please", user_id=ALICE)
            await tg.wait_for(lambda: tg.chat_texts(ALICE)[1:] == ["And the next one."])
            await run.end(signal.SIGTERM)

    assert cody.messages_sent == ["hello?", "next please"]
    assert_no_traceback(run.all_output)


async def test_discord_mention_posted_while_the_bridge_is_down_is_answered_once(
    cody: CodyFake, redis_url: str, prefix: str, run_config: Callable[..., str], tmp_path: Path
) -> None:
    async with DiscordFake(rate_window=1.0) as dc:
        config = run_config(dc=dc, extra=RUN_TABLES)
        async with bridge_process(config, tmp_path, dc.gateway_url) as run:
            ch, dm = dc.default_channel_id, dc.snowflake()
            await run.start()
            await dc.wait_ready(within=30)
            cody.reply_with("Before the restart.")
            await dc.user_says(ch, "hello", user_id=MEMBER, mention_bot=True)
            await until(lambda: dc.channel_texts(ch) == ["Before the restart."])
            cody.reply_with("A DM before the restart.")
            await dc.user_says(dm, "hello in private", user_id=MEMBER, guild=False)
            await until(lambda: dc.channel_texts(dm) == ["A DM before the restart."])
            # Killed once the replies are over (a lock left mid-reply is the lease's business).
            for channel in (ch, dm):
                await until(lambda c=channel: not lock_held(redis_url, prefix, f"dc:{c}"))
            await run.end(signal.SIGKILL)

            # While the bridge is down: a mention, chatter it would not answer, and a DM.
            await dc.user_says(ch, "are you back?", user_id=MEMBER, mention_bot=True)
            await dc.user_says(ch, "just talking among ourselves", user_id=MEMBER)
            await dc.user_says(dm, "and in private?", user_id=MEMBER, guild=False)
            reads = len(dc.history_reads)
            await run.start()  # unscripted, the fake upstream echoes the prompt
            await until(lambda: dc.channel_texts(ch)[1:] == ["echo: are you back?"])
            await until(lambda: dc.channel_texts(dm)[1:] == ["echo: and in private?"])
            assert len(dc.history_reads) > reads

            # A second restart reads the history again but answers nothing twice.
            await run.end(signal.SIGTERM)
            reads = len(dc.history_reads)
            await run.start()
            await until(lambda: len(dc.history_reads) > reads)
            cody.reply_with("And the next one.")
            await dc.user_says(ch, "next please", user_id=MEMBER, mention_bot=True)
            await until(lambda: dc.channel_texts(ch)[2:] == ["And the next one."])
            await run.end(signal.SIGTERM)

    assert dc.channel_texts(ch) == [
        "Before the restart.",
        "echo: are you back?",
        "And the next one.",
    ]
    assert dc.channel_texts(dm) == ["A DM before the restart.", "echo: and in private?"]
    assert sorted(cody.messages_sent) == sorted(
        ["hello", "hello in private", "are you back?", "and in private?", "next please"]
    )
    assert_no_traceback(run.all_output)
