"""Everything one process builds from the settings: store, backends, metrics and relay."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import metadata

from core.access import Access, AccessLists
from core.activity import Activity
from core.alerts import PlanAlerts
from core.backends import build_backends
from core.backends.base import Backend
from core.bridge import Bridge
from core.budget import Budget
from core.commands import ChatCommands
from core.config import CodySettings, DiscordSettings, Settings, TelegramSettings
from core.conversations import Conversations, Renewal
from core.live import Current, LiveSettings
from core.logs import Redactor
from core.metering import Metering
from core.metrics import Metrics
from core.notices import LiveTexts, Texts
from core.notify import Notifier
from core.pacing import BotWide, PacingBoard, StoredPacing
from core.recovery import Recovery
from core.relay import Relay
from core.store import open_store
from core.store.base import Store
from core.turns import Turns
from core.upstream import Upstream
from core.usage import Ledger

DISCORD_KEY = "dc:*"  # Discord's bot-wide pacing state (channel keys are "dc:<id>")


@dataclass(frozen=True, slots=True)
class Runtime:
    """The parts shared by every front-end of one process.

    ``settings`` are those it started with; ``live`` holds the ones in force after a reload.
    """

    settings: Settings
    store: Store
    backends: dict[str, Backend]
    relay: Relay
    metrics: Metrics
    recovery: Recovery
    live: LiveSettings
    bridge: Bridge
    """What the front-ends talk to: access, scope and names in front of the relay, commands."""
    alerts: PlanAlerts
    """Where a front-end offers to write to its admins privately (plan alerts)."""
    activity: Activity
    """What this process records for the operator's page (reported once the page is enabled)."""
    process: str
    """This process's name in tickets, liveness keys and the page's beats."""


def version() -> str:
    """The installed bridge's version."""
    try:
        return metadata.version("bridge")
    except metadata.PackageNotFoundError:
        return "unknown"


def redactor_for(settings: Settings) -> Redactor:
    """The log redactor that knows every secret and capability host in the settings."""
    hosts = [
        h for b in settings.backends.values() if isinstance(b, CodySettings) for h in b.stream_hosts
    ]
    return Redactor(secrets_of(settings), capability_hosts=hosts)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret in the settings, for log redaction."""
    found = [b.token.get_secret_value() for b in settings.backends.values()]
    for token in (
        settings.telegram.token,
        settings.discord.token,
        settings.telegram.webhook.secret_token,
        settings.dashboard.token,
    ):
        if token is not None:
            found.append(token.get_secret_value())
    if settings.store.url and "@" in settings.store.url:
        found.append(settings.store.url.split("@", 1)[0].rsplit(":", 1)[-1])
    return found


def texts_for(settings: Settings) -> Texts:
    """The notices in the configured language, with overrides and backends' display names."""
    return Texts(
        settings.notices.language,
        settings.notices.texts,
        assistants={n: b.display_name for n, b in settings.backends.items() if b.display_name},
        default_backend=settings.relay.default_backend,
    )


def access_lists(settings: Settings) -> dict[str, AccessLists]:
    """Each platform's allow and block lists from the config."""
    return {
        "telegram": AccessLists.of_telegram(settings.telegram),
        "discord": AccessLists.of_discord(settings.discord),
    }


def bot_wide_budgets(
    discord: Callable[[], DiscordSettings], telegram: Callable[[], TelegramSettings]
) -> BotWide:
    """Each platform's bot-wide budget by its chats' key prefix, as the settings in force say."""
    parse = functools.lru_cache(maxsize=16)(Budget.bot_wide)

    def budget(prefix: str) -> Budget | None:
        if prefix == "dc":
            return parse(discord().global_budget)
        if prefix == "tg":
            return parse(telegram().global_budget)
        return None

    return budget


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Build the runtime; close every connection on exit."""
    store = open_store(settings.store)
    backends = build_backends(settings.backends)
    metrics = Metrics()
    activity = Activity(store)  # built before the relay, so that the relay can feed it
    live = LiveSettings(settings)
    relay_settings = live.view(lambda s: s.relay)
    texts = LiveTexts(live.view(lambda s: s), texts_for)
    # One process paces its chats alone; processes sharing a Redis share every chat's budget.
    bot_wide = bot_wide_budgets(live.view(lambda s: s.discord), live.view(lambda s: s.telegram))
    pacing = (
        StoredPacing(store, bot_wide=bot_wide)
        if settings.store.url
        else PacingBoard(bot_wide=bot_wide)
    )
    if settings.discord.enabled:
        metrics.watch_invalid_requests(lambda: pacing.invalid_requests(DISCORD_KEY))
    upstream = Upstream(store=store, backends=backends, texts=texts, metrics=metrics)
    turns = Turns(store=store, settings=relay_settings)
    notifier = Notifier(texts, activity, pacing)
    allowance_settings = live.view(lambda s: s.allowances)
    alerts = PlanAlerts(
        store=store,
        texts=texts,
        settings=allowance_settings,
        admins=live.view(lambda s: {"telegram": s.telegram.admins, "discord": s.discord.admins}),
    )
    metering = Metering(
        store=store,
        notifier=notifier,
        settings=allowance_settings,
        metrics=metrics,
        alerts=alerts,
    )
    relay = Relay(
        store=store,
        upstream=upstream,
        turns=turns,
        notifier=notifier,
        settings=relay_settings,
        metrics=metrics,
        pacing=pacing,
        metering=metering,
        renewal=Renewal(store=store, notifier=notifier, tell_admins=alerts.tell_admins),
    )
    recovery = Recovery(
        store=store,
        turns=turns,
        upstream=upstream,
        notifier=notifier,
        pacing=pacing,
        resume=relay.resume,
    )
    conversations = Conversations(store=store, upstream=upstream, settings=relay_settings)
    lists: Current[dict[str, AccessLists]] = live.view(access_lists)
    access = Access(store, lists)
    bridge = Bridge(
        relay=relay,
        store=store,
        conversations=conversations,
        access=access,
        commands=ChatCommands(
            conversations=conversations,
            access=access,
            texts=texts,
            ledger=Ledger(
                store=store, settings=allowance_settings, backends=lambda: upstream.names
            ),
            stops=relay.stops,
        ),
        texts=texts,
        settings=relay_settings,
        allowances=allowance_settings,
    )
    try:
        yield Runtime(
            settings,
            store,
            backends,
            relay,
            metrics,
            recovery,
            live,
            bridge,
            alerts,
            activity,
            turns.owner,
        )
    finally:
        await relay.aclose()
        for backend in backends.values():
            with contextlib.suppress(Exception):
                await backend.aclose()
        with contextlib.suppress(Exception):
            await store.aclose()
