"""Settings: a TOML file with ``BRIDGE_``-prefixed environment overrides (``__`` nests).

A bad config raises :class:`ConfigError` whose ``problems`` are one readable line each.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from core import notices
from core.budget import Budget
from core.windows import Limit, zone_of

DEFAULT_CONFIG_PATH = "config.toml"
CONFIG_ENV_VAR = "BRIDGE_CONFIG"
_BACKEND_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_DEFAULT_BUDGETS = {"write_budget": "5/5s", "private_budget": "3/3s", "group_budget": "20/60s"}
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
DASHBOARD_TOKEN_MIN = 16
_EMPTY = "must not be empty (set it in the file or in the environment)"


def _flag(value: object) -> object:
    """A switch is true or false: TOML's booleans, or the words an environment variable holds.
    "yes", "on" or 1 in the file would pass pydantic's lax bool silently."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError("use true or false")
    return value


Flag = Annotated[bool, BeforeValidator(_flag)]
"""A boolean setting: true or false, nothing else."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _budget(text: str) -> str:
    Budget.parse(text)  # raises ValueError with a readable message
    return text.strip()


WriteBudget = Annotated[str, AfterValidator(_budget)]
"""A write limit as "writes/seconds", e.g. "5/5s"."""


def _limit(text: str) -> str:
    Limit.parse(text)  # raises ValueError with a readable message
    return text.strip()


AllowanceLimit = Annotated[str, AfterValidator(_limit)]
"""A message allowance as "N/PERIOD", e.g. "30/1d" or "10/12h"; "0" for none."""


_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def _seconds(value: Any) -> float:
    """A duration: a number of seconds, or "500ms", "2s", "1m"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _SECONDS.match(str(value))
        if match is None:
            raise ValueError('use a duration such as "0s", "1.5s", "500ms" or "1m"')
        number, unit = float(match.group(1)), match.group(2) or "s"
        seconds = number * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


Seconds = Annotated[float, BeforeValidator(_seconds)]
"""A duration in seconds, written as a number or "0s", "1.5s", "500ms", "1m"."""
_PERSON = re.compile(r"^(telegram|discord):\d+$")


def _refuse_replaced(data: Any, replaced: dict[str, str], section: str) -> Any:
    """A setting from before write budgets gets a pointer to what replaced it."""
    if isinstance(data, dict):
        for old, new in replaced.items():
            if old in data:
                raise ValueError(
                    f"{old} was replaced by {section}.{new}, a write budget such as "
                    f'"{_DEFAULT_BUDGETS[new]}" (writes per seconds)'
                )
    return data


