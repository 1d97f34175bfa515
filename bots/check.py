"""``bridge check``: validate the config, reach the store, every backend and every enabled
platform with its token, and report plainly what will fail."""

from __future__ import annotations

import ipaddress
import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

import httpx

from bots.frontend import StartupError, TokenCheck
from core.backends import build_backends
from core.config import CodySettings, Settings, StoreSettings
from core.errors import BridgeError, Misconfigured, StoreRefused, Unauthorized
from core.model import ChannelRecord, ReplyMode
from core.store import open_store

PRIVACY_HELP = (
    "Telegram privacy mode is on, so in groups the bot sees only commands, mentions and replies; "
    "turn it off with @BotFather (/setprivacy, Disable), then remove and re-add the bot"
)
CODY_API_HOST = "getcody.ai"
CODY_STREAM_HOST = "stream.aimcaiface.com"
NO_FRONT_END = (
    "none enabled: set telegram.enabled or discord.enabled to true "
    "(bridge run refuses to start without one; bridge console needs none)"
)
_NAMES_SETTING = re.compile(r"^[a-z_]+(\.[A-Za-z0-9_-]+)+: ")
INTENT_HELP = (
    "the Message Content intent is not enabled: the bot cannot read messages that do not "
    "mention it; enable it in the Discord developer portal (your application > Bot > "
    "Privileged Gateway Intents)"
)


@dataclass(frozen=True, slots=True)
class CheckLine:
    """One line of the report."""

    what: str
    ok: bool
    detail: str
    warning: bool = False
    """Works, but the operator should know (the report marks it, the exit code ignores it)."""


def quiet_third_parties() -> None:
    """Keep libraries' own warnings (voice support, intents, Python warnings) out of the report:
    the report says what matters in its own words."""
    warnings.simplefilter("ignore")
    for name in ("discord", "telegram"):
        logging.getLogger(name).setLevel(logging.ERROR)


async def run_checks(settings: Settings) -> list[CheckLine]:
    """Every check, in report order; never raises."""
    lines = [CheckLine("config", True, _summary(settings))]
    if not (settings.telegram.enabled or settings.discord.enabled):
        lines.append(CheckLine("front-ends", False, NO_FRONT_END))
    records: list[ChannelRecord] = []
    store = open_store(settings.store)
    try:
        lines.append(CheckLine("store", True, await store.ping()))
        records = await store.channel_records()
    except StoreRefused as exc:
        lines.append(CheckLine("store", False, str(exc)))
    except BridgeError as exc:
        where = "store.url" if settings.store.url else "store.path"
        lines.append(CheckLine("store", False, f"{where}: {exc or 'unreachable'}"))
    finally:
        await store.aclose()
    backends = build_backends(settings.backends)
    try:
        for name, backend in backends.items():
            what = f"backend {name} ({backend.kind})"
            try:
                lines.append(CheckLine(what, True, await backend.check()))
            except Misconfigured as exc:
                lines.append(CheckLine(what, False, str(exc)))
            except Unauthorized:
                refused = f"unauthorized: the {backend.kind} API refused it"
                lines.append(CheckLine(what, False, f"backends.{name}.token: {refused}"))
            except BridgeError as exc:
                kind = getattr(exc, "kind", "error")
                problem = f"{kind}: {exc}" if str(exc) else kind
                lines.append(CheckLine(what, False, f"backends.{name}.base_url: {problem}"))
        for name, backend_settings in settings.backends.items():
            problem = stream_hosts_problem(name, backend_settings)
            if problem:
                lines.append(CheckLine(f"backend {name} streams", False, problem))
    finally:
        for backend in backends.values():
            await backend.aclose()
    if not backends:
        lines.append(CheckLine("backends", False, "none configured (add a [backends.NAME] table)"))
    lines.extend(await _check_platforms(settings, records))
    lines.extend(_check_dashboard(settings))
    return lines


