"""Shared fixtures: a real Redis on loopback, the upstream fakes, settings that point at them."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis
from hypothesis import HealthCheck, settings
from telegram import Bot

from bots.runtime import Runtime, open_runtime
from core.backends.aurora import AuroraBackend
from core.backends.base import Backend
from core.backends.cody import CodyBackend
from core.config import AuroraSettings, CodySettings, Settings
from core.errors import UpstreamError
from core.logs import OWN_LOGGERS, Redactor, setup_logging
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.telegram import FakeTelegram
from tests.procs import bridge_config

# Property tests: a few examples in the normal run, 100,000 per property with
# BRIDGE_HYPOTHESIS_PROFILE=long. No deadline: the machine is shared, and time is no property.
# The quick profile is derandomized so the normal run is repeatable; the long run explores.
settings.register_profile("quick", max_examples=60, deadline=None, derandomize=True)
settings.register_profile(
    "long",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("BRIDGE_HYPOTHESIS_PROFILE", "quick"))

REDIS_URL = os.environ.get("BRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AURORA_TOKEN = "aurora-test-token-0123456789"
CODY_KEY = "cody-test-key-0123456789abcdef"
CHARACTER_ID = 42
# A backend under test gives up on a silent fake in seconds, not the production minutes.
QUICK_TIMEOUTS = {"read_timeout": 5.0, "connect_timeout": 2.0}


def redis_available() -> bool:
    """True when the test Redis answers PING."""
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


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
def run_config(cody: CodyFake, redis_url: str, prefix: str) -> Callable[..., str]:
    """``run_config(tg=..., dc=..., extra=...)``: :func:`tests.procs.bridge_config` on this
    test's Cody fake and Redis prefix (``redis_url=`` may point elsewhere)."""
    return functools.partial(bridge_config, cody, redis_url=redis_url, prefix=prefix)


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


async def collect(backend: Backend, remote: dict[str, str], text: str) -> list[str]:
    """Every delta of one reply."""
    return [piece async for piece in backend.reply(remote, text)]


async def collect_until_error(
    backend: Backend, remote: dict[str, str], text: str
) -> tuple[list[str], UpstreamError]:
    """The deltas that arrived before the reply failed, and its error."""
    pieces: list[str] = []
    with pytest.raises(UpstreamError) as caught:
        async for piece in backend.reply(remote, text):
            pieces.append(piece)
    return pieces, caught.value


def aurora_backend(fake: AuroraFake, **overrides: Any) -> dict[str, Any]:
    """Backend settings for the fake Aurora."""
    return {
        "kind": "aurora",
        "base_url": fake.base_url,
        "token": AURORA_TOKEN,
        "character_id": CHARACTER_ID,
        **overrides,
    }


def cody_backend(fake: CodyFake, **overrides: Any) -> dict[str, Any]:
    """Backend settings for the fake Cody."""
    return {
        "kind": "cody",
        "base_url": fake.base_url,
        "token": CODY_KEY,
        "bot_id": "bot1",
        "stream_hosts": [fake.stream_host],
        **overrides,
    }


def make_settings(
    *,
    backends: dict[str, Any],
    redis_url: str | None = None,
    prefix: str = "bridge",
    **sections: Any,
) -> Settings:
    """Settings with the given backends, on Redis when a URL is given (else an SQLite file)."""
    store = {"url": redis_url, "prefix": prefix} if redis_url else sections.pop("store")
    return Settings(backends=backends, store=store, **sections)


def luna_settings(aurora: AuroraFake, redis_url: str, prefix: str, **sections: Any) -> Settings:
    """Settings with the fake Aurora as the only backend, ``luna``, on Redis under ``prefix``;
    ``sections`` are the other tables (relay, telegram, discord, ...)."""
    return make_settings(
        backends={"luna": aurora_backend(aurora)}, redis_url=redis_url, prefix=prefix, **sections
    )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def production_logs(redactor: Redactor) -> Iterator[io.StringIO]:
    """Log as `bridge` does (one scrubbing handler on the root), at DEBUG for every library too,
    into a buffer the test reads; the previous logging set-up is restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    libraries = ("httpx", "httpcore", "telegram", "discord")
    saved_own = {name: logging.getLogger(name).level for name in OWN_LOGGERS}
    saved_levels = {name: logging.getLogger(name).level for name in libraries}
    buffer = io.StringIO()
    setup_logging(fmt="plain", level="DEBUG", redactor=redactor, stream=buffer)
    for name in libraries:  # normally quieter; opened here so the scrubbing is what is tested
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in (saved_levels | saved_own).items():
            logging.getLogger(name).setLevel(level)
