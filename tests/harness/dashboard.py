"""The operator's page on the fakes: a bridge with its Telegram front-end and the page on its
health listener, as `bridge run` wires them, and a few messages to fill it."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from bots.dashboard import OperatorPage
from bots.health import HealthServer
from bots.runtime import Runtime
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness.chat import ALICE, BOB
from tests.harness.inprocess import telegram_bridge
from tests.harness.settings import luna_settings, telegram_section

PAGE_TOKEN = "dashboard-token-0123456789"


@dataclass
class PageEnv:
    """A bridge on the fakes with the page on its health listener."""

    tg: FakeTelegram
    up: AuroraFake
    rt: Runtime
    page: OperatorPage
    base_url: str

    async def data(self) -> dict[str, Any]:
        """The page's JSON, after this process reported what it has."""
        await self.page.activity.report()
        bearer = {"Authorization": f"Bearer {PAGE_TOKEN}"}
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            got = await client.get("/dashboard/data", headers=bearer)
        assert got.status_code == 200
        snapshot: dict[str, Any] = got.json()["snapshot"]
        return snapshot


@contextlib.asynccontextmanager
async def page_on_fakes(
    tg: FakeTelegram, up: AuroraFake, redis_url: str, prefix: str, **sections: Any
) -> AsyncIterator[PageEnv]:
    """The bridge with its Telegram front-end and the page, as ``bridge run`` wires them;
    ``sections`` adds settings (``allowances={...}``)."""
    settings = luna_settings(
        up,
        redis_url,
        prefix,
        telegram=telegram_section(tg),
        health={"enabled": True, "port": 0},
        dashboard={"enabled": True, "token": PAGE_TOKEN},
        **sections,
    )
    async with telegram_bridge(settings) as (rt, frontend):
        page = await OperatorPage.start(rt, [frontend])
        server = HealthServer(
            store=rt.store,
            frontends=[frontend],
            metrics=rt.metrics,
            host="127.0.0.1",
            port=0,
            dashboard=page.dashboard,
        )
        await server.start()
        try:
            yield PageEnv(tg, up, rt, page, f"http://127.0.0.1:{server.port}")
        finally:
            await server.stop()
            await page.stop()


def _answered(tg: FakeTelegram, chat: int, replies: int) -> bool:
    return len(tg.chat_texts(chat)) == replies


async def converse(env: PageEnv) -> None:
    """Alice sends three messages, Bob one; all are answered."""
    for n in range(1, 4):
        env.tg.user_says(ALICE, f"question {n}", user_id=ALICE)
        await env.tg.wait_for(functools.partial(_answered, env.tg, ALICE, n))
    env.tg.user_says(BOB, "hello", user_id=BOB)
    await env.tg.wait_for(lambda: len(env.tg.chat_texts(BOB)) == 1)
    await env.tg.wait_for(lambda: env.rt.relay.in_flight == 0)
