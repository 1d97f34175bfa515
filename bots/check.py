"""``bridge check``: validate the config, reach the store, every backend and every enabled
platform with its token, and report plainly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from bots.frontend import StartupError
from core.backends import build_backends
from core.config import Settings
from core.errors import BridgeError
from core.store import open_store


@dataclass(frozen=True, slots=True)
class CheckLine:
    """One line of the report."""

    what: str
    ok: bool
    detail: str


async def run_checks(settings: Settings) -> list[CheckLine]:
    """Every check, in report order; never raises."""
    lines = [CheckLine("config", True, _summary(settings))]
    store = open_store(settings.store)
    try:
        lines.append(CheckLine("store", True, await store.ping()))
    except BridgeError as exc:
        lines.append(CheckLine("store", False, str(exc) or "unreachable"))
    finally:
        await store.aclose()
    backends = build_backends(settings.backends)
    try:
        for name, backend in backends.items():
            what = f"backend {name} ({backend.kind})"
            try:
                lines.append(CheckLine(what, True, await backend.check()))
            except BridgeError as exc:
                kind = getattr(exc, "kind", "error")
                lines.append(CheckLine(what, False, f"{kind}: {exc}" if str(exc) else kind))
    finally:
        for backend in backends.values():
            await backend.aclose()
    if not backends:
        lines.append(CheckLine("backends", False, "none configured (add a [backends.NAME] table)"))
    lines.extend(await _check_platforms(settings))
    return lines


async def _check_platforms(settings: Settings) -> list[CheckLine]:
    """The bot token of each enabled front-end, with one cheap call to its platform."""
    checks: list[tuple[str, Callable[[], Awaitable[str]]]] = []
    if settings.telegram.enabled:
        from bots.telegram.frontend import check_token as check_telegram

        checks.append(("telegram", lambda: check_telegram(settings.telegram)))
    if settings.discord.enabled:
        from bots.discord.frontend import check_token as check_discord

        checks.append(("discord", lambda: check_discord(settings.discord)))
    lines = []
    for what, check in checks:
        try:
            lines.append(CheckLine(what, True, await check()))
        except StartupError as exc:
            lines.append(CheckLine(what, False, str(exc)))
    return lines


def _summary(settings: Settings) -> str:
    fronts = [
        n
        for n, on in (
            ("telegram", settings.telegram.enabled),
            ("discord", settings.discord.enabled),
        )
        if on
    ]
    store = "redis" if settings.store.url else f"sqlite file {settings.store.path}"
    return (
        f"{len(settings.backends)} backend(s), default {settings.relay.default_backend or 'none'}; "
        f"store {store}; front-ends: {', '.join(fronts) or 'none enabled'}"
    )


def print_report(lines: list[CheckLine], out: TextIO) -> None:
    """Aligned, one line per check."""
    width = max(len(line.what) for line in lines)
    for line in lines:
        mark = "ok  " if line.ok else "FAIL"
        out.write(f"{mark}  {line.what.ljust(width)}  {line.detail}\n")
    failed = sum(not line.ok for line in lines)
    out.write("all good\n" if not failed else f"{failed} problem(s)\n")
