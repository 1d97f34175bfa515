"""SIGHUP re-reads the config: a new admin list and a new backend token apply to the next message
without a restart, a reply in flight finishes, and a config that no longer loads is refused with
one log line while the old one stays (a real `bridge run` process)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import pytest

from bots.reload import reload_settings
from core.backends import build_backends
from core.config import load_settings
from core.live import LiveSettings
from core.logs import Redactor
from core.notices import Notice, Texts
from core.translations import LANGUAGES
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import AURORA_TOKEN, CHARACTER_ID, running_bridge

USER = 901
NEW_TOKEN = "aurora-rotated-token-9876543210"


def write_config(
    path: Path, aurora: AuroraFake, tg: FakeTelegram, *, admins: str, token: str
) -> None:
    path.write_text(
        f'[store]\npath = "{path.parent / "bridge.db"}"\n'
        f'[backends.luna]\nkind = "aurora"\nbase_url = "{aurora.base_url}"\n'
        f'token = "{token}"\ncharacter_id = {CHARACTER_ID}\n'
        f'[telegram]\nenabled = true\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\n'
        f'private_budget = "20/1s"\nadmins = {admins}\n'
    )


async def test_sighup_with_a_new_language_republishes_both_command_menus(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = tmp_path / "config.toml"

    def status_in(language: str) -> str:
        return Texts(language).render(Notice("cmd_status"))

    async with FakeTelegram() as tg, DiscordFake() as dc:

        def write(language: str) -> None:
            write_config(config, aurora, tg, admins="[]", token=AURORA_TOKEN)
            config.write_text(
                config.read_text() + f'[discord]\nenabled = true\ntoken = "{dc.token}"\n'
                f'api_base_url = "{dc.api_base_url}"\n'
                f'[notices]\nlanguage = "{language}"\n'
            )

        def shown() -> tuple[str, str]:
            """/status as Telegram's menu and Discord's top-level command describe it."""
            menu = tg.scoped_commands.get("default", [])
            telegram = next((c["description"] for c in menu if c["command"] == "status"), "")
            discord = next((c["description"] for c in dc.commands if c["name"] == "status"), "")
            return telegram, discord

        write("en")
        async with running_bridge("run", "--config", str(config)) as proc:
            await proc.wait_log("bridge running")
            assert shown() == (status_in("en"), status_in("en"))
            published = (len(tg.calls_of("setMyCommands")), dc.command_syncs)

            write("de")
            await proc.signal(signal.SIGHUP)
            german = (status_in("de"), status_in("de"))
            await tg.wait_for(lambda: shown() == german, within=30)
            # Both menu scopes, for any language and for each one's own users.
            menus = 2 * (1 + len(LANGUAGES))
            await tg.wait_for(lambda: len(tg.calls_of("setMyCommands")) >= published[0] + menus)
            assert len(tg.calls_of("setMyCommands")) == published[0] + menus
            assert dc.command_syncs == published[1] + 1

            # Back to English: published again (the store remembers only what was done last).
            write("en")
            after = len(proc.lines)
            await proc.signal(signal.SIGHUP)
            await proc.wait_log("config reloaded", after=after)
            await tg.wait_for(lambda: shown() == (status_in("en"), status_in("en")), within=30)
            assert dc.command_syncs == published[1] + 2

            assert await proc.stop() == 0, proc.log
        assert "Traceback" not in proc.log


async def test_sighup_applies_new_admins_and_token_and_refuses_a_broken_config(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = tmp_path / "config.toml"
    async with FakeTelegram() as tg:
        write_config(config, aurora, tg, admins="[]", token=AURORA_TOKEN)
        async with running_bridge("run", "--config", str(config)) as proc:
            await proc.wait_log("bridge running")

            async def answer_to(text: str) -> str:
                before = len(tg.chat_texts(USER))
                tg.user_says(USER, text, user_id=USER)
                await tg.wait_for(lambda: len(tg.chat_texts(USER)) > before, within=30)
                return tg.chat_texts(USER)[-1]

            assert "only admins" in await answer_to("/unbind")

            # A slow reply is streaming when the new admins and a rotated token arrive.
            words = " ".join(f"w{i}" for i in range(80))
            aurora.reply_with(words, chunk_size=4, chunk_delay=0.1)
            tg.user_says(USER, "tell me something long", user_id=USER)
            await tg.wait_for(lambda: any(w.text.startswith("w0") for w in tg.writes_to(USER)))
            aurora.token = NEW_TOKEN
            write_config(config, aurora, tg, admins=f"[{USER}]", token=NEW_TOKEN)
            await proc.signal(signal.SIGHUP)
            done = await proc.wait_log("config reloaded")
            assert len(tg.chat_texts(USER)) == 1  # the long reply was still in flight
            await tg.wait_for(lambda: tg.chat_texts(USER)[-1] == words, within=60)

            assert "Unbound" in await answer_to("/unbind")  # an admin now
            aurora.reply_with("with the new token")
            assert await answer_to("hello again") == "with the new token"

            config.write_text(config.read_text().replace(f"admins = [{USER}]", 'admins = "x"'))
            await proc.signal(signal.SIGHUP)
            refused = await proc.wait_log("config reload refused", after=done)
            assert "telegram.admins" in proc.lines[refused]
            assert "Unbound" in await answer_to("/unbind")  # the old config, admins and all, stays

            assert await proc.stop() == 0, proc.log
        assert "Traceback" not in proc.log
        assert NEW_TOKEN not in proc.log and AURORA_TOKEN not in proc.log


async def test_reload_names_what_waits_for_a_restart_and_refuses_a_new_backend(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    base = '[backends.a]\nkind = "cody"\ntoken = "token-one-123"\nbot_id = "b"\n'
    path.write_text(base + '[store]\npath = "one.db"\n[relay]\nqueue_size = 5\n')
    live = LiveSettings(load_settings(path))
    relay_view = live.view(lambda s: s.relay)
    backends = build_backends(live.current.backends)
    redactor = Redactor()
    try:
        path.write_text(
            base.replace("token-one-123", "token-two-456")
            + '[store]\npath = "two.db"\n[relay]\nqueue_size = 9\n'
        )
        with caplog.at_level(logging.INFO, logger="bridge"):
            assert await reload_settings(path, live, backends, redactor)
        assert relay_view().queue_size == 9
        assert "token-two-456" not in redactor.scrub("sent token-two-456")
        assert any("wait for a restart: store" in r.getMessage() for r in caplog.records)

        path.write_text(path.read_text() + '[backends.b]\nkind = "aurora"\ntoken = "t"\n'
                        "character_id = 1\n")  # fmt: skip
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bridge"):
            assert not await reload_settings(path, live, backends, redactor)
        assert [r.levelname for r in caplog.records] == ["ERROR"]
        assert "needs a restart" in caplog.records[0].getMessage()
        assert set(live.current.backends) == {"a"} and relay_view().queue_size == 9
    finally:
        for backend in backends.values():
            await backend.aclose()
