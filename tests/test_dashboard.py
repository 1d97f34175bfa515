"""The operator's page over HTTP: access (token, cookie, bearer, 404 when off) on a real
listener, and figures that match the messages sent through the fakes."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from bots import dashboard_page
from bots.dashboard import COOKIE, Dashboard, cookie_valid, session_cookie
from bots.health import HealthServer
from core.activity import (
    TEXT_LIMIT,
    Activity,
    PlanUse,
    Setup,
    Snapshot,
    TroubleLine,
    TroubleLog,
    plan_use,
)
from core.allowances import plan_meter
from core.logs import Redactor
from core.metrics import Metrics
from core.model import Meter, MeterScope, Usage, Window
from core.store.base import TopUsage
from core.store.sqlite import SqliteStore
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import ALICE, BOB, converse, free_port, page_on_fakes, running_bridge
from tests.harness import PAGE_TOKEN as TOKEN
from tests.harness.contract_stores import admit_args

GRAFANA = "deploy/grafana/bridge.json"


@contextlib.asynccontextmanager
async def listener(tmp_path: Path, *, enabled: bool = True) -> AsyncIterator[str]:
    """The health listener on a free port, with the page when ``enabled``; its base URL."""
    store = SqliteStore(tmp_path / "page.db")
    page = Dashboard(store=store, token=TOKEN, language="en", version="9.9") if enabled else None
    server = HealthServer(
        store=store, frontends=[], metrics=Metrics(), host="127.0.0.1", port=0, dashboard=page
    )
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()
        await store.aclose()


def test_a_session_cookie_is_good_until_it_expires_and_only_with_its_token() -> None:
    now = time.time()
    value = session_cookie(TOKEN, int(now) + 60)
    assert cookie_valid(TOKEN, value, now)
    assert not cookie_valid(TOKEN, value, now + 61)  # expired
    assert not cookie_valid("another-token-0123456789", value, now)  # the token changed
    expires, _, mac = value.partition(".")
    assert not cookie_valid(TOKEN, f"{int(expires) + 3600}.{mac}", now)  # a longer life, forged
    assert not cookie_valid(TOKEN, "", now)
    assert not cookie_valid(TOKEN, "x.y", now)


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/data", "/dashboard/login"])
async def test_every_page_url_wants_the_token(tmp_path: Path, path: str) -> None:
    expired = session_cookie(TOKEN, int(time.time()) - 1)
    forged = session_cookie("not-the-token-123", 2**40)
    attempts: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {}),
        ({"Authorization": "Bearer wrong-token-0123456789"}, {}),
        ({"Authorization": f"Basic {TOKEN}"}, {}),
        ({}, {COOKIE: expired}),
        ({}, {COOKIE: forged}),
    ]
    refusals = []
    async with listener(tmp_path) as base:
        for headers, cookies in attempts:
            async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
                refusals.append(await client.get(path, headers=headers))
    for refused in refusals:
        assert refused.status_code == 401
        assert '<form method="post" action="/dashboard/login">' in refused.text
        assert TOKEN not in refused.text


async def test_sign_in_sets_a_strict_http_only_cookie_that_opens_the_page(tmp_path: Path) -> None:
    async with listener(tmp_path) as base, httpx.AsyncClient(base_url=base) as client:
        wrong = await client.post("/dashboard/login", data={"token": "guess-guess-guess-1"})
        assert wrong.status_code == 401 and "not right" in wrong.text
        signed_in = await client.post("/dashboard/login", data={"token": TOKEN})
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/dashboard"
        cookie = signed_in.headers["set-cookie"]
        assert f"{COOKIE}=" in cookie and TOKEN not in cookie
        for flag in ("HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age="):
            assert flag in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback: a Secure cookie would not return
        async with httpx.AsyncClient(base_url=base) as behind_tls:
            proxied = await behind_tls.post(
                "/dashboard/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"}
            )
        assert "Secure" in proxied.headers["set-cookie"]
        page = await client.get("/dashboard")  # the client sends the cookie back
        assert page.status_code == 200
        assert '<svg id="usage-chart"' in page.text and "<script>" in page.text
        assert "http://" not in page.text and "https://" not in page.text  # nothing from afar
        data = await client.get("/dashboard/data")
        assert data.status_code == 200
        assert set(data.json()["sections"]) == {"now", "usage", "trouble", "setup"}
        again = await client.get("/dashboard/login")
        assert again.status_code == 303


async def test_a_bearer_token_works_for_scripts(tmp_path: Path) -> None:
    async with listener(tmp_path) as base, httpx.AsyncClient(base_url=base) as client:
        data = await client.get("/dashboard/data", headers={"Authorization": f"Bearer {TOKEN}"})
    assert data.status_code == 200
    assert data.json()["snapshot"]["setup"]["version"] == "9.9"


async def test_disabled_the_routes_do_not_exist(tmp_path: Path) -> None:
    async with listener(tmp_path, enabled=False) as base, httpx.AsyncClient(base_url=base) as c:
        for path in ("/dashboard", "/dashboard/data", "/dashboard/login"):
            assert (
                await c.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            ).status_code == 404
        assert (await c.post("/dashboard/login", data={"token": TOKEN})).status_code == 404
        assert (await c.get("/healthz")).status_code == 200


async def test_the_figures_match_the_messages_sent_through_the_fakes(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with page_on_fakes(tg, aurora, redis_url, prefix) as env:
        await converse(env)
        data = await env.data()

        assert data["usage_totals"] == {"luna": 4}
        assert sum(data["usage"]["luna"]) == 4
        assert len(data["hours"]) == 48
        top = data["top"]
        assert top["channels"] == [[f"tg:{ALICE}", 3], [f"tg:{BOB}", 1]]
        assert top["users"] == [[f"tg:{ALICE}", 3], [f"tg:{BOB}", 1]]
        (process,) = data["processes"]
        assert process["name"] == env.rt.process
        assert process["role"] == "telegram polling"
        assert process["parts"] == [["telegram", True]]
        assert data["streaming"] == 0 and data["queues"] == {} and data["paused"] == {}
        assert data["setup"]["bindings"] == {"luna": 2}
        assert data["setup"]["language"] == "en"
        assert data["plans"] == []

        # A reply streaming now, and an upstream error: both on the page at the next look.
        aurora.reply_with("slowly " * 20, chunk_size=4, chunk_delay=0.1)
        env.tg.user_says(ALICE, "tell me slowly", user_id=ALICE)
        await env.tg.wait_for(lambda: env.rt.metrics.in_flight._value.get() == 1)
        streaming = await env.data()
        assert streaming["streaming"] == 1
        assert streaming["queues"] == {f"tg:{ALICE}": 1}
        await env.tg.wait_for(lambda: env.rt.relay.in_flight == 0)

        aurora.fail_next(401)
        env.tg.user_says(BOB, "secret prompt that must not show", user_id=BOB)
        await env.tg.wait_for(lambda: len(env.tg.chat_texts(BOB)) == 2)
        await env.tg.wait_for(lambda: env.rt.relay.in_flight == 0)
        after = await env.data()
        kinds = [line["kind"] for line in after["trouble"]]
        assert "upstream unauthorized" in kinds, after["trouble"]
        assert after["trouble_counts"]["upstream unauthorized"] == 1
        assert "secret prompt" not in str(after) and TOKEN not in str(after)
        assert after["usage_totals"] == {"luna": 6}


async def test_the_page_shows_each_plan_s_use_from_the_store(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    plan = {"backends": {"luna": "100/1d"}}
    async with page_on_fakes(tg, aurora, redis_url, prefix, allowances=plan) as env:
        assert [p["used"] for p in (await env.data())["plans"]] == [0]
        store = env.rt.store
        meter = plan_meter("luna", env.rt.settings.allowances, time.time())
        for n in range(3):
            args = admit_args(channel=f"tg:{n}", message_id=f"m{n}")
            assert (await store.admit(**args, meters=[meter])).turn
        await store.grant(meter, 50)
        (luna,) = (await env.data())["plans"]
    shown = (luna["backend"], luna["used"], luna["allowance"], luna["window"])
    assert shown == ("luna", 3, 150, "1d")


def test_plan_use_adds_the_grant_and_forecasts_the_day_it_runs_out() -> None:
    day = Window("1d", 86_400.0 * 20_000, 86_400.0 * 20_001)
    meter = Meter(MeterScope.PLAN, "luna", 100, day)
    noon = day.start + 43_200
    assert plan_use(meter, Usage(used=10), noon) == PlanUse("luna", 10, 100, "1d", None)
    # 60 of 100 by noon: the rest goes by 20:00 at that pace; 50 more granted make it last.
    assert plan_use(meter, Usage(used=60), noon).runs_out == day.start + 72_000
    assert plan_use(meter, Usage(used=60, granted=50), noon) == PlanUse("luna", 60, 150, "1d", None)


async def test_a_notice_to_a_chat_shows_under_trouble(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    one_a_minute = {"rate_limit_messages": 1, "rate_limit_window": 60.0}
    async with page_on_fakes(tg, aurora, redis_url, prefix, relay=one_a_minute) as env:
        env.tg.user_says(BOB, "hello", user_id=BOB)
        await env.tg.wait_for(lambda: len(env.tg.chat_texts(BOB)) == 1)
        env.tg.user_says(BOB, "a prompt the page must not show", user_id=BOB)
        await env.tg.wait_for(lambda: len(env.tg.chat_texts(BOB)) == 2)
        await env.tg.wait_for(lambda: env.rt.relay.in_flight == 0)
        data = await env.data()
    (notice,) = [line for line in data["trouble"] if line["kind"].startswith("notice ")]
    assert notice["kind"] == "notice rate_limited" and notice["chat"] == f"tg:{BOB}"
    assert notice["text"] == tg.chat_texts(BOB)[1]  # the English text, as the chat read it
    assert data["trouble_counts"][notice["kind"]] == 1
    assert "a prompt" not in str(data)


def test_the_grafana_dashboard_reads_only_metrics_we_export() -> None:
    board = json.loads((Path(__file__).resolve().parent.parent / GRAFANA).read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    used = {name for e in exprs for name in re.findall(r"\bbridge_[a-z_]+", e)}
    metrics = Metrics()
    metrics.first_chunk_seconds.labels("luna").observe(0.1)
    metrics.first_visible_seconds.labels("telegram").observe(0.1)
    metrics.messages.labels("telegram", "luna", "replied").inc()
    metrics.upstream_messages.labels("luna", "telegram").inc()
    metrics.allowance_refusals.labels("user").inc()
    metrics.upstream_errors.labels("luna", "throttled").inc()
    metrics.edits.labels("telegram").inc()
    metrics.flood_waits.labels("telegram").inc()
    metrics.watch_invalid_requests(lambda: 0)  # a process running Discord
    exported = {s.name for family in metrics.registry.collect() for s in family.samples}
    assert used and used <= exported, used - exported
    # Every exported family shows somewhere.
    families = {f.name for f in metrics.registry.collect()}
    assert all(any(name.startswith(f) for name in used) for f in families), families


async def test_trouble_lines_are_short_scrubbed_and_only_the_bridge_s_own(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "trouble.db")
    activity = Activity(store)
    handler = TroubleLog(activity, Redactor(["sk-secret-0123456789"]))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("core.relay").warning(
            "upstream throttled: key sk-secret-0123456789 said %s",
            "x" * 500,
            extra={"channel": "tg:7"},
        )
        logging.getLogger("bots.discord.frontend").error("shard 1 lost its session")
        logging.getLogger("core.relay").info("message replied")  # not trouble
        logging.getLogger("httpx").warning("a library's own warning")  # not ours
    finally:
        root.removeHandler(handler)
    await activity.report()
    texts, kinds = await store.trouble(50)
    await store.aclose()
    lines = [TroubleLine.from_json(t) for t in texts]
    assert [(t.kind, t.chat) for t in lines] == [("discord", ""), ("upstream throttled", "tg:7")]
    assert kinds == {"discord": 1, "upstream throttled": 1}
    text = lines[1].text
    assert "sk-secret" not in text and "***" in text and len(text) == TEXT_LIMIT


async def test_every_process_shows_the_same_page(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with (
        page_on_fakes(tg, aurora, redis_url, prefix) as first,
        page_on_fakes(tg, aurora, redis_url, prefix) as second,
    ):
        await converse(first)
        await tg.wait_for(lambda: second.rt.relay.in_flight == 0)
        seen = [await first.data(), await second.data()]
        for data in seen:
            assert data["usage_totals"] == {"luna": 4}
            processes = {p["name"]: p["parts"] for p in data["processes"]}
            assert processes.keys() == {first.rt.process, second.rt.process}
            # One process polls Telegram, the other stands by to take over.
            assert sorted(map(str, processes.values())) == [
                "[['telegram (standing by)', True]]",
                "[['telegram', True]]",
            ]
        assert seen[0]["top"] == seen[1]["top"]


async def test_bridge_run_serves_the_page_and_keeps_the_token_out_of_its_logs(
    run_config: Callable[..., str], tmp_path: Path, cody: CodyFake
) -> None:
    port = free_port()
    extra = (
        f"\n[health]\nenabled = true\nport = {port}\n"
        f'[dashboard]\nenabled = true\ntoken = "{TOKEN}"\n[log]\nlevel = "DEBUG"\n'
    )
    async with FakeTelegram() as tg:
        config = tmp_path / "config.toml"
        config.write_text(run_config(tg=tg, extra=extra))
        async with running_bridge("run", "--config", str(config)) as proc:
            tg.user_says(ALICE, "hello", user_id=ALICE)
            await tg.wait_for(lambda: len(tg.chat_texts(ALICE)) == 1, within=30)
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                assert (await client.get("/dashboard")).status_code == 401
                data = (await client.get("/dashboard/data", headers=bearer)).json()["snapshot"]
            assert data["usage_totals"] == {"assistant": 1}
            (process,) = data["processes"]
            assert process["role"] == "telegram polling" and process["version"]
            code = await proc.stop(within=30)
        assert code == 0, "\n".join(proc.lines[-40:])
        assert TOKEN not in proc.log + "\n".join(proc.stdout)


def test_the_page_renders_plans_two_backends_and_escapes_what_users_wrote() -> None:
    now = 1_765_000_000.0
    hours = list(range(int(now // 3600) - 47, int(now // 3600) + 1))
    snapshot = Snapshot(
        at=now,
        processes=[],
        queues={"dc:<b>": 2},
        paused={"luna": now + 600},
        hours=hours,
        usage={"assistant": [1] * 48, "luna": [0] * 47 + [3]},
        top=TopUsage(channels=[("dc:<img src=x>", 5)], users=[]),
        trouble=[TroubleLine(now, "notice", "tg:1", "<script>alert(1)</script>")],
        trouble_counts={"notice": 1},
        setup=Setup({"luna": 1}, {"all": 1}, {}, "de", "1.2.3"),
        plans=[PlanUse("luna", 900, 1000, "day", now + 3600)],
    )
    html = dashboard_page.page(snapshot)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "<b>" not in html
    assert 'data-total="51"' in html  # 48 + 3, stacked
    assert html.count('data-backend="luna" data-count="3"') == 1
    assert "900 / 1000" in html and "Plan use" in html
    assert "luna</strong> until" in html
