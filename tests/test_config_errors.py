"""Every common config mistake is one line and exit 2, never a traceback (`bridge` as a user runs
it, in a subprocess)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    CLUSTER_URL,
    REDIS_URL,
    RedisServer,
    aurora_config,
    cluster_reachable,
    free_port,
    run_cli,
)


def assert_one_config_line(code: int, err: str, *expected: str) -> None:
    """Exit 2, no traceback, and one line per expected problem, each naming it."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == len(expected), err
    for line, part in zip(lines, expected, strict=True):
        assert part in line, err


async def test_telegram_enabled_with_the_example_s_empty_token(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[telegram]\nenabled = true\ntoken = ""\n')
    code, _, err = await run_cli("run", "--config", str(config))
    assert_one_config_line(code, err, "telegram.token: must not be empty")


@pytest.mark.parametrize(
    ("backend", "problem"),
    [
        ('kind = "cody"\ntoken = ""\nbot_id = "bot1"', "backends.a.token: must not be empty"),
        ('kind = "cody"\ntoken = "k"\nbot_id = " "', "backends.a.bot_id: must not be empty"),
        ('kind = "aurora"\ntoken = ""\ncharacter_id = 1', "backends.a.token: must not be empty"),
    ],
)
async def test_an_empty_backend_token_or_bot_id(tmp_path: Path, backend: str, problem: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[backends.a]\n{backend}\n")
    code, out, err = await run_cli("check", "--config", str(config))
    assert_one_config_line(code, err, problem)
    assert "connection failed" not in out


async def check_passes_with(
    env: dict[str, str], tmp_path: Path, aurora: AuroraFake, tg: FakeTelegram
) -> str:
    """`bridge check` of a sound config with ``env`` set passes; what it wrote to stderr."""
    config = aurora_config(tmp_path, aurora, tg=tg)
    code, out, err = await run_cli("check", "--config", str(config), env=env)
    assert code == 0, out + err
    return err


async def test_list_settings_from_the_environment_as_comma_lists(
    tmp_path: Path, aurora: AuroraFake, tg: FakeTelegram
) -> None:
    env = {"BRIDGE_TELEGRAM__ADMINS": "1001,1002", "BRIDGE_DISCORD__ADMINS": "[7, 8]"}
    await check_passes_with(env, tmp_path, aurora, tg)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("BRIDGE_TELEGRAM__ADMINS", "1001,me", "telegram.admins.1: "),
        ("BRIDGE_TELEGRAM", "{not json", "environment: BRIDGE_TELEGRAM is not valid"),
        ("BRIDGE_TELEGRAM__WEBHOOK", "{", "environment: BRIDGE_TELEGRAM__WEBHOOK is not valid"),
    ],
)
async def test_a_bad_environment_value_is_one_line(
    tmp_path: Path, aurora: AuroraFake, name: str, value: str, problem: str
) -> None:
    config = aurora_config(tmp_path, aurora)
    code, _, err = await run_cli("check", "--config", str(config), env={name: value})
    assert_one_config_line(code, err, problem)
    assert value not in err


async def test_lower_case_log_levels(tmp_path: Path, aurora: AuroraFake, tg: FakeTelegram) -> None:
    config = aurora_config(tmp_path, aurora, tg=tg)
    config.write_text(config.read_text() + '\n[log]\nlevel = "debug"\n')
    code, out, err = await run_cli("check", "--config", str(config))
    assert code == 0, out + err


async def run_with_port_taken(
    tmp_path: Path, aurora: AuroraFake, sections: Callable[[int], str]
) -> tuple[int, int, str]:
    """`bridge run` with ``sections(port)`` added to a working config while ``port`` is taken;
    the port, the exit code and stderr."""
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        config = aurora_config(tmp_path, aurora)
        config.write_text(config.read_text() + sections(port) + '[log]\nlevel = "error"\n')
        code, _, err = await run_cli("run", "--config", str(config))
    return port, code, err


async def test_the_health_port_in_use_names_health_port(tmp_path: Path, aurora: AuroraFake) -> None:
    port, code, err = await run_with_port_taken(
        tmp_path,
        aurora,
        lambda port: (
            '[telegram]\nenabled = true\ntoken = "123:never-used"\n'
            f"[health]\nenabled = true\nport = {port}\n"
        ),
    )
    assert_one_config_line(code, err, f"health.port: cannot listen on 127.0.0.1:{port} (")
    assert err.startswith("bridge: ")


