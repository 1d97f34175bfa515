"""`bridge run` as an operator runs it: one process, both platforms, health, metrics, SIGTERM.

The process is real; Telegram, Discord and Cody are the loopback fakes. Discord's gateway URL is
not a setting (production always uses Discord's), so the test starts the CLI through a one-line
shim that points discord.py's gateway at the fake, as the platform reference describes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fakes.cody import CodyFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import CODY_KEY, ROOT, BridgeProcess, free_port, run_cli

MEMBER_ID = 900_002


@dataclass
class Bridge:
    """A running `bridge run` and the fakes it talks to."""

    proc: BridgeProcess
    tg: FakeTelegram
    dc: DiscordFake
    cody: CodyFake
    health: str

    async def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything it logged."""
        code = await self.proc.stop(within=30)
        return code, self.proc.log


@pytest.fixture
async def bridge(
    request: pytest.FixtureRequest, run_config: Callable[..., str], tmp_path: Path, cody: CodyFake
) -> AsyncIterator[Bridge]:
    async with FakeTelegram() as tg, DiscordFake(rate_window=1.0) as dc:
        port = free_port()
        config = tmp_path / "config.toml"
        log_format = getattr(request, "param", "plain")
        tables = f"""
[health]
enabled = true
port = {port}

[log]
level = "DEBUG"
format = "{log_format}"

[run]
grace_period = 3
"""
        config.write_text(run_config(tg=tg, dc=dc, extra=tables))
        proc = await BridgeProcess.start(
            "run", "--config", str(config), gateway_url=dc.gateway_url, merge_stderr=True
        )
        running = Bridge(proc, tg, dc, cody, f"http://127.0.0.1:{port}")
        try:
            await dc.wait_ready(within=30)
            await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), within=30)
            yield running
        finally:
            await proc.kill()


async def health_answers(url: str) -> httpx.Response:
    """The first answer that is not 503: the listener opens before the front-ends connect, and
    says 503 until they are."""
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                response = await client.get(url)
            except httpx.ConnectError:
                await asyncio.sleep(0.1)
                continue
            if response.status_code != 503:
                return response
            await asyncio.sleep(0.1)
    raise AssertionError(f"no healthy answer on {url}")


@pytest.mark.parametrize("bridge", ["plain", "json"], indirect=True)
async def test_it_answers_on_both_platforms_reports_health_and_keeps_secrets(
    bridge: Bridge,
) -> None:
    tg, dc, cody = bridge.tg, bridge.dc, bridge.cody
    cody.reply_with("Hello from the assistant, on Telegram.", chunk_size=4)
    tg.user_says(501, "hi on telegram", user_id=501)
    await tg.wait_for(lambda: tg.chat_texts(501) == ["Hello from the assistant, on Telegram."])
    tg.user_says(-100900, "@bridge_bot hello, group", user_id=502, chat_type="supergroup")
    await tg.wait_for(lambda: tg.chat_texts(-100900) == ["echo: User502: hello, group"])
    cody.reply_with("And hello on Discord.", chunk_size=4)
    channel = dc.default_channel_id
    await dc.user_says(channel, "hi on discord", user_id=MEMBER_ID, mention_bot=True)
    await dc.wait_for(lambda: dc.channel_texts(channel) == ["And hello on Discord."], within=20)

    healthz = await health_answers(bridge.health + "/healthz")
    assert (healthz.status_code, healthz.text) == (
        200,
        "ok\ntelegram: connected\ndiscord shard 0/1: connected\n"
        "discord invalid requests (10 min): 0\n",
    )
    metrics = (await health_answers(bridge.health + "/metrics")).text
    assert 'outcome="replied",platform="telegram"} 2.0' in metrics
    for platform in ("telegram", "discord"):
        assert (
            f'bridge_messages_total{{backend="assistant",outcome="replied",platform="{platform}"}}'
            in metrics
        )
    assert "bridge_first_visible_seconds_count" in metrics

    code, logs = await bridge.stop()
    assert code == 0, logs[-3000:]
    assert "bridge stopped" in logs
    for secret in (tg.token, dc.token, CODY_KEY, *cody.stream_requests):
        assert secret not in logs
    assert cody.stream_requests  # the run did use stream URLs, so their absence means something
    if '"level"' in logs:
        lines = [line for line in logs.splitlines() if line.startswith("{")]
        assert lines and all(json.loads(line)["msg"] is not None for line in lines)