def _check_dashboard(settings: Settings) -> list[CheckLine]:
    """The page shows who uses the bot: served beyond this machine, it wants TLS in front."""
    if not settings.dashboard.enabled:
        return []
    host = settings.health.host
    where = f"http://{host}:{settings.health.port}/dashboard"
    if _loopback(host):
        return [CheckLine("dashboard", True, where)]
    return [
        CheckLine(
            "dashboard",
            True,
            f"health.host {host} is not loopback: the page and its token cross the network "
            "in clear unless TLS is in front; serve it on 127.0.0.1 behind a reverse proxy "
            "with TLS (see the README)",
            warning=True,
        )
    ]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _check_platforms(settings: Settings, records: list[ChannelRecord]) -> list[CheckLine]:
    """The bot token of each enabled front-end, with one cheap call to its platform, and what
    that call says the bot may read."""
    checks: list[tuple[str, Callable[[], Awaitable[TokenCheck]], Callable[[TokenCheck], str]]] = []
    if settings.telegram.enabled:
        from bots.telegram.frontend import check_token as check_telegram

        checks.append(
            ("telegram", lambda: check_telegram(settings.telegram), lambda t: _privacy(t, records))
        )
    if settings.discord.enabled:
        from bots.discord.frontend import check_token as check_discord

        checks.append(("discord", lambda: check_discord(settings.discord), _intent))
    lines = []
    if settings.telegram.enabled and settings.telegram.mode == "webhook":
        url = settings.telegram.webhook.url or ""
        if not url.lower().startswith("https://"):
            lines.append(
                CheckLine(
                    "telegram webhook",
                    False,
                    "telegram.webhook.url: Telegram only delivers to an https:// URL",
                )
            )
    endpoints = {"telegram": "telegram.base_url", "discord": "discord.api_base_url"}
    for what, check, problem_of in checks:
        try:
            token = await check()
        except StartupError as exc:
            named = str(exc) if _NAMES_SETTING.match(str(exc)) else f"{endpoints[what]}: {exc}"
            lines.append(CheckLine(what, False, named))
            continue
        problem = problem_of(token)
        lines.append(
            CheckLine(what, not problem, f"{token.who}; {problem}" if problem else token.who)
        )
    return lines


def stream_hosts_problem(name: str, settings: object) -> str | None:
    """Why a streaming Cody backend's reply streams would all be refused, as far as the config
    tells without sending a prompt (only a sent message yields a stream URL): Cody's own API
    with its stream host missing, or another API whose stream host nobody has chosen."""
    if not isinstance(settings, CodySettings) or not settings.streaming:
        return None
    setting = f"backends.{name}.stream_hosts"
    hosts = {h.strip().lower().split(":")[0] for h in settings.stream_hosts}
    if httpx.URL(settings.base_url).host == CODY_API_HOST:
        if CODY_STREAM_HOST in hosts:
            return None
        return f"{setting}: Cody streams replies from {CODY_STREAM_HOST}; list it, or every reply fails"
    if "stream_hosts" in settings.model_fields_set:
        return None
    return (
        f"{setting}: base_url is not Cody's own API, so its replies may stream from another "
        f"host than {CODY_STREAM_HOST}; list the host its stream URLs name (setting it at all, "
        "even to the default, settles this)"
    )


def _privacy(token: TokenCheck, records: list[ChannelRecord]) -> str:
    """A problem when privacy mode is on while a group is set to answer every message."""
    if token.reads_all:
        return ""
    groups = [r.channel for r in records if _telegram_group(r.channel) and r.mode is ReplyMode.ALL]
    if not groups:
        return ""
    shown = ", ".join(groups[:3]) + (f" and {len(groups) - 3} more" if len(groups) > 3 else "")
    return f"mode 'all' in {shown}, but {PRIVACY_HELP}"


def _telegram_group(channel: str) -> bool:
    """Group and supergroup chat ids are negative: ``tg:-100…``."""
    return channel.startswith("tg:-")


def _intent(token: TokenCheck) -> str:
    return "" if token.reads_all else INTENT_HELP


def _summary(settings: Settings) -> str:
    fronts = [
        n
        for n, on in (
            ("telegram", settings.telegram.enabled),
            ("discord", settings.discord.enabled),
        )
        if on
    ]
    return (
        f"{len(settings.backends)} backend(s), default {settings.relay.default_backend or 'none'}; "
        f"store {_store_kind(settings.store)}; front-ends: {', '.join(fronts) or 'none enabled'}"
    )


def _store_kind(store: StoreSettings) -> str:
    """The store the config names (the store line says what was found there)."""
    if store.sentinels:
        return f"redis via {len(store.sentinels)} sentinel(s), master {store.sentinel_master}"
    if store.url:
        return "redis cluster" if store.cluster else "redis"
    return f"sqlite file {store.path}"


def print_report(lines: list[CheckLine], out: TextIO) -> None:
    """Aligned, one line per check."""
    width = max(len(line.what) for line in lines)
    for line in lines:
        mark = "WARN" if line.warning else "ok  " if line.ok else "FAIL"
        out.write(f"{mark}  {line.what.ljust(width)}  {line.detail}\n")
    failed = sum(not line.ok for line in lines)
    out.write("all good\n" if not failed else f"{failed} problem(s)\n")