def host_port(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:26379`` for IPv6) as a pair; ValueError when it is not one."""
    host, _, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("use host:port, e.g. 127.0.0.1:26379")
    return host, int(port)


def _address(text: str) -> str:
    host_port(text)  # raises ValueError with a readable message
    return text.strip()


Address = Annotated[str, AfterValidator(_address)]
"""A TCP address as "host:port"."""


class StoreSettings(_Section):
    """Where bindings, de-duplication and cooldowns live."""

    url: str | None = None
    path: str = "bridge.db"
    prefix: str = "bridge"
    cluster: Flag = False
    sentinels: list[Address] = []
    sentinel_master: str = "mymaster"
    sentinel_password: SecretStr | None = None
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().lower().startswith(_REDIS_SCHEMES):
            raise ValueError(
                "must start with redis://, rediss:// or unix:// (e.g. redis://localhost:6379/0)"
            )
        return value


class _BackendBase(_Section):
    base_url: str
    token: SecretStr
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(60.0, gt=0, description="longest gap between two chunks")
    reply_deadline: float = Field(300.0, gt=0, description="longest a whole reply may take")
    max_retries: int = Field(2, ge=0, le=5)
    max_retry_after: float = Field(20.0, ge=0, description="longest Retry-After we wait for")
    quota_cooldown: float = Field(3600.0, ge=0, description="pause after a quota error, seconds")
    display_name: str | None = Field(None, description="how notices name it (else 'The assistant')")

    @field_validator("token")
    @classmethod
    def _token_set(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError(_EMPTY)
        return value


class CodySettings(_BackendBase):
    """A Cody API v1 backend (conversation_id per channel)."""

    kind: Literal["cody"]
    base_url: str = "https://getcody.ai/api/v1"
    bot_id: str
    stream_hosts: list[str] = ["stream.aimcaiface.com"]
    streaming: Flag = True
    max_input_chars: int = Field(2000, gt=0)

    @field_validator("bot_id")
    @classmethod
    def _bot_id_set(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(_EMPTY)
        return value.strip()

    @field_validator("stream_hosts")
    @classmethod
    def _bare_hosts(cls, value: list[str]) -> list[str]:
        if any(not _HOST.match(host.strip()) for host in value):
            raise ValueError('hosts only, like "stream.aimcaiface.com" or "host:8443"')
        return value


class AuroraSettings(_BackendBase):
    """An Aurora chat API v11 backend (characterId + chatId per channel)."""

    kind: Literal["aurora"]
    base_url: str = "https://chat-api.aurora-interactive.online:8443/api/v11"
    character_id: int
    max_input_chars: int | None = Field(None, gt=0)
    verify_close: Literal["unfinished", "always", "off"] = Field(
        "unfinished",
        description="when to check a closed stream against the stored history (one GET)",
    )


BackendSettings = Annotated[CodySettings | AuroraSettings, Field(discriminator="kind")]


class RelaySettings(_Section):
    """How the relay admits and queues messages."""

    default_backend: str | None = None
    rate_limit_messages: int = Field(6, ge=1, description="per user per window")
    rate_limit_window: float = Field(60.0, gt=0)
    queue_size: int = Field(5, ge=0, description="messages waiting per channel before 'busy'")
    dedupe_ttl: float = Field(86400.0, gt=0)
    lock_wait: float = Field(600.0, gt=0, description="longest a message waits for its turn")
    speaker_format: str = Field("{name}: {text}", description="how a shared channel names authors")
    speaker_names: Literal["groups", "always", "never"] = "groups"
    quote_replies: Flag = True
    lock_ttl: float = Field(
        15.0, ge=1, description="lease on a channel's turn, renewed while its reply runs"
    )
    final_retry_for: float = Field(
        600.0, gt=0, description="how long a reply's final text is retried, seconds"
    )
    stop_button: Flag = Field(
        True, description="a Stop button on streaming replies (false: only /stop)"
    )
    merge_queued: Flag = Field(
        True, description="a person's messages queued behind a reply go upstream as one"
    )
    merge_window: Seconds = Field(
        0.0, description="to an idle channel, wait this long for the same person's next message"
    )
    edits: Literal["queued", "answer", "off"] = Field(
        "queued",
        description="an edited message: replace a queued one's text; 'answer' also "
        "relays an answered one's edit as a new message; 'off' ignores edits",
    )


class WebhookSettings(_Section):
    """Telegram webhook mode: where to listen and the public URL Telegram calls."""

    listen: str = "127.0.0.1"
    port: int = Field(8443, ge=1, le=65535)
    url: str | None = None
    secret_token: SecretStr | None = Field(
        None, description="1-256 characters: A-Z, a-z, 0-9, '_' and '-' (Telegram's rule)"
    )

    @field_validator("secret_token")
    @classmethod
    def _telegram_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET_TOKEN.match(value.get_secret_value()):
            raise ValueError("use 1-256 characters: A-Z, a-z, 0-9, '_' and '-'")
        return value


class TelegramSettings(_Section):
    """The Telegram front-end."""

    enabled: Flag = False
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookSettings = WebhookSettings()
    admins: list[int] = []
    drafts: Flag = True
    private_budget: WriteBudget = "3/3s"
    group_budget: WriteBudget = "20/60s"
    draft_budget: WriteBudget = "8/1s"
    global_budget: WriteBudget = Field("25/1s", description="writes of the whole bot, every chat")
    admin_cache_ttl: float = Field(60.0, ge=0)
    allowed_users: list[int] = []
    blocked_users: list[int] = []
    allowed_chats: list[int] = []

    @model_validator(mode="before")
    @classmethod
    def _replaced(cls, data: Any) -> Any:
        replaced = {"private_interval": "private_budget", "group_interval": "group_budget"}
        return _refuse_replaced(data, replaced, "telegram")


class DiscordSettings(_Section):
    """The Discord front-end."""

    enabled: Flag = False
    token: SecretStr | None = None
    api_base_url: str = "https://discord.com/api/v10"
    admins: list[int] = []
    command_guilds: list[int] = []
    write_budget: WriteBudget = "5/5s"
    global_budget: WriteBudget = Field(
        "45/1s", description="writes of the whole bot, every channel"
    )
    shard_count: int | None = Field(None, ge=1, description="shards of the whole bot")
    shard_ids: list[int] | None = Field(None, description="the shards this process connects")
    identify_spacing: float = Field(
        5.0,
        gt=0,
        description="Discord's gap between IDENTIFYs of one bucket; only a test changes it",
    )
    catch_up_window: float = Field(
        600.0, ge=0, description="on (re)connect, answer messages missed this far back; 0 = off"
    )
    allowed_users: list[int] = []
    blocked_users: list[int] = []
    allowed_roles: list[int] = []
    blocked_roles: list[int] = []
    allowed_channels: list[int] = []

    @model_validator(mode="before")
    @classmethod
    def _replaced(cls, data: Any) -> Any:
        return _refuse_replaced(data, {"edit_interval": "write_budget"}, "discord")


class NoticeSettings(_Section):
    """The language of what users read, and the operator's own wording by notice name."""

    language: Literal["en", "de", "es", "fr", "ru", "pt", "uk"] = "en"
    texts: dict[str, str] = {}


