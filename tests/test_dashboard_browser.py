"""The operator's page in a real headless Chromium (the distribution's package, driven by
Playwright): sign in, find the chart, check its numbers against the messages sent through the
fakes, watch the page refresh itself, and keep a screenshot in tests/artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import ALICE, BOB, PAGE_TOKEN, converse, page_on_fakes

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def chromium() -> str:
    """The distribution's Chromium (.ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("no chromium on PATH: install the distribution's package (see .ci/run)")
    return found


async def test_the_page_in_a_real_browser(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with page_on_fakes(tg, aurora, redis_url, prefix) as env:
        await converse(env)
        await env.page.activity.report()
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(
                executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 1100})
                requested: list[str] = []
                page.on("request", lambda request: requested.append(request.url))

                refused = await page.goto(f"{env.base_url}/dashboard")
                assert refused is not None and refused.status == 401
                await page.fill("input[name=token]", PAGE_TOKEN)
                await page.click("button[type=submit]")
                chart = page.locator("svg#usage-chart")
                await chart.wait_for()

                assert await chart.get_attribute("data-total") == "4"
                bars = chart.locator("rect[data-backend=luna]")
                counts = [int(await b.get_attribute("data-count") or 0) for b in await bars.all()]
                assert sum(counts) == 4
                assert await page.locator(".total[data-backend=luna]").inner_text() == "4"
                channels = await page.locator("#top-channels").inner_text()
                assert f"tg:{ALICE}\t3" in channels and f"tg:{BOB}\t1" in channels
                assert await page.locator("[data-figure=processes]").inner_text() == "1"
                assert env.rt.process in await page.locator("#now").inner_text()

                # Our few lines of script refresh the sections from /dashboard/data.
                env.tg.user_says(BOB, "one more", user_id=BOB)
                await env.tg.wait_for(lambda: len(env.tg.chat_texts(BOB)) == 2)
                await env.tg.wait_for(lambda: env.rt.relay.in_flight == 0)
                # (A selector, not a script: the page's CSP forbids evaluating strings.)
                await page.wait_for_selector("svg#usage-chart[data-total='5']", timeout=30_000)
                assert await page.locator(".total[data-backend=luna]").inner_text() == "5"

                # An upstream refusal shows under Trouble at the next refresh.
                aurora.fail_next(401)
                env.tg.user_says(ALICE, "and now?", user_id=ALICE)
                await env.tg.wait_for(lambda: len(env.tg.chat_texts(ALICE)) == 4)
                await env.tg.wait_for(lambda: env.rt.relay.in_flight == 0)
                await env.page.activity.report()
                kind = page.locator("#trouble [data-kind='upstream unauthorized']")
                await kind.wait_for(timeout=30_000)
                assert await kind.inner_text() == "1"

                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
                # Nothing came from anywhere but the bridge itself (no CDN, no web fonts).
                assert requested and all(url.startswith(env.base_url) for url in requested)
            finally:
                await browser.close()
