"""The optional HTTP listener: /healthz for orchestrators, /metrics for Prometheus, and the
operator's page when it is enabled (:mod:`bots.dashboard`)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bots.dashboard import Dashboard
from bots.frontend import FrontEnd
from bots.listen import listen
from core.config import HealthSettings
from core.errors import StoreUnavailable
from core.metrics import Metrics
from core.store.base import Store

# A part's line on /healthz: up, down, or still starting (a shard queued to IDENTIFY).
_STATE = {True: "connected", False: "down", None: "starting"}


class HealthServer:
    """Serves /healthz (200 or 503 with the reason) and /metrics."""

    def __init__(
        self,
        *,
        store: Store,
        frontends: Sequence[FrontEnd],
        metrics: Metrics,
        host: str,
        port: int,
        dashboard: Dashboard | None = None,
    ) -> None:
        self._store = store
        self._dashboard = dashboard
        self._frontends = frontends
        self._metrics = metrics
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        """Listen (port 0 picks a free port, then ``self.port`` says which); a port already in
        use is a :class:`StartupError` naming ``health.port``."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        if self._dashboard is not None:
            self._dashboard.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        try:
            await listen(self._runner, self._host, self._port, "health.port")
        except BaseException:
            self._runner = None
            raise
        if self._runner.addresses:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def problems(self) -> list[str]:
        """What keeps the bridge from being healthy; empty when all is well."""
        found = []
        try:
            await self._store.ping()
        except StoreUnavailable:
            found.append("store unreachable")
        found.extend(
            f"{part} {'starting' if up is None else 'not connected'}"
            for f in self._frontends
            for part, up in f.status()
            if not up
        )
        return found

    async def _healthz(self, request: web.Request) -> web.Response:
        problems = await self.problems()
        # One line per front-end part (e.g. each Discord shard) after the verdict.
        parts = "".join(
            f"{part}: {_STATE[up]}\n" for f in self._frontends for part, up in f.status()
        )
        guard = self._metrics.registry.get_sample_value("bridge_discord_invalid_requests")
        if guard is not None:  # Discord bans the bot's address at 10,000 in 10 minutes
            parts += f"discord invalid requests (10 min): {int(guard)}\n"
        if problems:
            return web.Response(status=503, text="; ".join(problems) + "\n" + parts)
        return web.Response(text="ok\n" + parts)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        self._metrics.cooldowns.set(len(await self._cooldowns()))
        return web.Response(
            body=self._metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _cooldowns(self) -> dict[str, float]:
        try:
            return await self._store.get_cooldowns()
        except StoreUnavailable:
            return {}


def probe(settings: HealthSettings, timeout: float = 4.0) -> tuple[bool, str]:
    """Ask a running bridge's /healthz at the configured port (``bridge health``, the container's
    health check): (healthy, one line)."""
    if not settings.enabled:
        return False, "health.enabled is false: there is no /healthz to ask"
    wildcard = settings.host in ("", "0.0.0.0", "::")
    host = "127.0.0.1" if wildcard else settings.host
    url = f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return True, answer.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        return False, exc.read().decode(errors="replace").strip() or f"HTTP {exc.code}"
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        why = getattr(reason, "strerror", None) or str(reason)
        return False, f"health.port: nothing answers at {url} ({why})"
