"""`bridge check` catches what will fail: ids the upstream does not know, privacy mode against a
group in mode 'all', a missing Discord intent, a webhook URL Telegram will not call."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.check import stream_hosts_problem
from core.config import CodySettings
from core.model import ReplyMode
from core.store import SqliteStore
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import AURORA_TOKEN, CODY_KEY, aurora_config, free_port, run_cli


def line_of(out: str, what: str) -> str:
    return next(line for line in out.splitlines() if line[6:].startswith(what))


def cody_config(
    tmp_path: Path, cody: CodyFake, tg: FakeTelegram, *, bot_id: str = "bot1", streams: str = ""
) -> Path:
    """A config on the Cody and Telegram fakes; ``streams`` is the stream_hosts line (by
    default the fake's stream host)."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "bridge.db"}"\n'
        f'[backends.assistant]\nkind = "cody"\nbase_url = "{cody.base_url}"\n'
        f'token = "{CODY_KEY}"\nbot_id = "{bot_id}"\n'
        + (streams or f'stream_hosts = ["{cody.stream_host}"]\n')
        + f'[telegram]\nenabled = true\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\n'
    )
    return config


async def test_an_unknown_cody_bot_id_fails_naming_the_setting(
    tmp_path: Path, cody: CodyFake, tg: FakeTelegram
) -> None:
    config = cody_config(tmp_path, cody, tg, bot_id="no-such-bot")
    code, out, err = await run_cli("check", "--config", str(config))
    assert code == 1, out + err
    line = line_of(out, "backend assistant")
    assert line.startswith("FAIL") and "backends.assistant.bot_id: no bot 'no-such-bot'" in line
    # `bridge run` refuses it the same way, rather than starting with every reply failing.
    code, _, err = await run_cli("run", "--config", str(config))
    assert code == 2 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("bridge: backends.assistant.bot_id: no bot")
    config.write_text(config.read_text().replace("no-such-bot", "bot1"))
    code, out, _ = await run_cli("check", "--config", str(config))
    assert code == 0, out
    assert "bot bot1 (Test bot) found" in line_of(out, "backend assistant")


async def test_an_unknown_aurora_character_id_fails_naming_the_setting(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = aurora_config(tmp_path, aurora)
    config.write_text(config.read_text().replace("character_id = 42", "character_id = 7"))
    code, out, err = await run_cli("check", "--config", str(config))
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
        code, out, _ = await run_cli("check", "--config", str(config))
        assert code == 0, out  # privacy on, but no group needs every message

        store = SqliteStore(tmp_path / "bridge.db")
        try:
            await store.set_mode("tg:-100777", ReplyMode.ALL)
            await store.set_mode("tg:4242", ReplyMode.ALL)  # a private chat: not affected
        finally:
            await store.aclose()
        code, out, _ = await run_cli("check", "--config", str(config))
        assert code == 1
        line = line_of(out, "telegram")
        assert line.startswith("FAIL") and "mode 'all' in tg:-100777," in line
        assert "privacy mode is on" in line and "tg:4242" not in line

        tg.privacy_mode = False
        code, out, _ = await run_cli("check", "--config", str(config))
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
            code, out, err = await run_cli("check", "--config", str(config))
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
        code, out, _ = await run_cli("check", "--config", str(config))
        assert code == 1
        line = line_of(out, "telegram webhook")
        assert line.startswith("FAIL") and "telegram.webhook.url: " in line and "https" in line


async def test_no_front_end_enabled_fails(tmp_path: Path, aurora: AuroraFake) -> None:
    code, out, _ = await run_cli("check", "--config", str(aurora_config(tmp_path, aurora)))
    assert code == 1, out
    line = line_of(out, "front-ends")
    assert line.startswith("FAIL") and "set telegram.enabled or discord.enabled to true" in line
    assert "all good" not in out


async def test_stream_hosts_nobody_chose_for_another_api_fails(
    tmp_path: Path, cody: CodyFake, tg: FakeTelegram
) -> None:
    # The fake streams from a port of its own, as Cody streams from another host than its API.
    config = cody_config(tmp_path, cody, tg, streams="# stream_hosts left at the default\n")
    code, out, _ = await run_cli("check", "--config", str(config))
    assert code == 1, out
    line = line_of(out, "backend assistant streams")
    assert line.startswith("FAIL") and "backends.assistant.stream_hosts: " in line
    assert not cody.messages_sent  # found out without sending anything
    code, out, _ = await run_cli("check", "--config", str(cody_config(tmp_path, cody, tg)))
    assert code == 0, out


@pytest.mark.parametrize(
    ("base_url", "hosts", "problem"),
    [
        ("https://getcody.ai/api/v1", None, None),
        ("https://getcody.ai/api/v1", ["stream.aimcaiface.com:443"], None),
        ("https://getcody.ai/api/v1", ["streams.example"], "Cody streams replies from stream."),
        ("https://cody-proxy.example/api/v1", None, "base_url is not Cody's own API"),
        ("https://cody-proxy.example/api/v1", ["stream.aimcaiface.com"], None),
    ],
)
def test_which_stream_hosts_check_refuses(
    base_url: str, hosts: list[str] | None, problem: str | None
) -> None:
    extra = {"stream_hosts": hosts} if hosts is not None else {}
    settings = CodySettings(kind="cody", base_url=base_url, token="k", bot_id="b", **extra)
    found = stream_hosts_problem("a", settings)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith("backends.a.stream_hosts: ")
        assert problem in found
    off = CodySettings(kind="cody", base_url=base_url, token="k", bot_id="b", streaming=False)
    assert stream_hosts_problem("a", off) is None  # no streams, nothing to refuse


async def test_every_fail_line_names_a_setting(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "redis://127.0.0.1:{free_port()}/0"\n'
        f'[backends.luna]\nkind = "aurora"\nbase_url = "{down}/api/v11"\ntoken = "t0123456"\n'
        "character_id = 1\nmax_retries = 0\n"
        f'[telegram]\nenabled = true\ntoken = "1:x"\nbase_url = "{down}/bot"\n'
        f'[discord]\nenabled = true\ntoken = "d0123456"\napi_base_url = "{down}/api/v10"\n'
    )
    code, out, _ = await run_cli("check", "--config", str(config))
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 4, out
    for line, setting in zip(
        fails,
        (
            "store.url: ",
            "backends.luna.base_url: ",
            "telegram.base_url: ",
            "discord.api_base_url: ",
        ),
        strict=True,
    ):
        assert setting in line, line


async def test_the_dashboard_off_loopback_warns_without_failing(
    tmp_path: Path, aurora: AuroraFake, tg: FakeTelegram
) -> None:
    config = aurora_config(tmp_path, aurora, tg=tg)
    base = config.read_text() + '\n[dashboard]\nenabled = true\ntoken = "page-token-0123456789"\n'
    config.write_text(base + '[health]\nenabled = true\nhost = "0.0.0.0"\n')
    code, out, err = await run_cli("check", "--config", str(config))
    assert code == 0, out + err
    line = line_of(out, "dashboard")
    assert line.startswith("WARN") and "health.host 0.0.0.0 is not loopback" in line
    assert "TLS" in line and "page-token" not in out + err
    config.write_text(base + '[health]\nenabled = true\nhost = "127.0.0.1"\n')
    code, out, _ = await run_cli("check", "--config", str(config))
    assert code == 0 and line_of(out, "dashboard").startswith("ok")
