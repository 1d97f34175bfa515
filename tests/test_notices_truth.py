"""Notices promise nothing that did not happen: refused credentials reach the log, not an admin,
so the user is asked to pass it on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bots.runtime import open_runtime
from core.delivery import Outcome
from tests.fakes.aurora import AuroraFake
from tests.harness import RelayChat, aurora_backend, make_settings


async def test_refused_credentials_do_not_claim_an_admin_was_told(
    aurora: AuroraFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        backends={"luna": aurora_backend(aurora, token="a-token-the-api-refuses")},
        store={"path": str(tmp_path / "bridge.db")},
    )
    async with open_runtime(settings) as rt:
        with caplog.at_level(logging.ERROR):
            outcome, surface = await RelayChat(rt).say("hello")
    assert outcome is Outcome.FAILED
    assert len(surface.notices) == 1
    notice = surface.notices[0]
    assert "access was refused" in notice
    assert "has been told" not in notice and "admin know" in notice
    assert any("unauthorized" in r.getMessage() for r in caplog.records)  # what the admin reads