async def test_the_webhook_port_in_use_names_telegram_webhook_port(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    async with FakeTelegram() as tg:
        port, code, err = await run_with_port_taken(
            tmp_path,
            aurora,
            lambda port: (
                f'[telegram]\nenabled = true\ntoken = "{tg.token}"\n'
                f'base_url = "{tg.base_url}"\nmode = "webhook"\n'
                f'[telegram.webhook]\nlisten = "127.0.0.1"\nport = {port}\n'
                'url = "https://bridge.example/tg/hook"\nsecret_token = "s3cret_hook"\n'
            ),
        )
    assert_one_config_line(code, err, f"telegram.webhook.port: cannot listen on 127.0.0.1:{port} (")
    assert err.startswith("bridge: ")
    assert "s3cret_hook" not in err and tg.token not in err


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ('per_user = "30/1x"', 'allowances.per_user: use "N/PERIOD"'),
        ('per_chat = "0/1d"', 'allowances.per_chat: a limit of 0 messages: write "0" alone'),
        ('per_server = "5/48h"', "allowances.per_server: a window of 1 to 24 hours"),
        ('timezone = "Mars/Olympus"', "allowances.timezone: not a time zone"),
        ("alert_at = [0.5, 1.5]", "allowances.alert_at: shares of the plan"),
        ('backends = { nope = "5/1d" }', "allowances.backends.nope: not a backend (luna)"),
        ('backends = { luna = "lots" }', 'allowances.backends.luna: use "N/PERIOD"'),
        ('users = { "tg:1001" = "5/1d" }', 'allowances.users: "tg:1001": name a person'),
        ('roles = { "admins" = "5/1d" }', 'allowances.roles: "admins": a Discord role id'),
    ],
)
async def test_a_bad_allowance_is_one_line(
    tmp_path: Path, aurora: AuroraFake, section: str, problem: str
) -> None:
    config = aurora_config(tmp_path, aurora)
    config.write_text(config.read_text() + f"\n[allowances]\n{section}\n")
    code, _, err = await run_cli("check", "--config", str(config))
    assert_one_config_line(code, err, problem)


# The mistakes a first hour with the bridge ran into, each one line naming the setting.


def _with(config: Path, text: str) -> Path:
    config.write_text(config.read_text() + text)
    return config


