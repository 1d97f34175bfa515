"""Settings: the example file, environment overrides, and one clear line per problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.config import (
    AuroraSettings,
    CodySettings,
    ConfigError,
    Settings,
    load_settings,
)
from tests.harness import setting_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


def test_the_example_parses_and_documents_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in __import__("os").environ if v.startswith("BRIDGE_")]:
        monkeypatch.delenv(var)
    with pytest.raises(ConfigError) as caught:  # the example ships without secrets
        load_settings(EXAMPLE, require_file=True)
    assert all("must not be empty" in line for line in caught.value.problems)
    monkeypatch.setenv("BRIDGE_BACKENDS__ASSISTANT__TOKEN", "cody-key")
    monkeypatch.setenv("BRIDGE_BACKENDS__ASSISTANT__BOT_ID", "bot1")
    monkeypatch.setenv("BRIDGE_BACKENDS__LUNA__TOKEN", "aurora-token")
    settings = load_settings(EXAMPLE, require_file=True)
    assert set(settings.backends) == {"assistant", "luna"}
    text = EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, re.MULTILINE))
    missing = [p for p in setting_paths(Settings) if p.rsplit(".", 1)[-1] not in documented]
    for kind in (CodySettings, AuroraSettings):
        missing += [f"backends.*.{p}" for p in setting_paths(kind) if p not in documented]
    assert missing == []
    # Each setting says what it is, on its own line: a first-time reader reads this file first.
    silent = [
        line
        for line in text.splitlines()
        if re.match(r"^#?\s*[a-z_]+\s*=", line) and "#" not in line.lstrip("# ")
    ]
    assert silent == []
    sections = set(re.findall(r"^\[([a-z_.]+)\]", text, re.MULTILINE))
    assert {
        "store",
        "relay",
        "telegram",
        "telegram.webhook",
        "discord",
        "health",
        "log",
        "run",
    } <= sections


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_environment_overrides_the_file_and_keeps_secrets_out_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        '[backends.assistant]\nkind = "cody"\ntoken = "in-file"\nbot_id = "b"\n'
        "[telegram]\nenabled = true\n",
    )
    monkeypatch.setenv("BRIDGE_BACKENDS__ASSISTANT__TOKEN", "from-env")
    monkeypatch.setenv("BRIDGE_TELEGRAM__TOKEN", "123:abc")
    monkeypatch.setenv("BRIDGE_STORE__URL", "redis://127.0.0.1:6379/3")
    settings = load_settings(path)
    assert settings.backends["assistant"].token.get_secret_value() == "from-env"
    assert settings.telegram.token is not None
    assert settings.store.url == "redis://127.0.0.1:6379/3"
    assert settings.relay.default_backend == "assistant"  # the only backend is the default
    assert "from-env" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[store\n", ["not valid TOML"]),
        ('[backends.a]\nkind = "cody"\ntoken = "t"\n', ["backends.a.bot_id: required"]),
        ('[backends.a]\nkind = "gpt"\ntoken = "t"\n', ['backends.a.kind: must be "cody" or']),
        (
            '[backends.a]\nkind = "aurora"\ntoken = "t"\ncharacter_id = "x"\n',
            ["backends.a.character_id: "],
        ),
        ("[telegram]\nenabled = true\ncolour = 1\n", ["telegram.colour: unknown setting"]),
        ("[telegram]\nenabled = true\n", ["telegram.token: required when telegram.enabled = true"]),
        ('[relay]\ndefault_backend = "x"\n', ["relay.default_backend: 'x' is not a backend"]),
        ("[health]\nport = 70000\n", ["health.port: "]),
        ('[discord]\nwrite_budget = "fast"\n', ["discord.write_budget: 'fast' is not a budget"]),
        (
            "[discord]\nedit_interval = 1.2\n[telegram]\ngroup_interval = 3.0\n",
            [
                "telegram: group_interval was replaced by telegram.group_budget",
                "discord: edit_interval was replaced by discord.write_budget",
            ],
        ),
    ],
)
def test_a_bad_config_gives_one_clear_line_per_problem(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    problems = caught.value.problems
    assert len(problems) == len(expected)
    for line, start in zip(problems, expected, strict=True):
        assert start in line and "\n" not in line


def test_a_secret_is_never_echoed_in_an_error(tmp_path: Path) -> None:
    text = '[backends.a]\nkind = "aurora"\ntoken = ["sekrit-value-123"]\ncharacter_id = 1\n'
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert "sekrit-value-123" not in str(caught.value)


def test_missing_file_is_an_error_only_when_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "nope.toml", require_file=True)
    assert load_settings(tmp_path / "nope.toml").backends == {}
