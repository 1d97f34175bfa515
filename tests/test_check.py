"""`bridge check` catches what will fail: ids the upstream does not know, privacy mode against a
group in mode 'all', a missing Discord intent, a webhook URL Telegram will not call."""

from __future__ import annotations

from pathlib import Path

from core.model import ReplyMode
from core.store import SqliteStore
from tests.conftest import AURORA_TOKEN, CODY_KEY
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.test_cli import aurora_config, bridge


def line_of(out: str, what: str) -> str:
    return next(line for line in out.splitlines() if line[6:].startswith(what))


async def test_an_unknown_cody_bot_id_fails_naming_the_setting(
    tmp_path: Path, cody: CodyFake
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "bridge.db"}"\n'
        f'[backends.assistant]\nkind = "cody"\nbase_url = "{cody.base_url}"\n'
        f'token = "{CODY_KEY}"\nbot_id = "no-such-bot"\n'
    )
    code, out, err = await bridge("check", "--config", str(config))
    assert code == 1, out + err
    line = line_of(out, "backend assistant")
    assert line.startswith("FAIL") and "backends.assistant.bot_id: no bot 'no-such-bot'" in line
    config.write_text(config.read_text().replace("no-such-bot", "bot1"))
    code, out, _ = await bridge("check", "--config", str(config))
    assert code == 0, out
    assert "bot bot1 (Test bot) found" in line_of(out, "backend assistant")


async def test_an_unknown_aurora_character_id_fails_naming_the_setting(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = aurora_config(tmp_path, aurora)
    config.write_text(config.read_text().replace("character_id = 42", "character_id = 7"))
    code, out, err = await bridge("check", "--config", str(config))
    assert code == 1, out + err
    line = line_of(out, "backend luna")
    assert line.startswith("FAIL") and "backends.luna.character_id: no usable character 7" in line
    assert AURORA_TOKEN not in out + err


async def test_privacy_mode_fails_only_with_a_group_in_mode_all(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    async with FakeTelegram() as tg:
        config = aurora_config(tmp_path, aurora)
        config.write_text(
            config.read_text()
            + f'\n[telegram]\nenabled = true\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\n'
        )
        code, out, _ = await bridge("check", "--config", str(config))
        assert code == 0, out  # privacy on, but no group needs every message

        store = SqliteStore(tmp_path / "bridge.db")
        try:
            await store.set_mode("tg:-100777", ReplyMode.ALL)
            await store.set_mode("tg:4242", ReplyMode.ALL)  # a private chat: not affected
        finally:
            await store.aclose()
        code, out, _ = await bridge("check", "--config", str(config))
        assert code == 1
        line = line_of(out, "telegram")
        assert line.startswith("FAIL") and "mode 'all' in tg:-100777," in line
        assert "privacy mode is on" in line and "tg:4242" not in line

        tg.privacy_mode = False
        code, out, _ = await bridge("check", "--config", str(config))
        assert code == 0, out


async def test_a_missing_message_content_intent_fails_and_library_noise_stays_out(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    for allowed in (False, True):
        async with DiscordFake(message_content_allowed=allowed) as dc:
            config = aurora_config(tmp_path, aurora)
            config.write_text(
                config.read_text() + f'\n[discord]\nenabled = true\ntoken = "{dc.token}"\n'
                f'api_base_url = "{dc.api_base_url}"\n'
            )
            code, out, err = await bridge("check", "--config", str(config))
            line = line_of(out, "discord")
            if allowed:
                assert code == 0 and line.startswith("ok"), out
            else:
                assert code == 1 and line.startswith("FAIL"), out
                assert "Message Content intent is not enabled" in line
            assert err == ""  # no PyNaCl / davey / intents warnings from the libraries


async def test_a_webhook_url_that_is_not_https(tmp_path: Path, aurora: AuroraFake) -> None:
    async with FakeTelegram() as tg:
        config = aurora_config(tmp_path, aurora)
        config.write_text(
            config.read_text()
            + f'\n[telegram]\nenabled = true\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\n'
            + 'mode = "webhook"\n[telegram.webhook]\nurl = "http://bot.example.org/hook"\n'
            + 'secret_token = "s3cret"\n'
        )
        code, out, _ = await bridge("check", "--config", str(config))
        assert code == 1
        line = line_of(out, "telegram webhook")
        assert line.startswith("FAIL") and "telegram.webhook.url: " in line and "https" in line


async def test_the_dashboard_off_loopback_warns_without_failing(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = aurora_config(tmp_path, aurora)
    base = config.read_text() + '\n[dashboard]\nenabled = true\ntoken = "page-token-0123456789"\n'
    config.write_text(base + '[health]\nenabled = true\nhost = "0.0.0.0"\n')
    code, out, err = await bridge("check", "--config", str(config))
    assert code == 0, out + err
    line = line_of(out, "dashboard")
    assert line.startswith("WARN") and "health.host 0.0.0.0 is not loopback" in line
    assert "TLS" in line and "page-token" not in out + err
    config.write_text(base + '[health]\nenabled = true\nhost = "127.0.0.1"\n')
    code, out, _ = await bridge("check", "--config", str(config))
    assert code == 0 and line_of(out, "dashboard").startswith("ok")