@pytest.mark.parametrize(
    ("tables", "problem"),
    [
        ('[store]\nurl = "localhost:6379"\n', "store.url: must start with redis://, rediss://"),
        ('[backends.a]\ntoken = "k"\nbot_id = "b"\n', 'backends.a.kind: required: "cody" or'),
        (
            '[backends.a]\nkind = "cdy"\ntoken = "k"\n',
            'backends.a.kind: must be "cody" or "aurora"',
        ),
        ('[telegram]\nenabled = "yes"\ntoken = "1:x"\n', "telegram.enabled: use true or false"),
        ("[store]\ncluster = 1\n", "store.cluster: use true or false"),
        (
            '[telegram]\ntokn = "1:x"\n',
            "telegram.tokn: unknown setting (did you mean telegram.token?)",
        ),
        ("[telgram]\nenabled = true\n", "telgram: unknown setting (did you mean telegram?)"),
        (
            '[backends.a]\nkind = "cody"\ntoken = "k"\nbot_id = "b"\nbotid = "c"\n',
            "backends.a.botid: unknown setting (did you mean backends.a.bot_id?)",
        ),
        (
            '[discord]\nwrite_budget = "0/5s"\n',
            "discord.write_budget: a budget needs 1 write or more",
        ),
    ],
)
async def test_a_mistake_in_the_file_is_one_line_naming_the_setting(
    tmp_path: Path, tables: str, problem: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(tables)
    code, _, err = await run_cli("check", "--config", str(config))
    assert_one_config_line(code, err, problem)
    assert "reserve" not in err and "discriminator" not in err


async def test_a_config_file_that_is_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes('[notices]\nlanguage = "de"\n# Grüße\n'.encode("latin-1"))
    code, _, err = await run_cli("check", "--config", str(config))
    assert_one_config_line(code, err, f"{config}: line 3 is not UTF-8 (save the file as UTF-8)")


async def test_a_bindings_file_that_is_not_utf8(tmp_path: Path, aurora: AuroraFake) -> None:
    export = tmp_path / "bindings.jsonl"
    export.write_bytes('{"channel": "tg:1", "mode": "all"} # Grüße\n'.encode("latin-1"))
    config = aurora_config(tmp_path, aurora)
    code, _, err = await run_cli("bindings", "import", str(export), "--config", str(config))
    assert code == 1 and "Traceback" not in err
    assert err.strip() == f"bridge: {export}: not UTF-8 text (save it as UTF-8); nothing imported"


async def test_a_misspelt_environment_variable_is_warned_about(
    tmp_path: Path, aurora: AuroraFake, tg: FakeTelegram
) -> None:
    env = {"BRIDGE_TELEGARM__TOKEN": "123:secret-value", "BRIDGE_LOG_LEVEL": "debug"}
    err = await check_passes_with(env, tmp_path, aurora, tg)
    assert err.splitlines() == [
        "config warning: BRIDGE_LOG_LEVEL names no setting and is ignored "
        "(did you mean BRIDGE_LOG__LEVEL?)",
        "config warning: BRIDGE_TELEGARM__TOKEN names no setting and is ignored "
        "(did you mean BRIDGE_TELEGRAM__TOKEN?)",
    ]


def _store_config(tmp_path: Path, aurora: AuroraFake, store: str) -> Path:
    """A config `bridge run` would start with, but for ``store``; start-up would wait ten
    minutes for a store that does not answer, so an answer here is one that did not wait."""
    config = aurora_config(tmp_path, aurora)
    text = config.read_text().split("[backends", 1)[1]
    config.write_text(
        f"[store]\n{store}\n[backends{text}"
        '[telegram]\nenabled = true\ntoken = "123:never-used"\n'
        f'base_url = "http://127.0.0.1:{free_port()}/bot"\n[run]\nstartup_timeout = 600\n'
    )
    return config


async def _refused_at_once(config: Path, problem: str) -> str:
    """`bridge run` exits 2 with the one line, and `bridge check` FAILs with it."""
    code, _, err = await run_cli("run", "--config", str(config))
    assert_one_config_line(code, err, f"bridge: {problem}")
    code, out, _ = await run_cli("check", "--config", str(config))
    assert code == 1
    store = [line for line in out.splitlines() if line.startswith("FAIL  store")]
    assert len(store) == 1 and problem in store[0], out
    return err + out


async def test_a_store_url_at_a_web_server(tmp_path: Path, aurora: AuroraFake) -> None:
    config = _store_config(tmp_path, aurora, f'url = "redis://127.0.0.1:{aurora.port}/0"')
    await _refused_at_once(config, "store.url: the server there does not speak Redis")


async def test_a_wrong_redis_password(tmp_path: Path, aurora: AuroraFake) -> None:
    server = RedisServer(free_port(), tmp_path, password="the-right-one")
    await server.start()
    try:
        for auth in (":the-wrong-one@", ""):
            url = f"redis://{auth}127.0.0.1:{server.port}/0"
            config = _store_config(tmp_path, aurora, f'url = "{url}"')
            seen = await _refused_at_once(config, "store.url: Redis refused the password")
            assert "the-wrong-one" not in seen
    finally:
        await server.stop()


async def test_store_cluster_on_a_plain_redis(tmp_path: Path, aurora: AuroraFake) -> None:
    config = _store_config(tmp_path, aurora, f'url = "{REDIS_URL}"\ncluster = true')
    await _refused_at_once(config, "store.cluster: the server is not a Redis Cluster node")


async def test_a_cluster_node_without_store_cluster(tmp_path: Path, aurora: AuroraFake) -> None:
    if not await cluster_reachable():
        pytest.skip(f"no Redis Cluster at {CLUSTER_URL}")
    config = _store_config(tmp_path, aurora, f'url = "{CLUSTER_URL}"')
    await _refused_at_once(config, "store.cluster: the server is a Redis Cluster node")


@pytest.mark.parametrize(
    ("dashboard", "problem"),
    [
        ('token = ""', "dashboard.token: required when dashboard.enabled = true, at least 16"),
        ('token = "short-token"', "dashboard.token: required when dashboard.enabled = true"),
    ],
)
async def test_the_dashboard_wants_a_token_of_16_characters(
    tmp_path: Path, aurora: AuroraFake, dashboard: str, problem: str
) -> None:
    config = aurora_config(tmp_path, aurora)
    config.write_text(
        config.read_text()
        + f"\n[health]\nenabled = true\n[dashboard]\nenabled = true\n{dashboard}\n"
    )
    code, _, err = await run_cli("check", "--config", str(config))
    assert_one_config_line(code, err, problem)
    assert "short-token" not in err


async def test_the_dashboard_needs_the_health_listener(tmp_path: Path, aurora: AuroraFake) -> None:
    config = aurora_config(tmp_path, aurora)
    config.write_text(
        config.read_text() + '\n[dashboard]\nenabled = true\ntoken = "page-token-0123456789"\n'
    )
    code, _, err = await run_cli("check", "--config", str(config))
    assert_one_config_line(code, err, "dashboard.enabled: needs health.enabled = true")


SENTINEL = "127.0.0.1:26379"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"URL": "redis://127.0.0.1:6379/0", "SENTINELS": SENTINEL},
            "store.sentinels: not with store.url (the sentinels name the master)",
        ),
        ({"CLUSTER": "true", "SENTINELS": SENTINEL}, "store.sentinels: not with store.cluster"),
        ({"SENTINELS": f"{SENTINEL},sentinel-b"}, "store.sentinels.1: use host:port"),
        ({"SENTINELS": "127.0.0.1:0"}, "store.sentinels.0: use host:port"),
        ({"SENTINEL_PASSWORD": "pw"}, "store.sentinel_password: only with store.sentinels"),
        ({"SENTINELS": "[::1]:26379", "SENTINEL_MASTER": " "}, "store.sentinel_master: must not"),
    ],
)
async def test_a_sentinel_mistake_is_one_line(
    tmp_path: Path, aurora: AuroraFake, env: dict[str, str], problem: str
) -> None:
    """The store settings from the environment (a comma list for the sentinels), as a
    container sets them."""
    config = aurora_config(tmp_path, aurora)
    variables = {f"BRIDGE_STORE__{name}": value for name, value in env.items()}
    code, _, err = await run_cli("check", "--config", str(config), env=variables)
    assert_one_config_line(code, err, problem)
    assert "pw" not in err
