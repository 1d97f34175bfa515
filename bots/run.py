"""``bridge run``: every enabled front-end in one process, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bots.frontend import FrontEnd, StartupError
from bots.health import HealthServer
from bots.runtime import Runtime, open_runtime
from core.config import Settings

log = logging.getLogger("bridge")


def make_frontends(rt: Runtime) -> list[FrontEnd]:
    """The front-ends the settings enable."""
    frontends: list[FrontEnd] = []
    if rt.settings.telegram.enabled:
        from bots.telegram.frontend import TelegramFrontEnd

        frontends.append(TelegramFrontEnd(rt.settings.telegram, rt.relay, rt.store))
    if rt.settings.discord.enabled:
        from bots.discord.frontend import DiscordFrontEnd

        frontends.append(DiscordFrontEnd(rt.settings.discord, rt.relay, rt.store))
    return frontends


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (by a signal when not given), then shut down gracefully."""
    if not (settings.telegram.enabled or settings.discord.enabled):
        raise StartupError("no front-end enabled: set telegram.enabled or discord.enabled to true")
    stop = stop or _stop_on_signals()
    async with open_runtime(settings) as rt:
        frontends = make_frontends(rt)
        health: HealthServer | None = None
        started: list[FrontEnd] = []
        try:
            for frontend in frontends:
                await frontend.start()
                started.append(frontend)
                log.info("%s front-end started", frontend.name)
            if settings.health.enabled:
                health = HealthServer(
                    store=rt.store,
                    frontends=frontends,
                    metrics=rt.metrics,
                    host=settings.health.host,
                    port=settings.health.port,
                )
                await health.start()
                log.info("health and metrics on http://%s:%d", settings.health.host, health.port)
            log.info("bridge running")
            await stop.wait()
            log.info("shutting down: finishing replies (up to %.0fs)", settings.run.grace_period)
            await rt.relay.drain(settings.run.grace_period)
        finally:
            for frontend in reversed(started):
                with contextlib.suppress(Exception):
                    await frontend.stop()
            if health is not None:
                await health.stop()
    log.info("bridge stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
