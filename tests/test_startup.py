"""`bridge run` refuses, with one line and exit 2, to start when only an edit helps; with exit 75
when what it needs may answer later (a platform's API); an upstream it cannot reach yet is only a
warning (real subprocesses against the loopback fakes)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import AURORA_TOKEN, CHARACTER_ID, free_port, run_cli, running_bridge


def run_config(
    tmp_path: Path,
    *,
    aurora_url: str,
    tg: FakeTelegram | None = None,
    store: str | None = None,
    token: str = AURORA_TOKEN,
    extra: str = "",
) -> Path:
    telegram = (
        f'token = "{tg.token}"\nbase_url = "{tg.base_url}"\n' if tg else 'token = "123:unused"\n'
    )
    path = tmp_path / "config.toml"
    path.write_text(
        (store or f'[store]\npath = "{tmp_path / "bridge.db"}"\n')
        + f'[backends.luna]\nkind = "aurora"\nbase_url = "{aurora_url}"\n'
        + f'token = "{token}"\ncharacter_id = {CHARACTER_ID}\nmax_retries = 0\n'
        + f'[telegram]\nenabled = true\n{telegram}private_budget = "20/1s"\n'
        + extra
    )
    return path


def assert_refused(code: int, err: str, setting: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"bridge: {setting}"), err
    assert "bridge running" not in err


async def test_an_sqlite_path_it_cannot_write(tmp_path: Path, aurora: AuroraFake) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = f'[store]\npath = "{blocker / "bridge.db"}"\n'
    config = run_config(tmp_path, aurora_url=aurora.base_url, store=store)
    code, _, err = await run_cli("run", "--config", str(config))
    assert_refused(code, err, "store.path: cannot open")


async def test_a_backend_whose_credentials_are_refused(tmp_path: Path, aurora: AuroraFake) -> None:
    wrong = "wrong-aurora-token-must-not-leak"
    config = run_config(tmp_path, aurora_url=aurora.base_url, token=wrong)
    code, out, err = await run_cli("run", "--config", str(config))
    assert_refused(code, err, "backends.luna.token: the aurora API refused the credentials")
    assert wrong not in out + err


async def test_an_upstream_it_cannot_reach_is_a_warning_and_it_serves(tmp_path: Path) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/api/v11"
    async with FakeTelegram() as tg:
        config = run_config(tmp_path, aurora_url=unreachable, tg=tg)
        async with running_bridge("run", "--config", str(config)) as proc:
            await proc.wait_log("bridge running")
            tg.user_says(701, "/status", user_id=701)
            await tg.wait_for(lambda: bool(tg.chat_texts(701)), within=30)
            code = await proc.stop()
        assert code == 0, proc.log
        assert any("WARNING" in line and "backend luna" in line for line in proc.lines), proc.log
        assert "Traceback" not in proc.log


async def test_a_platform_api_it_cannot_reach_is_exit_75(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    down = f"http://127.0.0.1:{free_port()}/bot"
    config = run_config(tmp_path, aurora_url=aurora.base_url, extra="")
    config.write_text(config.read_text() + f'base_url = "{down}"\n')
    code, _, err = await run_cli("run", "--config", str(config))
    assert code == 75, err  # EX_TEMPFAIL: the network may be back in a moment
    assert "Traceback" not in err and "bridge running" not in err
    assert err.strip().splitlines()[-1].startswith("bridge: telegram: cannot reach the Bot API")


async def test_a_refused_bot_token_is_exit_2(tmp_path: Path, aurora: AuroraFake) -> None:
    async with FakeTelegram() as tg:
        config = run_config(tmp_path, aurora_url=aurora.base_url)
        config.write_text(config.read_text() + f'base_url = "{tg.base_url}"\n')
        code, _, err = await run_cli("run", "--config", str(config))
    assert_refused(code, err, "telegram.token: Telegram refused the bot token")


async def test_a_second_run_on_the_same_sqlite_file_is_refused(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    async with FakeTelegram() as tg:
        config = run_config(tmp_path, aurora_url=aurora.base_url, tg=tg)
        async with running_bridge("run", "--config", str(config)) as first:
            await first.wait_log("bridge running")
            code, _, err = await run_cli("run", "--config", str(config))
            assert_refused(code, err, "store.path: another bridge run is using")
            assert await first.stop() == 0, first.log
        # Once the first has stopped, the file is free again.
        async with running_bridge("run", "--config", str(config)) as again:
            await again.wait_log("bridge running")
            assert await again.stop() == 0, again.log


async def test_debug_is_the_bridge_s_own_and_libraries_stay_at_info_unless_asked(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    async with FakeTelegram() as tg:
        for libraries, theirs in (("info", False), ("debug", True)):
            config = run_config(
                tmp_path,
                aurora_url=aurora.base_url,
                tg=tg,
                extra=f'[log]\nlevel = "debug"\nlibraries = "{libraries}"\n',
            )
            async with running_bridge("run", "--config", str(config)) as proc:
                await proc.wait_log("bridge running")
                assert await proc.stop() == 0, proc.log
            debug = [line.split()[2] for line in proc.lines if line.split()[1:2] == ["DEBUG"]]
            assert any("INFO    telegram.ext.Application" in line for line in proc.lines)
            assert any(name.startswith("aiosqlite") for name in debug) is theirs, proc.log


async def test_bridge_health_asks_the_port_the_config_names(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    port = free_port()
    async with FakeTelegram() as tg:
        config = run_config(
            tmp_path,
            aurora_url=aurora.base_url,
            tg=tg,
            extra=f"[health]\nenabled = true\nport = {port}\n",
        )
        code, _, err = await run_cli("health", "--config", str(config))
        assert (code, err.strip()) == (
            1,
            f"health.port: nothing answers at http://127.0.0.1:{port}/healthz (Connection refused)",
        )
        async with running_bridge("run", "--config", str(config)) as proc:
            await proc.wait_log("bridge running")
            code, out, err = await run_cli("health", "--config", str(config))
            assert code == 0, err
            assert out.startswith("ok") and "telegram: connected" in out
            assert await proc.stop() == 0


async def test_a_config_path_that_is_a_directory(tmp_path: Path) -> None:
    # What Docker mounts when ./config.toml did not exist on the host.
    (tmp_path / "config.toml").mkdir()
    code, _, err = await run_cli("run", "--config", str(tmp_path / "config.toml"))
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (
        f"config error: {tmp_path / 'config.toml'}: a directory, not a config file "
        "(create the file first)"
    )


async def test_discord_unreachable_at_start_is_exit_75(tmp_path: Path, aurora: AuroraFake) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "bridge.db"}"\n'
        f'[backends.luna]\nkind = "aurora"\nbase_url = "{aurora.base_url}"\n'
        f'token = "{AURORA_TOKEN}"\ncharacter_id = {CHARACTER_ID}\n'
        f'[discord]\nenabled = true\ntoken = "discord-token-0123"\n'
        f'api_base_url = "http://127.0.0.1:{free_port()}/api/v10"\n'
    )
    code, _, err = await run_cli("run", "--config", str(config))
    assert code == 75, err
    assert "Traceback" not in err and "bridge running" not in err
    assert err.strip().splitlines()[-1].startswith("bridge: discord: cannot log in (")
