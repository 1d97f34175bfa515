"""Telegram's webhook, served by us: the secret is checked on every request, and Telegram's POST
is answered only once the update is safely recorded, so a crash in between makes Telegram redeliver
it instead of losing it (python-telegram-bot's own server answers before the update is handled).

Several processes may each run one behind a load balancer; updates are de-duplicated in the store.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from bots.listen import listen

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1 << 20  # an update is a few KiB; Telegram never sends more than this
ANSWER_WITHIN = 50.0  # Telegram gives up on a webhook call after about a minute

# Handles one update (its JSON body); sets the event once the update is recorded or refused.
UpdateHandler = Callable[[dict[str, object], asyncio.Event], Coroutine[Any, Any, None]]


class WebhookServer:
    """An aiohttp listener on ``listen:port`` taking Telegram's POSTs at ``path``."""

    def __init__(
        self, *, listen: str, port: int, path: str, secret: str, handle: UpdateHandler
    ) -> None:
        self._listen = listen
        self._port = port
        self._path = "/" + path.lstrip("/")
        self._secret = secret.encode()
        self._handle = handle
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        """True while listening."""
        return self._runner is not None

    async def start(self) -> None:
        """Listen; a port that cannot be bound is a StartupError naming telegram.webhook.port."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self._path, self._update)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        await listen(runner, self._listen, self._port, "telegram.webhook.port")
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening; updates being handled keep running (the relay drains them)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _update(self, request: web.Request) -> web.Response:
        token = request.headers.get(SECRET_HEADER)
        if token is None:
            return web.Response(status=401, text="secret token missing\n")
        if not hmac.compare_digest(token.encode(), self._secret):
            return web.Response(status=403, text="wrong secret token\n")
        try:
            body = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="not JSON\n")
        if not isinstance(body, dict) or not isinstance(body.get("update_id"), int):
            return web.Response(status=400, text="not an update\n")
        recorded = asyncio.Event()
        task = asyncio.create_task(self._handle(body, recorded), name="telegram-update")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        waiter = asyncio.create_task(recorded.wait())
        try:
            await asyncio.wait(
                {task, waiter}, timeout=ANSWER_WITHIN, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        if recorded.is_set() or task.done():
            return web.Response(text="ok\n")
        # Not recorded in time (the store is slow): Telegram will deliver it again, and the
        # store's de-duplication keeps the two from both being relayed.
        log.warning("telegram: update %s not recorded in time", body["update_id"])
        return web.Response(status=503, text="not recorded yet\n")

    async def wait_closed(self, within: float) -> None:
        """Until the updates taken so far are handled, at most ``within`` seconds."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)
