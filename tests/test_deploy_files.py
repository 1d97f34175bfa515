"""The deployment files: the Dockerfile passes hadolint and keeps secrets out; compose is sane."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import RunSettings, WebhookSettings
from core.relay import DRAIN_NOTICE_WAIT

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERIGNORE = ROOT / ".dockerignore"

_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|CREDENTIAL", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]+@")
_INTERPOLATED = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")


def _hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail("hadolint not found: it comes with the dev dependencies (uv sync)")
    return found


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    result = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {name: value for name, _, value in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def secret_looking(env: dict[str, str]) -> list[str]:
    """Names of variables whose literal value looks like a secret (interpolation is fine)."""
    flagged = []
    for name, value in env.items():
        if not value or _INTERPOLATED.match(value):
            continue
        if _SECRET_NAME.search(name) or _URL_PASSWORD.search(value):
            flagged.append(name)
    return flagged


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return _instructions(DOCKERFILE.read_text(encoding="utf-8"))


def test_hadolint_passes() -> None:
    proc = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_runs_as_non_root(dockerfile: list[tuple[str, str]]) -> None:
    users = [args for keyword, args in dockerfile if keyword == "USER"]
    assert users, "no USER instruction: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_base_and_install(dockerfile: list[tuple[str, str]]) -> None:
    assert dockerfile[0] == ("FROM", "python:3.11-slim")
    runs = [args for keyword, args in dockerfile if keyword == "RUN"]
    assert any(re.search(r"\buv==\d+\.\d+\.\d+", run) for run in runs), "uv must be pinned"
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs and all("--frozen" in run and "--no-dev" in run for run in syncs)
    # The lock file is copied before the sources, so dependency layers survive code edits.
    copies = [args for keyword, args in dockerfile if keyword == "COPY"]
    assert "uv.lock" in copies[0]


def test_dockerfile_runtime(dockerfile: list[tuple[str, str]]) -> None:
    joined = "\n".join(f"{keyword} {args}" for keyword, args in dockerfile)
    assert ("WORKDIR", "/app") in dockerfile
    assert "BRIDGE_CONFIG=/config/config.toml" in joined
    assert ("EXPOSE", "8080") in dockerfile
    assert ("EXPOSE", str(WebhookSettings().port)) in dockerfile
    assert ("CMD", '["bridge", "run"]') in dockerfile
    healthchecks = [args for keyword, args in dockerfile if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    # The health check asks the port the config names, not a port written here.
    assert healthchecks[0].endswith('CMD ["bridge", "health"]')
    assert "8080" not in healthchecks[0]


def test_dockerfile_bakes_in_no_config_or_secrets(dockerfile: list[tuple[str, str]]) -> None:
    for keyword, args in dockerfile:
        if keyword in {"COPY", "ADD"}:
            sources = args.split()[:-1]
            assert not any(Path(src).name in {"config.toml", ".env"} for src in sources), args
            if "." in sources:
                ignored = DOCKERIGNORE.read_text(encoding="utf-8").split()
                assert {"config.toml", ".env"} <= set(ignored)
        if keyword in {"ENV", "ARG"}:
            pairs = dict(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", args))
            assert secret_looking(pairs) == [], args


def test_dockerignore_keeps_secrets_out_of_the_context() -> None:
    ignored = set(DOCKERIGNORE.read_text(encoding="utf-8").split())
    assert {".env", "config.toml", ".git", ".venv"} <= ignored


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"bridge", "redis"} <= set(services)
    bridge = services["bridge"]
    assert bridge["build"] == "."
    assert bridge["restart"] == "unless-stopped"
    depends = bridge["depends_on"]
    assert "redis" in depends
    if isinstance(depends, dict):
        assert depends["redis"]["condition"] == "service_healthy"
    # The config is bound read-only, and a missing file is an error, not an empty directory.
    config = next(v for v in bridge["volumes"] if v["target"] == "/config/config.toml")
    assert config["type"] == "bind" and config["source"] == "./config.toml"
    assert config["read_only"] is True and config["bind"]["create_host_path"] is False
    env = _environment(bridge)
    assert env["BRIDGE_STORE__URL"] == "redis://redis:6379/0"
    assert env["BRIDGE_HEALTH__ENABLED"] == "true"
    assert env["BRIDGE_HEALTH__HOST"] == "0.0.0.0"
    # Webhook mode is reachable: the listener takes the container's interfaces, its port is
    # published (to the host's loopback, for the https reverse proxy).
    assert env["BRIDGE_TELEGRAM__WEBHOOK__LISTEN"] == "0.0.0.0"
    webhook = WebhookSettings().port
    assert f"127.0.0.1:{webhook}:{webhook}" in [p.split()[0] for p in bridge["ports"]]
    assert "127.0.0.1:8080:8080" in bridge["ports"]


def test_compose_says_which_compose_it_needs() -> None:
    # `env_file` with `required: false` arrived in Docker Compose 2.24.
    assert "Docker Compose 2.24 or later" in COMPOSE.read_text(encoding="utf-8")


def test_compose_redis_is_persistent(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert str(redis["image"]).startswith("redis:7")
    command = redis["command"]
    command = " ".join(command) if isinstance(command, list) else command
    assert "--appendonly yes" in command
    named = [
        volume.split(":")[0]
        for volume in redis["volumes"]
        if volume.split(":")[1] == "/data" and not volume.startswith((".", "/", "~"))
    ]
    assert named, "Redis data must live in a named volume at /data"
    assert named[0] in (compose.get("volumes") or {})
    test = redis["healthcheck"]["test"]
    assert "redis-cli" in test and "ping" in test


def test_compose_environment_has_no_secrets(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert secret_looking(_environment(service)) == [], name


@pytest.mark.parametrize(
    ("env", "flagged"),
    [
        ({"BRIDGE_TELEGRAM__TOKEN": "123456:AAE-abc"}, ["BRIDGE_TELEGRAM__TOKEN"]),
        ({"BRIDGE_STORE__URL": "redis://:hunter2@redis:6379/0"}, ["BRIDGE_STORE__URL"]),
        ({"BRIDGE_TELEGRAM__TOKEN": "${TELEGRAM_TOKEN}"}, []),
        ({"BRIDGE_STORE__URL": "redis://redis:6379/0", "BRIDGE_HEALTH__ENABLED": "true"}, []),
    ],
)
def test_secret_detector(env: dict[str, str], flagged: list[str]) -> None:
    assert secret_looking(env) == flagged


def _seconds(duration: str) -> float:
    """A compose duration ("45s", "1m30s", "90") in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)?", str(duration))
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001, "": 1}
    return sum(float(number) * scale[unit] for number, unit in parts)


def test_compose_waits_longer_than_the_bridge_s_grace_period(compose: dict[str, Any]) -> None:
    bridge = compose["services"]["bridge"]
    env = _environment(bridge)
    grace = float(env.get("BRIDGE_RUN__GRACE_PERIOD") or RunSettings().grace_period)
    # After the grace period, replies still running are ended with a notice (up to that wait).
    assert _seconds(bridge.get("stop_grace_period", "10s")) > grace + DRAIN_NOTICE_WAIT
