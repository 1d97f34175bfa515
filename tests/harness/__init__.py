"""The one test harness: everything tests share to start a bridge on the loopback fakes and
talk to it. Test modules import from here (and tests.fakes), never from one another.

- In process: the ``telegram_chat`` / ``discord_chat`` fixtures, or :func:`open_telegram` /
  :func:`open_discord` for other settings, give a chat read as a transcript
  (``await chat.say("hi")``, then ``await chat.reply()``); :func:`telegram_bridge` /
  :func:`discord_bridge` give the runtime and front-end alone; :func:`bridge_run` runs what
  `bridge run` runs.
- As a subprocess: :func:`run_cli` runs ``bridge ARGS`` to its end; :class:`BridgeProcess` /
  :func:`running_bridge` keep one running and read its log; :class:`RestartableRun` (the
  ``make_bridge`` fixture) kills and starts `bridge run` again.
- The operator's page: :func:`page_on_fakes` (a bridge with the page on its listener) and
  :func:`converse` (a few messages to fill it), signed in with :data:`PAGE_TOKEN`.
- Settings on the fakes: :func:`luna_settings`, :func:`make_settings`, :func:`bridge_config`, ...
"""

from tests.harness.chat import (
    ADMIN,
    ADMIN_ID,
    ALICE,
    BOB,
    CAROL,
    GROUP,
    MANAGER_ID,
    MEMBER_ID,
    OTHER_GROUP,
    DiscordChat,
    RelayChat,
    TelegramChat,
    open_discord,
    open_telegram,
    telegram_runtime,
)
from tests.harness.dashboard import PAGE_TOKEN, PageEnv, converse, page_on_fakes
from tests.harness.inprocess import bridge_run, discord_bridge, telegram_bridge
from tests.harness.logs import production_logs
from tests.harness.processes import (
    ROOT,
    BridgeProcess,
    MakeBridge,
    RestartableRun,
    clean_env,
    no_traceback,
    run_bench,
    run_cli,
    running_bridge,
)
from tests.harness.settings import (
    AURORA_TOKEN,
    CHARACTER_ID,
    CLUSTER_URL,
    CODY_KEY,
    QUICK_TIMEOUTS,
    REDIS_URL,
    aurora_backend,
    aurora_config,
    bridge_config,
    cody_backend,
    discord_section,
    free_port,
    luna_settings,
    make_settings,
    setting_paths,
    telegram_section,
    toml,
    upstream_backend,
)
from tests.harness.stores import (
    RedisServer,
    cluster_reachable,
    need_redis_server,
    redis_available,
)
from tests.harness.transcript import NOTICE_MARKS, is_notice
from tests.harness.upstream import collect, collect_until_error

__all__ = [
    "ADMIN",
    "ADMIN_ID",
    "ALICE",
    "AURORA_TOKEN",
    "BOB",
    "CAROL",
    "CHARACTER_ID",
    "CLUSTER_URL",
    "CODY_KEY",
    "GROUP",
    "MANAGER_ID",
    "MEMBER_ID",
    "NOTICE_MARKS",
    "OTHER_GROUP",
    "PAGE_TOKEN",
    "QUICK_TIMEOUTS",
    "REDIS_URL",
    "ROOT",
    "BridgeProcess",
    "DiscordChat",
    "MakeBridge",
    "PageEnv",
    "RedisServer",
    "RelayChat",
    "RestartableRun",
    "TelegramChat",
    "aurora_backend",
    "aurora_config",
    "bridge_config",
    "bridge_run",
    "clean_env",
    "cluster_reachable",
    "cody_backend",
    "collect",
    "collect_until_error",
    "converse",
    "discord_bridge",
    "discord_section",
    "free_port",
    "is_notice",
    "luna_settings",
    "make_settings",
    "need_redis_server",
    "no_traceback",
    "open_discord",
    "open_telegram",
    "page_on_fakes",
    "production_logs",
    "redis_available",
    "run_bench",
    "run_cli",
    "running_bridge",
    "setting_paths",
    "telegram_bridge",
    "telegram_runtime",
    "telegram_section",
    "toml",
    "upstream_backend",
]
