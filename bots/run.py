"""``bridge run``: every enabled front-end in one process, until SIGTERM or SIGINT; SIGHUP reloads.

Start-up refuses (:class:`StartupError`, one line) what only an edit fixes: an SQLite file it
cannot write, a store that refuses the settings, a backend whose credentials or ids are refused, a
port in use. What may pass (a store that does not answer within ``run.startup_timeout``) is a
:class:`StartupUnavailable`. An upstream it cannot reach yet is only a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from bots.check import stream_hosts_problem
from bots.dashboard import OperatorPage
from bots.frontend import FrontEnd, StartupError, StartupUnavailable
from bots.health import HealthServer
from bots.heap import settle_heap
from bots.reload import reload_settings
from bots.runtime import Runtime, open_runtime
from core.backends.base import Backend
from core.config import Settings, StoreSettings
from core.errors import (
    Misconfigured,
    StoreFull,
    StoreRefused,
    StoreUnavailable,
    Unauthorized,
    UpstreamError,
)
from core.logs import Redactor
from core.store.base import Store

log = logging.getLogger("bridge")

STORE_RETRY = 1.0  # seconds between two tries of a store that does not answer yet


def make_frontends(rt: Runtime) -> list[FrontEnd]:
    """The front-ends the settings enable; each reads its section of the live settings."""
    frontends: list[FrontEnd] = []
    if rt.settings.telegram.enabled:
        from bots.telegram.frontend import TelegramFrontEnd

        telegram = rt.live.view(lambda s: s.telegram)
        frontends.append(TelegramFrontEnd(telegram, rt.bridge, rt.store))
    if rt.settings.discord.enabled:
        from bots.discord.frontend import DiscordFrontEnd

        frontends.append(DiscordFrontEnd(rt.live.view(lambda s: s.discord), rt.bridge, rt.store))
    return frontends


async def run(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    config_path: Path | None = None,
    redactor: Redactor | None = None,
) -> None:
    """Run until ``stop`` is set (by a signal when not given), then shut down gracefully.

    With ``config_path``, SIGHUP re-reads that file and puts it in force for the next message.
    """
    if not (settings.telegram.enabled or settings.discord.enabled):
        raise StartupError("no front-end enabled: set telegram.enabled or discord.enabled to true")
    stop = stop or _stop_on_signals()
    reloads: set[asyncio.Task[bool]] = set()
    with sole_user(settings.store):
        await _serve(settings, stop, config_path, redactor, reloads)


async def _serve(
    settings: Settings,
    stop: asyncio.Event,
    config_path: Path | None,
    redactor: Redactor | None,
    reloads: set[asyncio.Task[bool]],
) -> None:
    async with open_runtime(settings) as rt:
        started: list[FrontEnd] = []
        if config_path is not None:  # early: SIGHUP's default action would end the process
            _reload_on_sighup(rt, config_path, redactor, reloads, started)
        health: HealthServer | None = None
        operator_page: OperatorPage | None = None
        try:
            if not await wait_for_store(rt.store, settings, stop):
                log.info("stopped before the store answered")
                return
            await check_backends(rt.backends, settings.run.startup_timeout)
            for name, backend in settings.backends.items():
                if problem := stream_hosts_problem(name, backend):
                    log.warning(problem)
            frontends = make_frontends(rt)
            if settings.dashboard.enabled:
                operator_page = await OperatorPage.start(rt, frontends, redactor)
            if settings.health.enabled:
                health = HealthServer(
                    store=rt.store,
                    frontends=frontends,
                    metrics=rt.metrics,
                    host=settings.health.host,
                    port=settings.health.port,
                    dashboard=operator_page.dashboard if operator_page else None,
                )
                await health.start()
                log.info("health and metrics on http://%s:%d", settings.health.host, health.port)
            for frontend in frontends:
                await frontend.start()
                started.append(frontend)
                rt.recovery.add_platform(frontend.name, frontend.surface_for)
                rt.alerts.add_platform(frontend.name, frontend.tell_admin)
                log.info("%s front-end started", frontend.name)
            # What a stopped process left in the journal: finished now and whenever found.
            rt.recovery.start()
            settle_heap()  # start-up's objects are built: the collector leaves them alone
            log.info("bridge running")
            await stop.wait()
            grace = rt.live.current.run.grace_period
            log.info("shutting down: finishing replies (up to %.0fs)", grace)
            await rt.recovery.stop()
            await rt.relay.drain(grace, also=rt.recovery.in_flight)
        finally:
            await rt.recovery.stop()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            for frontend in reversed(started):
                with contextlib.suppress(Exception):
                    await frontend.stop()
            if health is not None:
                await health.stop()
            if operator_page is not None:
                await operator_page.stop()
    log.info("bridge stopped")


@contextlib.contextmanager
def sole_user(store: StoreSettings) -> Iterator[None]:
    """With the SQLite file, an exclusive lock on it for as long as this process runs: the file
    serves one process, so a second `bridge run` on it is refused (the kernel drops the lock
    when a process dies, even by SIGKILL). Redis needs no lock."""
    if store.url:
        yield
        return
    try:
        fd = os.open(store.path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield  # wait_for_store names the path and the reason
        return
    try:
        try:
            # flock, not fcntl: SQLite's own locks are fcntl locks, which this one leaves alone.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StartupError(
                f"store.path: another bridge run is using {store.path}; the SQLite file serves "
                "one process (stop the other, or give each its own path, or use Redis)"
            ) from None
        yield
    finally:
        # Closed only once the store is: closing a descriptor of the file would drop SQLite's
        # locks of this process too.
        os.close(fd)


async def wait_for_store(store: Store, settings: Settings, stop: asyncio.Event) -> bool:
    """Until the store answers (True) or ``stop`` is set (False): Redis is retried up to
    ``run.startup_timeout`` (compose may start it a moment later); an SQLite file that cannot
    be written is refused at once."""
    loop = asyncio.get_running_loop()
    timeout = settings.run.startup_timeout
    deadline = loop.time() + timeout
    warned = False
    while True:
        try:
            log.info("store: %s", await store.ping())
            return True
        except StoreFull as exc:  # keys expiring may free memory: a later start may serve
            raise StartupUnavailable(str(exc)) from None
        except StoreRefused as exc:
            raise StartupError(str(exc)) from None
        except StoreUnavailable as exc:
            if not settings.store.url:
                cause = exc.__cause__ or exc
                raise StartupError(
                    f"store.path: cannot open {settings.store.path} for writing ({cause})"
                ) from None
            if loop.time() + STORE_RETRY > deadline:
                raise StartupUnavailable(
                    f"store.url: the store did not answer within {timeout:g}s ({exc})"
                ) from None
            if not warned:
                log.warning("store not answering yet (%s); retrying for up to %gs", exc, timeout)
                warned = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STORE_RETRY):
                await stop.wait()
        if stop.is_set():
            return False


async def check_backends(backends: Mapping[str, Backend], within: float) -> None:
    """Refuse a backend whose credentials or ids the upstream refuses; warn about one it cannot
    reach (users get a notice until it answers)."""

    for name, backend in backends.items():
        try:
            async with asyncio.timeout(within):
                log.info("backend %s: %s", name, await backend.check())
        except Unauthorized:
            raise StartupError(
                f"backends.{name}.token: the {backend.kind} API refused the credentials"
            ) from None
        except Misconfigured as exc:
            raise StartupError(str(exc)) from None
        except TimeoutError:
            log.warning("backend %s: no answer within %gs; starting anyway", name, within)
        except UpstreamError as exc:
            log.warning("backend %s: %s; starting anyway", name, exc or exc.kind)


def _reload_on_sighup(
    rt: Runtime,
    path: Path,
    redactor: Redactor | None,
    tasks: set[asyncio.Task[bool]],
    frontends: Sequence[FrontEnd],
) -> None:
    """On SIGHUP: reload ``path``; once in force, tell the front-ends started so far."""

    async def reload_and_tell() -> bool:
        if not await reload_settings(path, rt.live, rt.backends, redactor):
            return False
        for frontend in list(frontends):
            try:
                await frontend.settings_reloaded()
            except Exception:
                log.exception("%s: could not apply the reloaded config", frontend.name)
        return True

    def reload() -> None:
        log.info("SIGHUP: reloading %s", path)
        task = asyncio.create_task(reload_and_tell())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    with contextlib.suppress(NotImplementedError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
