"""Settings on the loopback fakes: the fakes' secrets, backend and platform tables, a `bridge run`
config file, and the shared Redis the tests use."""

from __future__ import annotations

import json
import os
import random
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from core.config import Settings
from tests.fakes.aurora import AuroraFake

if TYPE_CHECKING:
    from tests.fakes.cody import CodyFake
    from tests.fakes.discord import DiscordFake
    from tests.fakes.telegram import FakeTelegram

REDIS_URL = os.environ.get("BRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Any node of a local Redis Cluster (.ci/redis-cluster starts one on 7101-7103).
CLUSTER_URL = os.environ.get("BRIDGE_TEST_REDIS_CLUSTER_URL", "redis://127.0.0.1:7101/0")
AURORA_TOKEN = "aurora-test-token-0123456789"
CODY_KEY = "cody-test-key-0123456789abcdef"
CHARACTER_ID = 42
# A backend under test gives up on a silent fake in seconds, not the production minutes.
QUICK_TIMEOUTS = {"read_timeout": 5.0, "connect_timeout": 2.0}
# Write budgets fast enough for tests (the defaults keep to the platforms' real limits).
FAST_TELEGRAM = {"private_budget": "20/1s", "group_budget": "10/1s"}
FAST_DISCORD = {"write_budget": "20/1s"}


def aurora_backend(fake: AuroraFake, **overrides: Any) -> dict[str, Any]:
    """Backend settings for the fake Aurora."""
    return {
        "kind": "aurora",
        "base_url": fake.base_url,
        "token": AURORA_TOKEN,
        "character_id": CHARACTER_ID,
        **overrides,
    }


def cody_backend(fake: CodyFake, **overrides: Any) -> dict[str, Any]:
    """Backend settings for the fake Cody."""
    return {
        "kind": "cody",
        "base_url": fake.base_url,
        "token": CODY_KEY,
        "bot_id": "bot1",
        "stream_hosts": [fake.stream_host],
        **overrides,
    }


def upstream_backend(fake: AuroraFake | CodyFake, **overrides: Any) -> dict[str, Any]:
    """Backend settings for whichever fake upstream ``fake`` is."""
    if isinstance(fake, AuroraFake):
        return aurora_backend(fake, **overrides)
    return cody_backend(fake, **overrides)


def make_settings(
    *,
    backends: dict[str, Any],
    redis_url: str | None = None,
    prefix: str = "bridge",
    **sections: Any,
) -> Settings:
    """Settings with the given backends, on Redis when a URL is given (else an SQLite file)."""
    store = {"url": redis_url, "prefix": prefix} if redis_url else sections.pop("store")
    return Settings(backends=backends, store=store, **sections)


def luna_settings(aurora: AuroraFake, redis_url: str, prefix: str, **sections: Any) -> Settings:
    """Settings with the fake Aurora as the only backend, ``luna``, on Redis under ``prefix``;
    ``sections`` are the other tables (relay, telegram, discord, ...)."""
    return make_settings(
        backends={"luna": aurora_backend(aurora)}, redis_url=redis_url, prefix=prefix, **sections
    )


def telegram_section(tg: FakeTelegram, *, fast: bool = True, **overrides: Any) -> dict[str, Any]:
    """Telegram settings on the fake, paced fast for tests unless not ``fast``; ``overrides`` win."""
    budgets = FAST_TELEGRAM if fast else {}
    return {"enabled": True, "token": tg.token, "base_url": tg.base_url, **budgets, **overrides}


def discord_section(dc: DiscordFake, *, fast: bool = True, **overrides: Any) -> dict[str, Any]:
    """Discord settings on the fake, paced fast for tests unless not ``fast``; ``overrides`` win."""
    budgets = FAST_DISCORD if fast else {}
    return {
        "enabled": True,
        "token": dc.token,
        "api_base_url": dc.api_base_url,
        **budgets,
        **overrides,
    }


def toml(tables: dict[str, dict[str, Any]]) -> str:
    """TOML text of ``{table name: {key: value}}``; JSON writes strings, numbers, booleans and
    lists of them as TOML does."""
    return "".join(
        f"\n[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
        for name, values in tables.items()
    )


def bridge_config(
    cody: CodyFake,
    *,
    redis_url: str,
    prefix: str,
    tg: FakeTelegram | None = None,
    dc: DiscordFake | None = None,
    extra: str = "",
    store: dict[str, Any] | None = None,
) -> str:
    """A `bridge run` config on the fakes: one Cody backend and the given platforms, with write
    budgets fast enough for tests; ``extra`` holds the test's own tables ([relay], [run], ...);
    ``store`` replaces the store's url (e.g. with sentinels)."""
    tables = {
        "store": {**(store or {"url": redis_url}), "prefix": prefix},
        "backends.assistant": cody_backend(cody),
    }
    if tg is not None:
        tables["telegram"] = telegram_section(tg)
    if dc is not None:
        tables["discord"] = discord_section(dc, write_budget="10/1s")
    return toml(tables) + extra


def setting_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every leaf setting of a model, dotted."""
    paths = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += setting_paths(annotation, f"{prefix}{name}.")
        elif name != "backends" or prefix:  # the backends table; allowances.backends is a leaf
            paths.append(prefix + name)
    return paths


LOWEST_PORT = 10_000
# A generator of its own: tests may reset the global one (Hypothesis does).
_PORTS = random.SystemRandom()


def free_port() -> int:
    """A TCP port nobody listens on right now, from this test process's share of the ports
    below the kernel's range for outgoing connections: a port from that range (what binding
    port 0 gives) can be taken by some client's connection before the server binds it, and a
    port another worker picked by the same draw before its server binds it."""
    share = _port_share()
    while True:
        port = _PORTS.choice(share) if share else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])


def _port_share() -> range:
    """This process's ports: pytest-xdist's workers each get their own slice."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    size = max(0, _outgoing_ports_from() - LOWEST_PORT) // max(workers, 1)
    first = LOWEST_PORT + index * size
    return range(first, first + size)


def _outgoing_ports_from() -> int:
    """The first port the kernel gives outgoing connections (Linux's default when unknown)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def aurora_config(
    tmp_path: Path, fake: AuroraFake, token: str = AURORA_TOKEN, tg: FakeTelegram | None = None
) -> Path:
    """A config file with the fake Aurora as its only backend, on an SQLite file in ``tmp_path``;
    with ``tg``, the Telegram front-end on that fake too (a config `bridge check` passes has a
    front-end)."""
    path = tmp_path / "config.toml"
    telegram = (
        f'\n[telegram]\nenabled = true\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\n'
        if tg
        else ""
    )
    path.write_text(
        f'[store]\npath = "{tmp_path / "bridge.db"}"\n\n'
        f'[backends.luna]\nkind = "aurora"\nbase_url = "{fake.base_url}"\n'
        f'token = "{token}"\ncharacter_id = {CHARACTER_ID}\n' + telegram
    )
    return path
