"""The `bridge` command as a user runs it: a real subprocess against the loopback fakes."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import aurora_config, run_cli


async def test_console_streams_a_reply_and_exits_at_end_of_input(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    aurora.reply_with("Hi! I am Luna, pleased to meet you.", chunk_size=3, chunk_delay=0.01)
    code, out, err = await run_cli(
        "console", "--config", str(aurora_config(tmp_path, aurora)), stdin="hello\n"
    )
    assert code == 0, err
    assert "luna> Hi! I am Luna, pleased to meet you.\n" in out
    assert aurora.messages_sent == ["hello"]


async def test_console_finishes_the_reply_in_progress_when_input_ends(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    aurora.reply_with("a slow but complete answer", chunk_size=2, chunk_delay=0.03)
    aurora.reply_with("second answer")
    code, out, _ = await run_cli(
        "console",
        "--backend",
        "luna",
        "--config",
        str(aurora_config(tmp_path, aurora)),
        stdin="first\n\nsecond\n",
    )
    assert code == 0
    assert out.index("a slow but complete answer") < out.index("second answer")
    assert aurora.messages_sent == ["first", "second"]


async def test_check_reports_a_healthy_setup(
    tmp_path: Path, aurora: AuroraFake, tg: FakeTelegram
) -> None:
    code, out, _ = await run_cli("check", "--config", str(aurora_config(tmp_path, aurora, tg=tg)))
    assert code == 0, out
    assert "backend luna (aurora)" in out and "FAIL" not in out
    assert "all good" in out


async def test_check_reports_a_wrong_token_as_a_problem(tmp_path: Path, aurora: AuroraFake) -> None:
    wrong = "wrong-token-that-must-not-leak"
    code, out, err = await run_cli(
        "check", "--config", str(aurora_config(tmp_path, aurora, token=wrong))
    )
    assert code == 1
    line = next(line for line in out.splitlines() if "backend luna" in line)
    assert line.startswith("FAIL") and "unauthorized" in line
    assert wrong not in out + err


async def test_check_reports_an_unreachable_store(tmp_path: Path, aurora: AuroraFake) -> None:
    config = aurora_config(tmp_path, aurora)
    code, out, _ = await run_cli(
        "check",
        "--config",
        str(config),
        env={"BRIDGE_STORE__URL": "redis://:pw-secret@127.0.0.1:1/0"},
    )
    assert code == 1
    assert any(line.startswith("FAIL  store") for line in out.splitlines())
    assert "pw-secret" not in out


async def test_a_bad_config_is_one_line_per_problem_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[backends.a]\nkind = "cody"\n[telegram]\nenabled = true\nspeed = 3\n')
    code, _out, err = await run_cli("check", "--config", str(path))
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert all(line.startswith("config error: ") for line in lines)
    assert any("backends.a.token: required" in line for line in lines)
    assert any("telegram.speed: unknown setting" in line for line in lines)


async def test_the_config_path_comes_from_the_environment_too(
    tmp_path: Path, aurora: AuroraFake, tg: FakeTelegram
) -> None:
    config = aurora_config(tmp_path, aurora, tg=tg)
    code, out, _ = await run_cli("check", env={"BRIDGE_CONFIG": str(config)})
    assert code == 0, out


async def test_run_refuses_a_config_without_front_ends(tmp_path: Path, aurora: AuroraFake) -> None:
    code, _, err = await run_cli("run", "--config", str(aurora_config(tmp_path, aurora)))
    assert code == 2
    assert "no front-end enabled" in err and "Traceback" not in err


async def test_check_tries_each_enabled_platform_token(tmp_path: Path, aurora: AuroraFake) -> None:
    from tests.fakes.discord import DiscordFake
    from tests.fakes.telegram import FakeTelegram

    async with FakeTelegram() as tg, DiscordFake() as dc:
        config = aurora_config(tmp_path, aurora)
        config.write_text(
            config.read_text()
            + f'\n[telegram]\nenabled = true\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\n'
            + f'\n[discord]\nenabled = true\ntoken = "{dc.token}"\napi_base_url = "{dc.api_base_url}"\n'
        )
        code, out, _ = await run_cli("check", "--config", str(config))
        assert code == 0, out
        assert any(
            line.startswith("ok    telegram") and "@bridge_bot" in line for line in out.splitlines()
        )
        assert any(line.startswith("ok    discord") for line in out.splitlines())

        wrong_tg, wrong_dc = "999:wrong-telegram-token", "wrong-discord-token-123456"
        code, out, err = await run_cli(
            "check",
            "--config",
            str(config),
            env={"BRIDGE_TELEGRAM__TOKEN": wrong_tg, "BRIDGE_DISCORD__TOKEN": wrong_dc},
        )
        assert code == 1
        lines = out.splitlines()
        assert any(line.startswith("FAIL  telegram") and "refused" in line for line in lines)
        assert any(line.startswith("FAIL  discord") and "refused" in line for line in lines)
        assert any("telegram.token: Telegram refused the bot token" in line for line in lines)
        assert any("discord.token: Discord refused the bot token" in line for line in lines)
        assert wrong_tg not in out + err and wrong_dc not in out + err


async def test_version_and_a_description_in_every_help() -> None:
    code, out, _ = await run_cli("--version")
    assert code == 0 and out.startswith("bridge ") and out.split()[1][0].isdigit()
    commands = [
        ("run",),
        ("check",),
        ("health",),
        ("console",),
        ("bindings",),
        ("bindings", "export"),
        ("bindings", "import"),
    ]
    for command in commands:
        code, out, _ = await run_cli(*command, "--help")
        assert code == 0
        usage, _, rest = out.partition("\n\n")
        description = rest.split("\n\n", 1)[0]
        assert usage.startswith(f"usage: bridge {' '.join(command)}")
        assert len(description) > 40 and not description.startswith(("positional", "options")), out
