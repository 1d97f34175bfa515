"""The harness's fixtures (a pytest plugin): the shared Redis and a prefix of the test's own, the
fakes, backends on them, and a bridge to talk to on each platform (``telegram_chat``,
``discord_chat``), in process or as a `bridge run` subprocess (``make_bridge``)."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from telegram import Bot

from bots.runtime import Runtime, open_runtime
from core.backends.aurora import AuroraBackend
from core.backends.base import Backend
from core.backends.cody import CodyBackend
from core.config import AuroraSettings, CodySettings
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness.chat import DiscordChat, TelegramChat, open_discord, open_telegram
from tests.harness.faults import RUN_TABLES
from tests.harness.processes import MakeBridge, RestartableRun
from tests.harness.sentinels import SentinelGroup
from tests.harness.settings import (
    AURORA_TOKEN,
    CHARACTER_ID,
    CODY_KEY,
    QUICK_TIMEOUTS,
    REDIS_URL,
    aurora_backend,
    bridge_config,
    cody_backend,
    luna_settings,
)
from tests.harness.stores import need_redis_server, redis_available


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis the tests use (CI starts one; locally, tests needing it are skipped)."""
    if not redis_available():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
async def aurora() -> AsyncIterator[AuroraFake]:
    """A running fake Aurora API."""
    async with AuroraFake(token=AURORA_TOKEN, character_id=CHARACTER_ID) as fake:
        yield fake


@pytest.fixture
async def cody() -> AsyncIterator[CodyFake]:
    """A running fake Cody API (API and stream host on two ports)."""
    async with CodyFake(api_key=CODY_KEY, bot_id="bot1") as fake:
        yield fake


@pytest.fixture(params=["aurora", "cody"])
async def upstream(request: pytest.FixtureRequest) -> AsyncIterator[AuroraFake | CodyFake]:
    """Each fake upstream in turn, for a test that must hold on both APIs."""
    fake: AuroraFake | CodyFake
    if request.param == "aurora":
        fake = AuroraFake(token=AURORA_TOKEN, character_id=CHARACTER_ID)
    else:
        fake = CodyFake(api_key=CODY_KEY, bot_id="bot1")
    async with fake:
        yield fake


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """A running fake Telegram Bot API."""
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    """The real python-telegram-bot client, pointed at the fake Telegram."""
    async with Bot(tg.token, base_url=tg.base_url) as client:
        yield client


@pytest.fixture
async def dc() -> AsyncIterator[DiscordFake]:
    """A running fake Discord, its per-channel bucket on a short window so tests stay quick."""
    async with DiscordFake(rate_window=1.0) as fake:
        yield fake


@pytest.fixture
async def telegram_chat(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> AsyncIterator[TelegramChat]:
    """A private chat with the bridge (Telegram front-end, fake Aurora, Redis), in process."""
    async with open_telegram(tg, aurora, redis_url, prefix) as chat:
        yield chat


@pytest.fixture
async def discord_chat(
    dc: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> AsyncIterator[DiscordChat]:
    """The fake guild's default channel with the bridge (Discord front-end, fake Aurora, Redis),
    in process."""
    async with open_discord(dc, aurora, redis_url, prefix) as chat:
        yield chat


@pytest.fixture
def run_config(cody: CodyFake, redis_url: str, prefix: str) -> Callable[..., str]:
    """``run_config(tg=..., dc=..., extra=...)``: :func:`tests.harness.bridge_config` on this
    test's Cody fake and Redis prefix (``redis_url=`` may point elsewhere)."""
    return functools.partial(bridge_config, cody, redis_url=redis_url, prefix=prefix)


@pytest.fixture
async def make_bridge(
    tg: FakeTelegram,
    dc: DiscordFake,
    redis_url: str,
    run_config: Callable[..., str],
    tmp_path: Path,
) -> AsyncIterator[MakeBridge]:
    """``make_bridge(lock_ttl=..., grace=..., store_url=..., store=...)``: a `bridge run`
    subprocess on both platforms' fakes (not started); killed after the test. ``store`` is the
    store table without its prefix (e.g. sentinels), instead of ``store_url``."""
    made: list[RestartableRun] = []

    def make(
        *,
        lock_ttl: float = 3.0,
        grace: float = 3.0,
        store_url: str | None = None,
        store: dict[str, Any] | None = None,
    ) -> RestartableRun:
        config = tmp_path / f"config-{len(made)}.toml"
        tables = RUN_TABLES.format(lock_ttl=lock_ttl, grace=grace)
        text = run_config(tg=tg, dc=dc, redis_url=store_url or redis_url, extra=tables, store=store)
        config.write_text(text)
        bridge = RestartableRun(config, dc.gateway_url, dc)
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        await bridge.close()


@pytest.fixture
async def luna(aurora: AuroraFake, redis_url: str, prefix: str) -> AsyncIterator[Runtime]:
    """The runtime with the fake Aurora as its only backend, ``luna``, on Redis."""
    async with open_runtime(luna_settings(aurora, redis_url, prefix)) as rt:
        yield rt


T = TypeVar("T", bound=Backend)


@pytest.fixture
async def closing() -> AsyncIterator[Callable[[T], T]]:
    """Hands back what it is given, and closes every backend it was given after the test."""
    made: list[Backend] = []

    def keep(backend: T) -> T:
        made.append(backend)
        return backend

    yield keep
    for backend in made:
        await backend.aclose()


@pytest.fixture
def make_aurora(aurora: AuroraFake, closing: Callable[[Any], Any]) -> Callable[..., AuroraBackend]:
    """``make_aurora(**overrides)``: an Aurora backend on the fake, closed after the test."""

    def make(**overrides: Any) -> AuroraBackend:
        fields = aurora_backend(aurora, **{**QUICK_TIMEOUTS, **overrides})
        return closing(AuroraBackend("luna", AuroraSettings(**fields)))

    return make


@pytest.fixture
def make_cody(cody: CodyFake, closing: Callable[[Any], Any]) -> Callable[..., CodyBackend]:
    """``make_cody(**overrides)``: a Cody backend on the fake, closed after the test."""

    def make(**overrides: Any) -> CodyBackend:
        fields = cody_backend(cody, **{**QUICK_TIMEOUTS, **overrides})
        return closing(CodyBackend("assistant", CodySettings(**fields)))

    return make


@pytest.fixture(scope="session")
def shared_sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    """A Sentinel group (master, replica, three sentinels) for the tests that never kill it."""
    yield from _sentinel_group(tmp_path_factory.mktemp("sentinels"))


@pytest.fixture
def own_sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A Sentinel group of this test's own, whose master it may kill."""
    yield from _sentinel_group(tmp_path / "sentinels")


@pytest.fixture
def guarded_sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A Sentinel group of this test's own whose servers and sentinels ask for passwords."""
    yield from _sentinel_group(
        tmp_path / "sentinels", password="server-s3cret", sentinel_password="sentinel-s3cret"
    )


def _sentinel_group(workdir: Path, **passwords: str) -> Iterator[SentinelGroup]:
    need_redis_server()
    group = SentinelGroup(workdir, **passwords)
    try:
        group.start()
        yield group
    finally:
        group.stop()
