"""The health listener and the log redactor, on real sockets and a real store."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx

from bots.frontend import FrontEnd
from bots.health import HealthServer
from core.logs import JsonFormatter, Redactor
from core.metrics import Metrics
from core.store.redis import RedisStore
from core.store.sqlite import SqliteStore
from tests.harness import production_logs


class Switch(FrontEnd):
    """A front-end whose connection state the test sets."""

    name = "telegram"

    def __init__(self, connected: bool) -> None:
        self._connected = connected

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def connected(self) -> bool:
        return self._connected


async def test_healthz_and_metrics(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "h.db"))
    metrics = Metrics()
    metrics.messages.labels("telegram", "luna", "replied").inc()
    front = Switch(connected=True)
    server = HealthServer(store=store, frontends=[front], metrics=metrics, host="127.0.0.1", port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            ok = await client.get("/healthz")
            assert (ok.status_code, ok.text) == (200, "ok\ntelegram: connected\n")
            page = await client.get("/metrics")
            assert page.headers["content-type"].startswith("text/plain")
            assert (
                'bridge_messages_total{backend="luna",outcome="replied",platform="telegram"} 1.0'
                in page.text
            )
            front._connected = False
            down = await client.get("/healthz")
            assert down.status_code == 503 and "telegram not connected" in down.text
    finally:
        await server.stop()
        await store.aclose()


async def test_healthz_says_when_the_store_is_unreachable() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", prefix="x")
    server = HealthServer(store=store, frontends=[], metrics=Metrics(), host="127.0.0.1", port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            down = await client.get("/healthz")
            assert down.status_code == 503 and "store unreachable" in down.text
    finally:
        await server.stop()
        await store.aclose()


def test_the_redactor_scrubs_tokens_urls_and_tracebacks() -> None:
    redactor = Redactor(["cody-key-0123456789", "123456:telegram-secret"])
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(redactor)
    log = logging.getLogger("test.redactor")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("calling https://api.telegram.org/bot123456:telegram-secret/getMe")
        log.warning("header Authorization: Bearer abc.def-ghi")
        try:
            raise RuntimeError("key cody-key-0123456789 refused")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "telegram-secret" not in text and "cody-key-0123456789" not in text
    assert "abc.def-ghi" not in text
    assert "RuntimeError" in text  # the traceback is kept, only scrubbed


def test_capability_urls_lose_their_path_on_their_hosts_only() -> None:
    redactor = Redactor(capability_hosts=["stream.example.com", "127.0.0.1:4567"])
    assert redactor.scrub("GET https://stream.example.com/eyJpdiI6abc?x=1 ok") == (
        "GET https://stream.example.com/*** ok"
    )
    assert (
        redactor.scrub("GET http://127.0.0.1:4567/tok123 ok") == "GET http://127.0.0.1:4567/*** ok"
    )
    assert redactor.scrub("GET http://127.0.0.1:4568/api/v1/bots") == (
        "GET http://127.0.0.1:4568/api/v1/bots"
    )
    assert redactor.scrub("https://stream.example.com.evil.org/x") == (
        "https://stream.example.com.evil.org/x"
    )


def test_json_lines_carry_the_channel_and_backend() -> None:
    record = logging.LogRecord(
        "core.relay", logging.INFO, __file__, 1, "message %s", ("replied",), None
    )
    record.channel, record.backend = "tg:1", "luna"
    line = json.loads(JsonFormatter().format(record))
    assert (
        line["msg"] == "message replied" and line["channel"] == "tg:1" and line["backend"] == "luna"
    )


def test_setup_logging_scrubs_what_libraries_log_too() -> None:
    with production_logs(Redactor(["s3cret-token-value"])) as out:
        assert len(logging.getLogger().handlers) == 1
        logging.getLogger("telegram.ext").warning("calling /bots3cret-token-value/getMe")
    assert "s3cret-token-value" not in out.getvalue() and "getMe" in out.getvalue()