async def test_sigterm_lets_the_reply_in_flight_finish_and_exits_0(bridge: Bridge) -> None:
    tg, cody = bridge.tg, bridge.cody
    words = " ".join(f"word{i}" for i in range(60))
    cody.reply_with(words, chunk_size=6, chunk_delay=0.02)  # about 1 s: inside the 3 s grace
    tg.user_says(502, "tell me a story", user_id=502)
    await tg.wait_for(lambda: bool(tg.writes_to(502)))
    code, logs = await bridge.stop()
    assert code == 0, logs[-3000:]
    assert tg.chat_texts(502) == [words]


async def test_sigterm_past_the_grace_period_ends_the_reply_with_a_notice(bridge: Bridge) -> None:
    tg, cody = bridge.tg, bridge.cody
    cody.reply_with("This part arrives and then", chunk_size=5, fault="stall", fault_after=2)
    tg.user_says(503, "a reply that stalls", user_id=503)
    await tg.wait_for(lambda: bool(tg.writes_to(503)))
    code, logs = await bridge.stop()
    assert code == 0, logs[-3000:]
    shown = tg.chat_texts(503)
    assert len(shown) == 1 and shown[0].startswith("This part\n")
    assert "restarting" in shown[0]


async def test_the_readme_quick_start_works_as_written(
    redis_url: str, prefix: str, tmp_path: Path, cody: CodyFake
) -> None:
    """Steps 1-6 of the quick start: copy the example, keep one backend, secrets in the
    environment, `bridge check`, `bridge run`, say hello on both platforms."""
    example = (ROOT / "config.example.toml").read_text()
    luna = example.index("[backends.luna]")
    config = tmp_path / "config.toml"
    config.write_text(example[:luna] + example[example.index("[relay]") :])
    async with FakeTelegram() as tg, DiscordFake(rate_window=1.0) as dc:
        env = {
            "BRIDGE_STORE__URL": redis_url,
            "BRIDGE_STORE__PREFIX": prefix,
            "BRIDGE_BACKENDS__ASSISTANT__TOKEN": CODY_KEY,
            "BRIDGE_BACKENDS__ASSISTANT__BOT_ID": "bot1",
            "BRIDGE_BACKENDS__ASSISTANT__BASE_URL": cody.base_url,
            "BRIDGE_BACKENDS__ASSISTANT__STREAM_HOSTS": json.dumps([cody.stream_host]),
            "BRIDGE_TELEGRAM__ENABLED": "true",
            "BRIDGE_TELEGRAM__TOKEN": tg.token,
            "BRIDGE_TELEGRAM__BASE_URL": tg.base_url,
            "BRIDGE_DISCORD__ENABLED": "true",
            "BRIDGE_DISCORD__TOKEN": dc.token,
            "BRIDGE_DISCORD__API_BASE_URL": dc.api_base_url,
        }
        code, out, err = await run_cli("check", cwd=tmp_path, env=env)
        assert code == 0, out + err
        assert "all good" in out
        proc = await BridgeProcess.start(
            "run", cwd=tmp_path, env=env, gateway_url=dc.gateway_url, merge_stderr=True
        )
        running = Bridge(proc, tg, dc, cody, "")
        try:
            await dc.wait_ready(within=30)
            tg.user_says(601, "hello", user_id=601)
            await tg.wait_for(lambda: tg.chat_texts(601) == ["echo: hello"])
            channel = dc.default_channel_id
            await dc.user_says(channel, "hello", user_id=MEMBER_ID, mention_bot=True)
            await dc.wait_for(
                lambda: dc.channel_texts(channel) == ["echo: user2: hello"], within=20
            )
            code, logs = await running.stop()
            assert code == 0, logs[-3000:]
        finally:
            await proc.kill()
