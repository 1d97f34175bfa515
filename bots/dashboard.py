"""The operator's page on the health listener: /dashboard, /dashboard/data (JSON) and
/dashboard/login, every one behind the dashboard token.

A visitor signs in once with the token and gets a cookie holding its expiry signed with the
token (HMAC), so an expired or forged cookie fails and changing the token signs everyone out;
scripts send ``Authorization: Bearer <token>``. Tokens are compared in constant time and never
logged (the health listener keeps no access log).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from bots.dashboard_page import login_page, page, render_sections
from bots.frontend import FrontEnd
from bots.runtime import Runtime, version
from core.activity import (
    Activity,
    PlanUse,
    ProcessView,
    Setup,
    Snapshot,
    TroubleLog,
    read_plans,
    read_setup,
    read_snapshot,
)
from core.config import Settings
from core.errors import StoreUnavailable
from core.logs import Redactor
from core.metrics import Metrics
from core.store.base import Store

COOKIE = "bridge_dashboard"
SESSION_SECONDS = 12 * 3600
SETUP_EVERY = 60.0  # the setup figures scan every channel's settings: read at most this often
INVALID_REQUESTS_METRIC = "bridge_discord_invalid_requests"
"""The invalid-request guard's gauge, where a process exports one."""


def session_cookie(token: str, expires: int) -> str:
    """A cookie value good until ``expires`` (unix time): the expiry and its HMAC."""
    mac = hmac.new(token.encode(), f"dashboard:{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def cookie_valid(token: str, value: str, now: float) -> bool:
    """True for a cookie :func:`session_cookie` made with ``token`` that has not expired."""
    expires, _, _ = value.partition(".")
    if not expires.isdigit() or int(expires) <= now:
        return False
    return hmac.compare_digest(value.encode(), session_cookie(token, int(expires)).encode())


def bearer_valid(token: str, header: str) -> bool:
    """True for ``Authorization: Bearer <token>``."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


PlansReader = Callable[[float], Awaitable[Sequence[PlanUse]]]
"""Each plan's use at a time (unix seconds)."""


class Dashboard:
    """The page's routes and their access check."""

    def __init__(
        self,
        *,
        store: Store,
        token: str,
        language: str,
        version: str,
        plans: PlansReader | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._token = token
        self._language = language
        self._version = version
        self._plans = plans
        self._clock = clock
        self._setup: tuple[float, Setup] | None = None

    def add_routes(self, app: web.Application) -> None:
        """Put the page's routes on the health listener's app."""
        app.router.add_get("/dashboard", self._page)
        app.router.add_get("/dashboard/data", self._data)
        app.router.add_get("/dashboard/login", self._login_form)
        app.router.add_post("/dashboard/login", self._login)

    def allowed(self, request: web.Request) -> bool:
        """A valid session cookie or bearer token."""
        cookie = request.cookies.get(COOKIE, "")
        if cookie and cookie_valid(self._token, cookie, self._clock()):
            return True
        header = request.headers.get("Authorization", "")
        return bool(header) and bearer_valid(self._token, header)

    async def snapshot(self) -> Snapshot:
        """The figures, all read from the store."""
        now = self._clock()
        if self._setup is None or self._setup[0] < now:
            setup = await read_setup(self._store, language=self._language, version=self._version)
            self._setup = (now + SETUP_EVERY, setup)
        plans = await self._plans(now) if self._plans is not None else ()
        return await read_snapshot(self._store, self._setup[1], plans, now=now)

    async def _page(self, request: web.Request) -> web.Response:
        if not self.allowed(request):
            return _refused()
        try:
            snapshot = await self.snapshot()
        except StoreUnavailable:
            return web.Response(status=503, text="store unreachable\n")
        return web.Response(text=page(snapshot), content_type="text/html", headers=_PRIVATE)

    async def _data(self, request: web.Request) -> web.Response:
        if not self.allowed(request):
            return _refused()
        try:
            snapshot = await self.snapshot()
        except StoreUnavailable:
            return web.json_response({"error": "store unreachable"}, status=503)
        body = {"snapshot": snapshot.to_dict(), "sections": render_sections(snapshot)}
        return web.json_response(body, headers=_PRIVATE)

    async def _login_form(self, request: web.Request) -> web.Response:
        if self.allowed(request):
            raise web.HTTPSeeOther("/dashboard")
        return _refused()

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not hmac.compare_digest(
            given.strip().encode(), self._token.encode()
        ):
            return _refused(failed=True)
        expires = int(self._clock()) + SESSION_SECONDS
        response = web.Response(status=303, headers={"Location": "/dashboard"})
        response.set_cookie(
            COOKIE,
            session_cookie(self._token, expires),
            max_age=SESSION_SECONDS,
            path="/dashboard",
            httponly=True,
            samesite="Strict",
            # Behind a TLS proxy the browser must never send it over plain HTTP.
            secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https",
        )
        return response


# The page shows who uses the bot: no cache keeps it, no other site frames it.
_PRIVATE = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; img-src 'self'",
}


def _refused(*, failed: bool = False) -> web.Response:
    """401 with the sign-in form."""
    return web.Response(
        status=401,
        text=login_page(failed),
        content_type="text/html",
        headers={**_PRIVATE, "WWW-Authenticate": 'Bearer realm="bridge dashboard"'},
    )


def process_view(
    name: str,
    frontends: Sequence[FrontEnd],
    metrics: Metrics,
    *,
    role: str,
    version: str,
    started: float,
) -> ProcessView:
    """This process as its beat describes it: front-end parts, replies streaming, 429s met."""
    registry = metrics.registry
    throttled = _total(metrics, "bridge_flood_waits_total") + _total(
        metrics, "bridge_upstream_errors_total", kind="throttled"
    )
    guard = registry.get_sample_value(INVALID_REQUESTS_METRIC)
    return ProcessView(
        name=name,
        parts=[(part, bool(up)) for f in frontends for part, up in f.status()],
        role=role,
        streaming=int(registry.get_sample_value("bridge_replies_in_flight") or 0),
        throttled=int(throttled),
        invalid_requests=None if guard is None else int(guard),
        version=version,
        started=started,
    )


def _total(metrics: Metrics, sample: str, **labels: str) -> float:
    """The sum of a counter's samples over every label set matching ``labels``."""
    return sum(
        s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


class OperatorPage:
    """With ``dashboard.enabled``: the page to serve, and this process reporting its activity
    (beats, its warnings and errors as trouble lines) to the store meanwhile."""

    def __init__(self, dashboard: Dashboard, activity: Activity, log: TroubleLog) -> None:
        self.dashboard = dashboard
        self.activity = activity
        self._log = log

    @classmethod
    async def start(
        cls, rt: Runtime, frontends: Sequence[FrontEnd], redactor: Redactor | None = None
    ) -> OperatorPage:
        """Start reporting; the caller serves :attr:`dashboard` and calls :meth:`stop`."""
        settings, started, ours = rt.settings, time.time(), version()
        role = role_of(settings)

        def describe() -> ProcessView:
            return process_view(
                rt.process, frontends, rt.metrics, role=role, version=ours, started=started
            )

        def plans(now: float) -> Awaitable[list[PlanUse]]:
            # The limits in force: a reload changes the page's plans with the next look.
            return read_plans(rt.store, rt.live.current.allowances, now)

        trouble_log = TroubleLog(rt.activity, redactor)
        logging.getLogger().addHandler(trouble_log)
        await rt.activity.start(describe)
        dashboard = Dashboard(
            store=rt.store,
            token=settings.dashboard.token.get_secret_value().strip(),
            language=settings.notices.language,
            version=ours,
            plans=plans,
        )
        return cls(dashboard, rt.activity, trouble_log)

    async def stop(self) -> None:
        """Stop reporting."""
        logging.getLogger().removeHandler(self._log)
        await self.activity.stop()


def role_of(settings: Settings) -> str:
    """What this process does, as the page lists it."""
    roles = []
    if settings.telegram.enabled:
        roles.append(f"telegram {settings.telegram.mode}")
    if settings.discord.enabled:
        ids = settings.discord.shard_ids
        roles.append(f"discord shards {','.join(map(str, ids))}" if ids else "discord")
    return ", ".join(roles)