class HealthSettings(_Section):
    """The optional /healthz and /metrics listener."""

    enabled: Flag = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class DashboardSettings(_Section):
    """The operator's page at /dashboard on the health listener."""

    enabled: bool = False
    token: SecretStr = Field(
        SecretStr(""), description="required when enabled; at least 16 characters"
    )


class LogSettings(_Section):
    """Log format and level."""

    format: Literal["plain", "json"] = "plain"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    libraries: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="the libraries' level, never below log.level"
    )

    @field_validator("level", "libraries", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


class RunSettings(_Section):
    """Process lifetime."""

    grace_period: float = Field(20.0, ge=0, description="seconds replies may finish on shutdown")
    startup_timeout: float = Field(
        30.0, gt=0, description="how long start-up retries a store that does not answer yet"
    )


class AllowanceSettings(_Section):
    """How many messages go upstream: per person, chat, server and backend plan, per window."""

    per_user: AllowanceLimit = Field("0", description="one person, across every chat")
    per_chat: AllowanceLimit = Field("0", description="one channel, thread, DM, chat or topic")
    per_server: AllowanceLimit = Field("0", description="a Discord server or a Telegram group")
    timezone: str = Field("UTC", description="windows of whole days start at midnight here")
    alert_at: list[float] = Field([0.8, 1.0], description="shares of a plan the admins hear of")
    admins_exempt: bool = True
    backends: dict[str, AllowanceLimit] = Field({}, description="backend name -> the plan")
    users: dict[str, AllowanceLimit] = Field({}, description='"telegram:ID" -> own limit')
    roles: dict[str, AllowanceLimit] = Field({}, description="Discord role id -> limit")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone_of(value)  # raises ValueError with a readable message
        return value

    @field_validator("alert_at")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if not all(0 < share <= 1 for share in value):
            raise ValueError("shares of the plan, each above 0 and at most 1 (e.g. [0.8, 1.0])")
        return sorted(set(value))

    @field_validator("users")
    @classmethod
    def _people(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _PERSON.match(key):
                raise ValueError(f'"{key}": name a person as "telegram:ID" or "discord:ID"')
        return value

    @field_validator("roles")
    @classmethod
    def _role_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key.isdigit():
                raise ValueError(f'"{key}": a Discord role id (digits)')
        return value


class Settings(BaseSettings):
    """Every setting of the bridge."""

    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    store: StoreSettings = StoreSettings()
    backends: dict[str, BackendSettings] = {}
    relay: RelaySettings = RelaySettings()
    telegram: TelegramSettings = TelegramSettings()
    discord: DiscordSettings = DiscordSettings()
    notices: NoticeSettings = NoticeSettings()
    health: HealthSettings = HealthSettings()
    dashboard: DashboardSettings = DashboardSettings()
    log: LogSettings = LogSettings()
    run: RunSettings = RunSettings()
    allowances: AllowanceSettings = AllowanceSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's contents arrive as init kwargs; the environment must win over them.
        return (_EnvSource(settings_cls), init_settings)

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        problems = []
        for name in self.backends:
            if not _BACKEND_NAME.match(name):
                problems.append(f"backends.{name}: use lowercase letters, digits, '-' or '_'")
        default = self.relay.default_backend
        if default is None and len(self.backends) == 1:
            self.relay.default_backend = next(iter(self.backends))
        elif default is not None and default not in self.backends:
            known = ", ".join(sorted(self.backends)) or "none configured"
            problems.append(f"relay.default_backend: '{default}' is not a backend ({known})")
        for platform in ("telegram", "discord"):
            section = getattr(self, platform)
            if not section.enabled:
                continue
            if section.token is None:
                problems.append(f"{platform}.token: required when {platform}.enabled = true")
            elif not section.token.get_secret_value().strip():
                problems.append(f"{platform}.token: {_EMPTY}")
        if (
            self.telegram.mode == "webhook"
            and self.telegram.enabled
            and not self.telegram.webhook.url
        ):
            problems.append("telegram.webhook.url: required when telegram.mode = 'webhook'")
        for name in self.allowances.backends:
            if name not in self.backends:
                known = ", ".join(sorted(self.backends)) or "none configured"
                problems.append(f"allowances.backends.{name}: not a backend ({known})")
        problems += notices.check_overrides(self.notices.texts)
        problems += _check_speaker_format(self.relay.speaker_format)
        if (
            self.telegram.mode == "webhook"
            and self.telegram.enabled
            and self.telegram.webhook.secret_token is None
        ):
            problems.append(
                "telegram.webhook.secret_token: required when telegram.mode = 'webhook' "
                "(anyone could post updates otherwise)"
            )
        problems.extend(_shard_problems(self.discord))
        problems.extend(_dashboard_problems(self.dashboard, self.health))
        problems.extend(_sentinel_problems(self.store))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _check_speaker_format(template: str) -> list[str]:
    try:
        used = notices.placeholders(template)
    except ValueError:
        return ["relay.speaker_format: unbalanced braces (write {{ for a brace)"]
    if "text" not in used:
        return ["relay.speaker_format: must contain {text}"]
    unknown = sorted(used - {"name", "text"})
    if unknown:
        return [
            f"relay.speaker_format: unknown placeholder {{{unknown[0]}}} (use {{name}}, {{text}})"
        ]
    return []


def _shard_problems(discord: DiscordSettings) -> list[str]:
    """Shard ids must name distinct shards of ``shard_count``."""
    if discord.shard_ids is None:
        return []
    if discord.shard_count is None:
        return ["discord.shard_ids: needs discord.shard_count"]
    ids = discord.shard_ids
    if not ids or len(set(ids)) != len(ids) or not all(0 <= i < discord.shard_count for i in ids):
        return [f"discord.shard_ids: distinct ids from 0 to {discord.shard_count - 1}"]
    return []


def _dashboard_problems(dashboard: DashboardSettings, health: HealthSettings) -> list[str]:
    """An enabled page needs a token worth the name and the listener that serves it."""
    if not dashboard.enabled:
        return []
    problems = []
    if len(dashboard.token.get_secret_value().strip()) < DASHBOARD_TOKEN_MIN:
        problems.append(
            f"dashboard.token: required when dashboard.enabled = true, "
            f"at least {DASHBOARD_TOKEN_MIN} characters"
        )
    if not health.enabled:
        problems.append("dashboard.enabled: needs health.enabled = true (the page is served there)")
    return problems


def _sentinel_problems(store: StoreSettings) -> list[str]:
    """Sentinels name the master themselves, so no url or cluster beside them; the passwords
    belong to them."""
    if not store.sentinels:
        given = [name for name in ("password", "sentinel_password") if getattr(store, name)]
        return [
            f"store.{name}: only with store.sentinels (with store.url, put it in the URL)"
            for name in given
        ]
    beside = [name for name in ("url", "cluster") if getattr(store, name)]
    if beside:
        also = " or ".join(f"store.{name}" for name in beside)
        return [f"store.sentinels: not with {also} (the sentinels name the master)"]
    if not store.sentinel_master.strip():
        return [f"store.sentinel_master: {_EMPTY}"]
    return []


class _EnvSource(EnvSettingsSource):
    """The environment, where a list setting may also be a comma list: ``1001,1002``."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        """JSON as pydantic-settings reads it; for a list, a comma list as well."""
        is_list = field is not None and _is_list(field.annotation)
        try:
            decoded = super().decode_complex_value(field_name, field, value)
        except ValueError:
            if not is_list:
                raise _EnvValueError(field_name) from None
            decoded = None
        if is_list and not isinstance(decoded, list) and isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return decoded


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list or annotation is list


class _EnvValueError(ValueError):
    """An environment value that is neither JSON nor, for a list, a comma list."""

    def __init__(self, field_name: str) -> None:
        super().__init__(field_name)
        self.field_name = field_name


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def resolve_config_path(path: str | os.PathLike[str] | None) -> Path:
    """The config path: the argument, else ``BRIDGE_CONFIG``, else ``config.toml``."""
    return Path(path or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_settings(
    path: str | os.PathLike[str] | None = None, *, require_file: bool = False
) -> Settings:
    """Read the TOML file (if present) and the environment into :class:`Settings`."""
    file = resolve_config_path(path)
    data: dict[str, Any] = {}
    if file.is_dir():
        # What Docker mounts when the file to mount does not exist on the host.
        raise ConfigError([f"{file}: a directory, not a config file (create the file first)"])
    if file.exists():
        try:
            raw = file.read_bytes()
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ConfigError(
                [f"{file}: line {line} is not UTF-8 (save the file as UTF-8)"]
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{file}: not valid TOML ({exc})"]) from None
        except OSError as exc:
            raise ConfigError([f"{file}: cannot be read ({exc.strerror})"]) from None
    elif require_file:
        raise ConfigError([f"{file}: no such config file (copy config.example.toml to start)"])
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:
        raise ConfigError([_describe_env(exc)]) from None


def _describe_env(exc: SettingsError) -> str:
    """One line for an environment variable pydantic-settings could not read (value not echoed)."""
    cause = exc.__cause__
    name = cause.field_name if isinstance(cause, _EnvValueError) else ""
    found = re.search(r'field "([^"]+)"', str(exc))
    parts = [found.group(1)] if found else []
    if name and name.lower() not in (p.lower() for p in parts):
        parts.append(name)
    variable = "BRIDGE_" + "__".join(parts).upper()
    return f"environment: {variable} is not valid (use JSON, or a comma list for a list)"


def _describe(exc: ValidationError) -> list[str]:
    """One line per problem, naming the setting; never echoes the value (it may be a secret)."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        # Discriminated unions put the kind tag in the path; users never wrote it.
        loc = re.sub(r"\.(cody|aurora)(?=\.|$)", "", loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting" + _did_you_mean(err["loc"])
        elif err["type"] == "missing":
            msg = "required"
        elif err["type"] in ("union_tag_not_found", "union_tag_invalid"):
            loc, msg = f"{loc}.kind", 'required: "cody" or "aurora"'
            if err["type"] == "union_tag_invalid":
                msg = 'must be "cody" or "aurora"'
        elif err["type"] == "bool_type":
            msg = "use true or false"
        for part in msg.split("; ") if not loc else [msg]:
            lines.append(f"{loc}: {part}" if loc else part)
    return lines


_KINDS: dict[str, type[BaseModel]] = {"cody": CodySettings, "aurora": AuroraSettings}


def _names_at(loc: tuple[str | int, ...]) -> list[str]:
    """The settings the table holding ``loc`` has (an unknown name's neighbours)."""
    model: type[BaseModel] = Settings
    parts = [str(p) for p in loc[:-1]]
    while parts:
        part = parts.pop(0)
        if model is Settings and part == "backends":
            if len(parts) < 2 or parts[1] not in _KINDS:
                return []
            model = _KINDS[parts[1]]
            del parts[:2]
            continue
        field = model.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _did_you_mean(loc: tuple[str | int, ...]) -> str:
    """ " (did you mean telegram.token?)" for a near miss, else ""."""
    close = difflib.get_close_matches(str(loc[-1]).lower(), _names_at(loc), n=1, cutoff=0.6)
    if not close:
        return ""
    shown = [str(p) for p in loc[:-1] if str(p) not in _KINDS] + close
    return f" (did you mean {'.'.join(shown)}?)"


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """One line per ``BRIDGE_`` variable that names no section: pydantic-settings ignores it,
    so a misspelt ``BRIDGE_TELEGARM__TOKEN`` would otherwise go unnoticed."""
    sections = [name.upper() for name in Settings.model_fields]
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("BRIDGE_") or upper == CONFIG_ENV_VAR:
            continue
        section, *rest = upper.removeprefix("BRIDGE_").split("__")
        if section in sections:
            continue
        head, _, tail = section.partition("_")
        if head in sections and tail:  # one underscore where two nest: BRIDGE_TELEGRAM_TOKEN
            guess = [head, tail, *rest]
        else:
            close = difflib.get_close_matches(section, sections, n=1, cutoff=0.6)
            guess = [close[0], *rest] if close else []
        hint = f" (did you mean BRIDGE_{'__'.join(guess)}?)" if guess else ""
        lines.append(f"{name} names no setting and is ignored{hint}")
    return lines
