"""README.md must tell the truth: its config reference covers every setting, and nothing more."""

from __future__ import annotations

import re
from pathlib import Path

from core.config import AuroraSettings, CodySettings, Settings
from tests.harness import setting_paths

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def documented() -> set[str]:
    return set(re.findall(r"^\| `([a-zA-Z_.]+)` \|", README, re.MULTILINE))


def test_every_setting_is_in_the_reference() -> None:
    expected = set(setting_paths(Settings))
    for kind in (CodySettings, AuroraSettings):
        expected |= {f"backends.NAME.{p}" for p in setting_paths(kind)}
    assert sorted(expected - documented()) == []
    assert sorted(documented() - expected) == []


def test_the_two_setup_commands_are_there() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
    assert "uv run --frozen bridge run" in blocks[0]
    assert blocks[1].strip() == "python3 -m pip install uv && uv run --frozen pytest"
