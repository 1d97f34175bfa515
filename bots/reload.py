"""SIGHUP: re-read the config file and put it in force for the next message.

Everything the front-ends and the relay read per message (admins, access lists, notices, reply
modes, relay limits) follows the :class:`core.live.LiveSettings` holder; backend tokens are handed
to the backends. What is bound at start-up (connections, listeners, the set of backends) is named
in a warning and waits for a restart. A config that does not load is refused and the old stays.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bots.runtime import secrets_of
from core.backends.base import Backend
from core.config import ConfigError, Settings, load_settings
from core.live import LiveSettings
from core.logs import Redactor, set_levels

log = logging.getLogger("bridge")

# Settings bound when the process starts (a connection, a listener, a log handler).
RESTART_ONLY = (
    "store",
    "health",
    "log.format",
    "telegram.enabled",
    "telegram.token",
    "telegram.base_url",
    "telegram.base_file_url",
    "telegram.mode",
    "telegram.webhook",
    "telegram.drafts",
    "discord.enabled",
    "discord.token",
    "discord.api_base_url",
    "discord.command_guilds",
    "discord.shard_count",
    "discord.shard_ids",
)


async def reload_settings(
    path: Path,
    live: LiveSettings,
    backends: Mapping[str, Backend],
    redactor: Redactor | None = None,
) -> bool:
    """Load ``path`` and put it in force; False (and one log line) when it is refused."""
    try:
        new = load_settings(path, require_file=True)
    except ConfigError as exc:
        log.error("config reload refused, keeping the running config: %s", "; ".join(exc.problems))
        return False
    old = live.current
    if _backend_kinds(new) != _backend_kinds(old):
        log.error(
            "config reload refused, keeping the running config: adding, removing or changing "
            "the kind of a backend needs a restart"
        )
        return False
    if redactor is not None:
        redactor.learn(secrets_of(new))
    for name, backend in backends.items():
        backend.use_token(new.backends[name].token.get_secret_value())
    set_levels(new.log.level, new.log.libraries)
    live.replace(new)
    pending = restart_pending(old, new)
    if pending:
        log.warning("config reloaded; these changes wait for a restart: %s", ", ".join(pending))
    else:
        log.info("config reloaded")
    return True


def restart_pending(old: Settings, new: Settings) -> list[str]:
    """The changed settings that only a restart puts in force."""
    before, after = old.model_dump(), new.model_dump()
    changed = [p for p in RESTART_ONLY if _at(before, p) != _at(after, p)]
    for name in sorted(after["backends"]):
        was = {k: v for k, v in before["backends"][name].items() if k != "token"}
        now = {k: v for k, v in after["backends"][name].items() if k != "token"}
        changed += [f"backends.{name}.{k}" for k in sorted(now) if was.get(k) != now[k]]
    return changed


def _backend_kinds(settings: Settings) -> dict[str, str]:
    return {name: b.kind for name, b in settings.backends.items()}


def _at(tree: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree.get(part, {}) if isinstance(tree, dict) else {}
    return tree
