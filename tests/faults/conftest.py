"""Fixtures for the process and store faults: the fakes and a `bridge run` to kill."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.faults.harness import RUN_TABLES, BridgeProcess


@pytest.fixture
async def dc() -> AsyncIterator[DiscordFake]:
    async with DiscordFake(rate_window=1.0) as fake:
        yield fake


MakeBridge = Callable[..., BridgeProcess]


@pytest.fixture
async def make_bridge(
    tg: FakeTelegram,
    dc: DiscordFake,
    redis_url: str,
    run_config: Callable[..., str],
    tmp_path: Path,
) -> AsyncIterator[MakeBridge]:
    """``make_bridge(lock_ttl=..., grace=..., store_url=...)``: a bridge process (not started)."""
    made: list[BridgeProcess] = []

    def make(
        *, lock_ttl: float = 3.0, grace: float = 3.0, store_url: str | None = None
    ) -> BridgeProcess:
        config = tmp_path / f"config-{len(made)}.toml"
        tables = RUN_TABLES.format(lock_ttl=lock_ttl, grace=grace)
        config.write_text(run_config(tg=tg, dc=dc, redis_url=store_url or redis_url, extra=tables))
        bridge = BridgeProcess(config, dc)
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        await bridge.close()
