"""A fake Discord: REST API and gateway websocket on one 127.0.0.1 port, for the real discord.py.

It speaks just enough of Discord for a bot: login (``/users/@me``, ``/oauth2/applications/@me``),
the gateway (HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeats, dispatches), channel messages
(create, edit, typing), application commands sync, and interaction callbacks, follow-ups and
original-response edits. It enforces Discord's rules a bot can trip over: 2000 characters
(50035), empty messages (50006), per-channel write limits answered by 429 with the headers
discord.py reads (including ``Via``), and the 3-second interaction deadline (10062).

Tests drive it with conversation-like helpers (``user_says``, ``slash``) and read back what each
channel shows (``channel_texts``) and every write with its ``allowed_mentions``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import itertools
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
API_PREFIX = "/api/v10"
MESSAGE_CONTENT_INTENT = 1 << 15
MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3
BASIC_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16)  # view channel, send messages, history
MAX_CONTENT = 2000
INTERACTION_DEADLINE = 3.0
EPHEMERAL = 1 << 6

# channel types
GUILD_TEXT, DM, GUILD_CATEGORY, PUBLIC_THREAD = 0, 1, 4, 11


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class UserOption:
    """A slash-command option that picks a user (type 6), resolved as Discord sends it."""

    id: int


@dataclass
class Write:
    """One message write the bot made (accepted or refused)."""

    kind: str  # "create" | "create_again" (a repeated nonce) | "edit" | "followup" | ...
    channel_id: int
    message_id: int | None
    content: str | None
    allowed_mentions: dict[str, Any] | None
    message_reference: dict[str, Any] | None
    at: float
    status: int
    pinged: list[str] = field(default_factory=list)
    """Who Discord would notify for this write: "everyone", "role:<id>", "user:<id>"."""
    components: list[dict[str, Any]] | None = None
    """The components the write set (None: it left them as they were)."""


@dataclass
class InteractionRecord:
    """One slash command or autocomplete sent to the bot, and everything it answered."""

    id: int
    token: str
    type: int
    channel_id: int
    user_id: int
    created_at: float
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    original_edits: list[dict[str, Any]] = field(default_factory=list)
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def callback_type(self) -> int | None:
        """Type of the first callback (4 message, 5 deferred, 8 autocomplete), None if none."""
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def ephemeral(self) -> bool:
        """Whether what the user sees is only for them (flag 64 on the visible answer)."""
        flags = 0
        if self.callbacks:
            flags |= int(self.callbacks[0].get("data", {}).get("flags", 0) or 0)
        if self.followups and self.callback_type != 5:
            flags = int(self.followups[-1].get("flags", 0) or 0)
        return bool(flags & EPHEMERAL)

    @property
    def text(self) -> str | None:
        """The answer the user sees: last original edit, else follow-up, else the callback's."""
        if self.original_edits and self.original_edits[-1].get("content") is not None:
            return str(self.original_edits[-1]["content"])
        if self.followups:
            return str(self.followups[-1].get("content", ""))
        if self.callbacks and self.callbacks[0]["type"] == 4:
            return str(self.callbacks[0].get("data", {}).get("content", ""))
        return None

    @property
    def choices(self) -> list[dict[str, Any]]:
        """Autocomplete choices answered (callback type 8)."""
        for cb in self.callbacks:
            if cb["type"] == 8:
                return list(cb.get("data", {}).get("choices", []))
        return []


@dataclass
class _Bucket:
    count: int = 0
    reset_at: float = 0.0


@dataclass
class _Channel:
    id: int
    type: int
    guild_id: int | None
    parent_id: int | None = None
    name: str = ""
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    recipient: int | None = None  # a DM's user


def _iso(ts: float | None = None) -> str:
    return dt.datetime.fromtimestamp(ts or time.time(), dt.UTC).isoformat()


class DiscordFake:
    """Fake Discord REST + gateway. Use as ``async with DiscordFake() as fake:``.

    ``rate_limit``/``rate_window``: writes allowed per channel per window (shared by creates
    and edits, like Discord's per-channel bucket). ``advertise_limits``: send the X-RateLimit-*
    headers that let discord.py pace itself; off, the client only learns from 429s.
    ``message_content_allowed``: False makes IDENTIFY with the message-content intent fail
    with close code 4014, as Discord does when the portal switch is off.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        rate_limit: int = 5,
        rate_window: float = 5.0,
        advertise_limits: bool = True,
        message_content_allowed: bool = True,
    ) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.advertise_limits = advertise_limits
        self.message_content_allowed = message_content_allowed
        self._seq = itertools.count(1)
        self.bot_id = self.snowflake()
        self.application_id = self.snowflake()
        self.owner_id = self.snowflake()
        self.guild_id = self.snowflake()
        self.guild_ids: list[int] = [self.guild_id]
        """Every guild the bot is in; events of each go to its shard's sessions only."""
        self.recommended_shards = 1
        """What ``GET /gateway/bot`` recommends."""
        self.already_acknowledged = 0
        """Interaction callbacks refused with 40060 (a second answer to one interaction)."""
        self.command_syncs = 0
        """How many times the bot replaced its command list (PUT .../commands)."""
        self.identified_shards: list[tuple[int, int]] = []
        """The ``[shard_id, num_shards]`` of every IDENTIFY, in order."""
        self.everyone_role_id = self.guild_id
        self.manager_role_id = self.snowflake()
        self.pingable_role_id = self.snowflake()
        self.admin_role_id = self.snowflake()  # Administrator alone, without Manage Server
        self.bot_user: dict[str, Any] = self._user(self.bot_id, "bridgebot", bot=True)
        self.channels: dict[int, _Channel] = {}
        self.default_channel_id = self.snowflake()
        self._add_channel(self.default_channel_id, GUILD_TEXT, self.guild_id, name="general")
        self.writes: list[Write] = []
        self.rate_limited: list[Write] = []
        self.typing: dict[int, int] = {}
        self.commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.identified_intents: list[int] = []
        self._forced_429: dict[int, list[float]] = {}
        self._bare_429: dict[int, int] = {}
        self._failing: dict[int, list[int]] = {}  # channel -> statuses for the next writes
        self.forbidden: set[int] = set()
        """Channels where the bot lacks Send Messages: typing and writes get 403 (50013)."""
        self.forbidden_writes: set[int] = set()
        """Channels where typing works but message writes get 403 (50013)."""
        self.history_reads: list[tuple[int, int | None]] = []
        """(channel, after) of every message-history read."""
        self._drops: dict[str, list[bool]] = {}  # request kind -> landed? for the next ones
        self.dropped: list[str] = []
        """Kinds of the requests whose connection :meth:`drop_next` broke, in order."""
        self._nonces: dict[tuple[int, str], int] = {}  # (channel, nonce) -> the message created
        self.dms: dict[int, int] = {}
        """User id -> the DM channel the bot opened with them (POST /users/@me/channels)."""
        self.deleted: set[int] = set()
        """Channels and threads deleted by :meth:`delete_channel`."""
        self.unknown_channel_hits: list[tuple[str, int]] = []
        """(request kind, channel) of every request answered "Unknown Channel" (10003): each one
        counts toward Discord's invalid-request limit."""
        self._buckets: dict[int, _Bucket] = {}
        self._sessions: list[_GatewaySession] = []
        self._ready = asyncio.Event()
        self.identify_open = asyncio.Event()
        """Cleared, IDENTIFY is left unanswered: the bot stays offline until it is set."""
        self.identify_open.set()
        # --- the identify queue: max_concurrency IDENTIFYs per spacing, bot-wide ---
        self.max_concurrency = 1
        """What ``GET /gateway/bot`` says may IDENTIFY at once (buckets of shard_id % it)."""
        self.identify_spacing = 0.0
        """Seconds between IDENTIFYs of one bucket (Discord: 5); 0 leaves it unchecked."""
        self.identify_too_fast = 0
        """IDENTIFYs refused (op 9) for coming sooner than the spacing after their bucket's last."""
        self._identified_at: dict[int, float] = {}
        # --- the bot-wide limit: Discord's global rate limit, per bot token ---
        self.global_limit = 50
        """Message writes the whole bot may make per ``global_window``; past it, a global 429."""
        self.global_window = 1.0
        self.global_429s = 0
        """Writes refused with a global 429 (``"global": true``)."""
        self._global_log: collections.deque[float] = collections.deque()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> DiscordFake:
        app = web.Application()
        app.router.add_get("/", self._gateway)
        r = app.router
        p = API_PREFIX
        r.add_get(p + "/users/@me", self._me)
        r.add_post(p + "/users/@me/channels", self._open_dm)
        r.add_get(p + "/oauth2/applications/@me", self._application)
        r.add_get(p + "/gateway", self._gateway_info)
        r.add_get(p + "/gateway/bot", self._gateway_info)
        r.add_put(p + "/applications/{app}/commands", self._sync_commands)
        r.add_get(p + "/applications/{app}/commands", self._get_commands)
        r.add_put(p + "/applications/{app}/guilds/{guild}/commands", self._sync_commands)
        r.add_get(p + "/applications/{app}/guilds/{guild}/commands", self._get_commands)
        r.add_post(
            p + "/channels/{channel}/messages", self._droppable("create", self._create_message)
        )
        r.add_patch(
            p + "/channels/{channel}/messages/{message}",
            self._droppable("edit", self._edit_message),
        )
        r.add_get(p + "/channels/{channel}/messages/{message}", self._get_message)
        r.add_get(p + "/channels/{channel}/messages", self._history)
        r.add_get(p + "/channels/{channel}", self._get_channel)
        r.add_post(p + "/channels/{channel}/typing", self._typing)
        r.add_post(p + "/interactions/{iid}/{token}/callback", self._callback)
        r.add_post(p + "/webhooks/{app}/{token}", self._followup)
        r.add_patch(p + "/webhooks/{app}/{token}/messages/{message}", self._webhook_edit)
        r.add_get(p + "/webhooks/{app}/{token}/messages/{message}", self._webhook_get)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[-1][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in list(self._sessions):
            await session.close(1001)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base_url(self) -> str:
        """What discord.http.Route.BASE should be."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY should be."""
        return f"ws://127.0.0.1:{self.port}/"

    async def wait_ready(self, within: float = 10.0) -> None:
        """Until a client has identified and received READY."""
        await asyncio.wait_for(self._ready.wait(), within)

    # --- ids and payloads ---------------------------------------------------------------------

    def snowflake(self) -> int:
        """A fresh id that decodes to now, like Discord's."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._seq) & 0x3FFFFF)

    @staticmethod
    def _user(
        user_id: int, name: str, *, bot: bool = False, global_name: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": name,
            "global_name": global_name if global_name is not None else name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "flags": 0,
        }

    def _member(
        self, user_id: int, *, manage_guild: bool, administrator: bool = False
    ) -> dict[str, Any]:
        roles = [str(self.manager_role_id)] if manage_guild else []
        perms = BASIC_PERMISSIONS | (MANAGE_GUILD if manage_guild else 0)
        if administrator:
            roles.append(str(self.admin_role_id))
            perms |= ADMINISTRATOR
        return {
            "user": self._user(user_id, f"user{user_id % 10000}"),
            "roles": roles,
            "joined_at": _iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(perms),
        }

    def _channel_payload(self, ch: _Channel) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(ch.id), "type": ch.type, "name": ch.name}
        if ch.guild_id is not None:
            data.update(
                guild_id=str(ch.guild_id),
                position=0,
                permission_overwrites=[],
                nsfw=False,
                parent_id=str(ch.parent_id) if ch.parent_id else None,
            )
        if ch.type == PUBLIC_THREAD:
            data.update(
                owner_id=str(self.owner_id),
                message_count=0,
                member_count=1,
                flags=0,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": _iso(),
                    "locked": False,
                },
            )
        return data

    def _guild_payload(self, guild_id: int | None = None) -> dict[str, Any]:
        guild_id = guild_id or self.guild_id
        roles = [
            (self.everyone_role_id, "@everyone", BASIC_PERMISSIONS),
            (self.manager_role_id, "Managers", BASIC_PERMISSIONS | MANAGE_GUILD),
            (self.pingable_role_id, "Pingable", BASIC_PERMISSIONS),
            (self.admin_role_id, "Administrators", BASIC_PERMISSIONS | ADMINISTRATOR),
        ]
        guild_channels = [c for c in self.channels.values() if c.guild_id == guild_id]
        return {
            "id": str(guild_id),
            "name": "Fake Guild",
            "owner_id": str(self.owner_id),
            "unavailable": False,
            "member_count": 3,
            "large": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [
                {
                    "id": str(rid),
                    "name": name,
                    "permissions": str(perms),
                    "position": i,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": True,
                    "flags": 0,
                }
                for i, (rid, name, perms) in enumerate(roles)
            ],
            "channels": [self._channel_payload(c) for c in guild_channels if c.type == GUILD_TEXT],
            "threads": [
                self._channel_payload(c) for c in guild_channels if c.type == PUBLIC_THREAD
            ],
            "members": [
                {
                    "user": self.bot_user,
                    "roles": [],
                    "joined_at": _iso(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            ],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _add_channel(
        self, channel_id: int, ctype: int, guild_id: int | None, *, name: str = "", parent=None
    ) -> _Channel:
        ch = _Channel(channel_id, ctype, guild_id, parent, name or f"ch-{channel_id % 10000}")
        self.channels[channel_id] = ch
        return ch

    # --- test helpers: what users do -----------------------------------------------------------

    async def add_category(self, category_id: int, *channel_ids: int) -> None:
        """A category holding new text channels (telling connected clients, as Discord would)."""
        category = self._add_channel(category_id, GUILD_CATEGORY, self.guild_id)
        await self.dispatch("CHANNEL_CREATE", self._channel_payload(category))
        for channel_id in channel_ids:
            ch = self._add_channel(channel_id, GUILD_TEXT, self.guild_id, parent=category_id)
            await self.dispatch("CHANNEL_CREATE", self._channel_payload(ch))

    def add_guild(self, *, shard: int = 0, shard_count: int = 1) -> int:
        """Put the bot in another guild whose id falls in ``shard`` of ``shard_count`` (Discord
        routes a guild's events to shard ``(guild_id >> 22) % shard_count``); returns its id.
        Sessions connected already learn of it on their next IDENTIFY."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        ms -= (ms - shard) % shard_count
        guild_id = (ms << 22) | (next(self._seq) & 0x3FFFFF)
        self.guild_ids.append(guild_id)
        return guild_id

    @staticmethod
    def shard_of(guild_id: int | None, shard_count: int) -> int:
        """The shard that gets a guild's events; events without a guild go to shard 0."""
        return 0 if guild_id is None else (guild_id >> 22) % shard_count

    async def ensure_channel(
        self,
        channel_id: int,
        *,
        guild: bool = True,
        thread: bool = False,
        guild_id: int | None = None,
        parent: int | None = None,
    ):
        """Create the channel if unknown (telling connected clients, as Discord would); a
        thread's ``parent`` is the default channel unless given."""
        if channel_id in self.channels:
            return self.channels[channel_id]
        if not guild:
            return self._add_channel(channel_id, DM, None)
        guild_id = guild_id or self.guild_id
        if thread:
            ch = self._add_channel(
                channel_id, PUBLIC_THREAD, guild_id, parent=parent or self.default_channel_id
            )
            await self.dispatch(
                "THREAD_CREATE", {**self._channel_payload(ch), "newly_created": True}
            )
        else:
            ch = self._add_channel(channel_id, GUILD_TEXT, guild_id)
            await self.dispatch("CHANNEL_CREATE", self._channel_payload(ch))
        return ch

    async def user_says(
        self,
        channel_id: int,
        text: str,
        *,
        user_id: int,
        mention_bot: bool = False,
        guild: bool = True,
        thread: bool = False,
        reply_to: int | None = None,
        attachments: int = 0,
        bot: bool = False,
        nick: str | None = None,
        global_name: str | None = None,
        roles: tuple[int, ...] = (),
        parent: int | None = None,
        guild_id: int | None = None,
    ) -> int:
        """A user (or another bot with ``bot=True``) posts a message; returns its id.

        ``mention_bot`` prefixes ``<@bot>``; ``reply_to`` replies to a message in the channel.
        Without the message-content intent, guild messages that don't mention the bot arrive
        with empty content, as on Discord.
        """
        ch = await self.ensure_channel(
            channel_id, guild=guild, thread=thread, guild_id=guild_id, parent=parent
        )
        if ch.type == DM and ch.recipient is None:
            ch.recipient = user_id
        content = f"<@{self.bot_id}> {text}" if mention_bot else text
        author = self._user(user_id, f"user{user_id % 10000}", bot=bot, global_name=global_name)
        mid = self.snowflake()
        msg: dict[str, Any] = self._message(mid, ch, author, content)
        msg["mentions"] = [self.bot_user] if mention_bot else []
        msg["attachments"] = [
            {
                "id": str(self.snowflake()),
                "filename": f"file{i}.png",
                "size": 1000,
                "url": f"https://cdn.invalid/file{i}.png",
                "proxy_url": f"https://cdn.invalid/file{i}.png",
            }
            for i in range(attachments)
        ]
        if reply_to is not None:
            ref = ch.messages.get(reply_to)
            msg["type"] = 19
            msg["message_reference"] = {"message_id": str(reply_to), "channel_id": str(ch.id)}
            if ch.guild_id:
                msg["message_reference"]["guild_id"] = str(ch.guild_id)
            msg["referenced_message"] = ref
            if ref is not None and ref["author"]["id"] not in [m["id"] for m in msg["mentions"]]:
                msg["mentions"].append(ref["author"])
        if ch.guild_id is not None:
            member = self._member(user_id, manage_guild=False)
            member.pop("user")
            member["roles"] = [str(r) for r in roles]
            if nick is not None:
                member["nick"] = nick
            msg["member"] = member
        ch.messages[mid] = msg
        delivered = dict(msg)
        if not self._content_visible(ch, msg):
            delivered.update(content="", attachments=[], embeds=[])
        await self.dispatch("MESSAGE_CREATE", delivered)
        return mid

    def _content_visible(self, ch: _Channel, msg: dict[str, Any]) -> bool:
        if ch.guild_id is None or self._has_content_intent():
            return True
        return any(m["id"] == str(self.bot_id) for m in msg["mentions"])

    def _has_content_intent(self) -> bool:
        return bool(self.identified_intents) and bool(
            self.identified_intents[-1] & MESSAGE_CONTENT_INTENT
        )

    async def slash(
        self,
        channel_id: int,
        command: str,
        subcommand: str | None = None,
        options: dict[str, Any] | None = None,
        *,
        user_id: int,
        manage_guild: bool = False,
        administrator: bool = False,
        guild: bool = True,
        wait: bool = True,
        within: float = 10.0,
    ) -> InteractionRecord:
        """A user runs ``/command subcommand options``; waits (by default) for the visible answer.

        ``manage_guild`` and ``administrator`` give the member that permission by a role."""
        return await self._interact(
            2, channel_id, command, subcommand, options or {}, None, user_id,
            manage_guild, guild, wait, within, administrator=administrator,
        )  # fmt: skip

    async def autocomplete(
        self,
        channel_id: int,
        command: str,
        subcommand: str | None,
        options: dict[str, Any],
        *,
        focused: str,
        user_id: int,
        manage_guild: bool = False,
        within: float = 10.0,
    ) -> list[dict[str, Any]]:
        """A user types in an autocompleted option; returns the choices the bot offered."""
        rec = await self._interact(
            4, channel_id, command, subcommand, options, focused, user_id,
            manage_guild, True, True, within,
        )  # fmt: skip
        return rec.choices

    async def _interact(
        self,
        itype: int,
        channel_id: int,
        command: str,
        subcommand: str | None,
        options: dict[str, Any],
        focused: str | None,
        user_id: int,
        manage_guild: bool,
        guild: bool,
        wait: bool,
        within: float,
        *,
        administrator: bool = False,
    ) -> InteractionRecord:
        ch = await self.ensure_channel(channel_id, guild=guild)
        opts = [_option(k, v, focused == k) for k, v in options.items()]
        picked = [v for v in options.values() if isinstance(v, UserOption)]
        if subcommand is not None:
            opts = [{"type": 1, "name": subcommand, "options": opts}]
        registered = next((c for c in self._all_commands() if c.get("name") == command), None)
        data: dict[str, Any] = {
            "id": registered["id"] if registered else str(self.snowflake()),
            "name": command,
            "type": 1,
            "options": opts,
        }
        if picked:
            data["resolved"] = {
                "users": {str(u.id): self._user(u.id, f"user{u.id % 10000}") for u in picked}
            }
        return await self._dispatch_interaction(
            itype, ch, {"data": data}, user_id, guild, manage_guild, administrator, wait, within
        )

    async def _dispatch_interaction(
        self,
        itype: int,
        ch: _Channel,
        payload: dict[str, Any],
        user_id: int,
        guild: bool,
        manage_guild: bool,
        administrator: bool,
        wait: bool,
        within: float,
    ) -> InteractionRecord:
        """Send an interaction of ``itype`` (``payload``: its data, a component's message) from
        a member (in a guild) or a user (in a DM); waits (if asked) for the bot's answer."""
        iid = self.snowflake()
        token = secrets.token_urlsafe(24)
        data: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "attachment_size_limit": 8 * 1024 * 1024,
            "app_permissions": str(BASIC_PERMISSIONS),
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "channel_id": str(ch.id),
            "channel": self._channel_payload(ch),
            **payload,
        }
        if guild:
            data["guild_id"] = str(self.guild_id)
            data["guild_locale"] = "en-US"
            data["context"] = 0
            data["member"] = self._member(
                user_id, manage_guild=manage_guild, administrator=administrator
            )
        else:
            data["user"] = self._user(user_id, f"user{user_id % 10000}")
            data["context"] = 1
        rec = InteractionRecord(iid, token, itype, ch.id, user_id, time.monotonic())
        self.interactions[iid] = rec
        await self.dispatch("INTERACTION_CREATE", data)
        if wait:
            await asyncio.wait_for(rec.answered.wait(), within)
        return rec

    def buttons(self, channel_id: int, message_id: int) -> list[str]:
        """The custom ids of the buttons under a message, in order."""
        msg = self.channels[channel_id].messages[message_id]
        rows = msg.get("components") or []
        return [str(c.get("custom_id")) for row in rows for c in row.get("components", [])]

    async def press(
        self,
        channel_id: int,
        message_id: int,
        custom_id: str,
        *,
        user_id: int,
        administrator: bool = False,
        wait: bool = True,
        within: float = 10.0,
    ) -> InteractionRecord:
        """A user presses the button ``custom_id`` under a message (a component interaction);
        waits (by default) for the bot's answer to it."""
        ch = self.channels[channel_id]
        payload = {
            "message": ch.messages[message_id],
            "data": {"custom_id": custom_id, "component_type": 2},
        }
        guild = ch.guild_id is not None
        return await self._dispatch_interaction(
            3, ch, payload, user_id, guild, False, administrator, wait, within
        )

    async def user_edits(self, channel_id: int, message_id: int, text: str) -> None:
        """The author edits their message (a MESSAGE_UPDATE with the whole message)."""
        ch = self.channels[channel_id]
        msg = ch.messages[message_id]
        msg["content"] = text
        msg["edited_timestamp"] = _iso()
        await self.dispatch("MESSAGE_UPDATE", dict(msg))

    async def user_deletes(self, channel_id: int, message_id: int) -> None:
        """The author deletes their message (a MESSAGE_DELETE)."""
        ch = self.channels[channel_id]
        ch.messages.pop(message_id, None)
        payload = {"id": str(message_id), "channel_id": str(ch.id)}
        if ch.guild_id is not None:
            payload["guild_id"] = str(ch.guild_id)
        await self.dispatch("MESSAGE_DELETE", payload)

    def _all_commands(self) -> list[dict[str, Any]]:
        out = list(self.commands)
        for cmds in self.guild_commands.values():
            out.extend(cmds)
        return out

    # --- test helpers: what the bot did -------------------------------------------------------

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Every message the channel shows, oldest first."""
        ch = self.channels.get(channel_id)
        return list(ch.messages.values()) if ch else []

    def channel_texts(self, channel_id: int) -> list[str]:
        """The contents of the bot's messages in the channel, oldest first (as shown now)."""
        return [
            m["content"]
            for m in self.channel_messages(channel_id)
            if m["author"]["id"] == str(self.bot_id)
        ]

    def writes_to(self, channel_id: int) -> list[Write]:
        """Accepted writes to a channel, in order."""
        return [w for w in self.writes if w.channel_id == channel_id and w.status < 300]

    def force_429(self, channel_id: int, *retry_after: float) -> None:
        """The next writes to the channel get a 429, one per given ``retry_after``."""
        self._forced_429.setdefault(channel_id, []).extend(retry_after)

    def bare_429(self, channel_id: int, count: int = 1) -> None:
        """The next ``count`` writes get a 429 without any header (no ``Via``, no rate-limit
        headers), as from a proxy or Cloudflare: discord.py does not wait these out itself."""
        self._bare_429[channel_id] = self._bare_429.get(channel_id, 0) + count

    def fail_writes(self, channel_id: int, status: int = 502, count: int = 1) -> None:
        """The next ``count`` writes (creates and edits) to the channel answer ``status``."""
        self._failing.setdefault(channel_id, []).extend([status] * count)

    def drop_next(self, kind: str, *, landed: bool = False) -> None:
        """Break the connection of the next ``kind`` request ("create" or "edit") before it is
        answered; with ``landed`` the write is carried out first (the client cannot tell)."""
        self._drops.setdefault(kind, []).append(landed)

    def _droppable(self, kind: str, handler: Handler) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            drops = self._drops.get(kind)
            if not drops:
                return await handler(request)
            if drops.pop(0):
                await handler(request)
            self.dropped.append(kind)
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError  # no answer: the client sees the connection drop

        return handle

    async def delete_channel(self, channel_id: int) -> None:
        """Someone deletes the channel or thread (and its messages): from now on every request
        to it answers 404 "Unknown Channel", and the gateway says so."""
        ch = self.channels.pop(channel_id)
        self.deleted.add(channel_id)
        event = "THREAD_DELETE" if ch.type == PUBLIC_THREAD else "CHANNEL_DELETE"
        await self.dispatch(event, self._channel_payload(ch))

    def _unknown_channel(self, kind: str, channel_id: int) -> web.Response:
        self.unknown_channel_hits.append((kind, channel_id))
        return self._error(404, 10003, "Unknown Channel")

    async def drop_gateway(self) -> None:
        """Break every gateway connection (as a network blip would); the client reconnects,
        and its RESUME is refused, so it starts a new session."""
        for session in list(self._sessions):
            await session.close(4000)

    async def wait_for(self, predicate, within: float = 15.0, interval: float = 0.02) -> None:
        """Poll ``predicate()`` until true (test synchronisation, never a timing assertion)."""
        async with asyncio.timeout(within):
            # Polling on purpose: predicates also read state outside the fake (the relay).
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(interval)

    # --- gateway ------------------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to every identified session of the shard it belongs to."""
        raw = data.get("id") if event.startswith("GUILD_") else data.get("guild_id")
        guild_id = int(raw) if raw else None
        for session in list(self._sessions):
            if session.identified and session.shard[0] == self.shard_of(guild_id, session.shard[1]):
                await session.send_dispatch(event, data)

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        session = _GatewaySession(self, ws)
        self._sessions.append(session)
        try:
            await session.run()
        finally:
            self._sessions.remove(session)
        return ws

    # --- REST ---------------------------------------------------------------------------------

    def _identify_turn(self, shard_id: int) -> bool:
        """Whether an IDENTIFY of ``shard_id`` keeps its bucket's spacing (and count it if so)."""
        bucket = shard_id % max(self.max_concurrency, 1)
        now = time.monotonic()
        last = self._identified_at.get(bucket)
        if self.identify_spacing and last is not None and now - last < self.identify_spacing:
            self.identify_too_fast += 1
            return False
        self._identified_at[bucket] = now
        return True

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    @staticmethod
    def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
        return _json({"code": code, "message": message, **extra}, status=status)

    def _unauthorized(self) -> web.Response:
        return self._error(401, 0, "401: Unauthorized")

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return _json(self.bot_user)

    async def _application(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return _json(
            {
                "id": str(self.application_id),
                "name": "bridgebot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                # GATEWAY_MESSAGE_CONTENT_LIMITED: the portal switch of an unverified bot.
                "flags": (1 << 19) if self.message_content_allowed else 0,
                "owner": self._user(self.owner_id, "owner"),
                "team": None,
            }
        )

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": self.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": self.max_concurrency,
                },
            }
        )

    async def _sync_commands(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        self.command_syncs += 1
        out = []
        for cmd in body:
            cmd = dict(cmd)
            cmd.setdefault("type", 1)
            cmd.update(
                id=str(self.snowflake()),
                application_id=str(self.application_id),
                version=str(self.snowflake()),
            )
            if "guild" in request.match_info:
                cmd["guild_id"] = request.match_info["guild"]
            out.append(cmd)
        if "guild" in request.match_info:
            self.guild_commands[int(request.match_info["guild"])] = out
        else:
            self.commands = out
        return _json(out)

    async def _get_commands(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        if "guild" in request.match_info:
            return _json(self.guild_commands.get(int(request.match_info["guild"]), []))
        return _json(self.commands)

    def _limit_headers(self, bucket: _Bucket, now: float) -> dict[str, str]:
        if not self.advertise_limits:
            return {}
        reset_after = max(bucket.reset_at - now, 0.0)
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_limit - bucket.count, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "channel-messages",
        }

    def _admit(self, channel_id: int) -> tuple[float | None, dict[str, str]]:
        """Count one write against the channel's window: (retry_after if refused, headers)."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(channel_id, _Bucket())
        forced = self._forced_429.get(channel_id)
        if forced:
            return forced.pop(0), self._limit_headers(bucket, now)
        bot_wait = self._global_wait(now)
        if bot_wait is not None:
            return bot_wait, {"X-RateLimit-Global": "true"}
        if now >= bucket.reset_at:
            bucket.count, bucket.reset_at = 0, now + self.rate_window
        if bucket.count >= self.rate_limit:
            return bucket.reset_at - now, self._limit_headers(bucket, now)
        bucket.count += 1
        self._global_log.append(now)
        return None, self._limit_headers(bucket, now)

    def _global_wait(self, now: float) -> float | None:
        """Seconds until the bot may write again when its global limit is spent, else None."""
        log = self._global_log
        while log and log[0] <= now - self.global_window:
            log.popleft()
        if not self.global_limit or len(log) < self.global_limit:
            return None
        self.global_429s += 1
        return log[0] + self.global_window - now

    def _too_fast(self, retry_after: float, headers: dict[str, str]) -> web.Response:
        bot_wide = headers.get("X-RateLimit-Global") == "true"
        headers = {
            **headers,
            "Retry-After": str(max(1, int(retry_after + 0.999))),
            "X-RateLimit-Scope": "global" if bot_wide else "user",
            "X-RateLimit-Global": "true" if bot_wide else "false",
            "Via": "1.1 google",
        }
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": bot_wide,
        }
        return _json(body, status=429, headers=headers)

    def _check_content(
        self, content: Any, *, creating: bool, has_embeds: bool
    ) -> web.Response | None:
        if content is not None and len(str(content)) > MAX_CONTENT:
            return self._error(
                400,
                50035,
                "Invalid Form Body",
                errors={
                    "content": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_MAX_LENGTH",
                                "message": f"Must be {MAX_CONTENT} or fewer in length.",
                            }
                        ]
                    }
                },
            )
        if (creating or content is not None) and not str(content or "").strip() and not has_embeds:
            return self._error(400, 50006, "Cannot send an empty message")
        return None

    def _message(
        self, mid: int, ch: _Channel, author: dict[str, Any], content: str
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(ch.id),
            "author": author,
            "content": content,
            "timestamp": _iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if ch.guild_id is not None:
            msg["guild_id"] = str(ch.guild_id)
        return msg

    def _record(
        self,
        kind: str,
        channel_id: int,
        message_id: int | None,
        body: dict[str, Any],
        status: int,
        *,
        is_reply: bool = False,
    ) -> Write:
        content = body.get("content")
        allowed = body.get("allowed_mentions")
        w = Write(
            kind=kind,
            channel_id=channel_id,
            message_id=message_id,
            content=content,
            allowed_mentions=allowed,
            message_reference=body.get("message_reference"),
            at=time.monotonic(),
            status=status,
            pinged=_pings(content or "", allowed, webhook=kind in ("followup", "original")),
            components=body.get("components"),
        )
        if is_reply and (allowed is None or allowed.get("replied_user", True)):
            w.pinged.append("replied_user")
        self.writes.append(w)
        if status == 429:
            self.rate_limited.append(w)
        return w

    async def _create_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        ch = self.channels.get(int(request.match_info["channel"]))
        if ch is None:
            return self._unknown_channel("create", int(request.match_info["channel"]))
        body = await request.json()
        refused = self._check_content(
            body.get("content"), creating=True, has_embeds=bool(body.get("embeds"))
        )
        if refused is not None:
            self._record("create", ch.id, None, body, refused.status)
            return refused
        injected = self._injected_failure(ch.id)
        if injected is not None:
            self._record("create", ch.id, None, body, injected.status)
            return injected
        retry_after, headers = self._admit(ch.id)
        if retry_after is not None:
            self._record("create", ch.id, None, body, 429)
            return self._too_fast(retry_after, headers)
        nonce = str(body.get("nonce") or "")
        earlier = ch.messages.get(self._nonces.get((ch.id, nonce), 0))
        if body.get("enforce_nonce") and earlier is not None:
            # A repeated nonce within minutes: Discord answers the message it already created.
            self._record("create_again", ch.id, int(earlier["id"]), body, 200)
            return _json(earlier, headers=headers)
        mid = self.snowflake()
        msg = self._message(mid, ch, self.bot_user, body.get("content") or "")
        msg["components"] = body.get("components") or []
        if nonce:
            msg["nonce"] = nonce
            self._nonces[(ch.id, nonce)] = mid
        ref = body.get("message_reference")
        is_reply = False
        if ref and ref.get("message_id"):
            target = ch.messages.get(int(ref["message_id"]))
            if target is None and ref.get("fail_if_not_exists", True):
                return self._error(400, 50035, "Invalid Form Body (unknown message_reference)")
            if target is not None:
                msg.update(type=19, message_reference=ref, referenced_message=target)
                is_reply = True
        ch.messages[mid] = msg
        self._record("create", ch.id, mid, body, 200, is_reply=is_reply)
        return _json(msg, headers=headers)

    async def _edit_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        ch = self.channels.get(int(request.match_info["channel"]))
        if ch is None:
            return self._unknown_channel("edit", int(request.match_info["channel"]))
        mid = int(request.match_info["message"])
        msg = ch.messages.get(mid)
        if msg is None:
            return self._error(404, 10008, "Unknown Message")
        if msg["author"]["id"] != str(self.bot_id):
            return self._error(403, 50005, "Cannot edit a message authored by another user")
        body = await request.json()
        refused = self._check_content(
            body.get("content"), creating=False, has_embeds=bool(msg["embeds"])
        )
        if refused is not None:
            self._record("edit", ch.id, mid, body, refused.status)
            return refused
        injected = self._injected_failure(ch.id)
        if injected is not None:
            self._record("edit", ch.id, mid, body, injected.status)
            return injected
        retry_after, headers = self._admit(ch.id)
        if retry_after is not None:
            self._record("edit", ch.id, mid, body, 429)
            return self._too_fast(retry_after, headers)
        if "content" in body:
            msg["content"] = body["content"] or ""
        if "components" in body:
            msg["components"] = body["components"] or []
        msg["edited_timestamp"] = _iso()
        self._record("edit", ch.id, mid, body, 200)
        return _json(msg, headers=headers)

    async def _get_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        ch = self.channels.get(int(request.match_info["channel"]))
        msg = ch.messages.get(int(request.match_info["message"])) if ch else None
        if msg is None:
            return self._error(404, 10008, "Unknown Message")
        return _json(msg)

    def _injected_failure(self, channel_id: int) -> web.Response | None:
        """A write failure a test asked for: no permission, a bare 429, a 5xx."""
        if channel_id in self.forbidden or channel_id in self.forbidden_writes:
            return self._error(403, 50013, "Missing Permissions")
        if self._bare_429.get(channel_id):
            self._bare_429[channel_id] -= 1
            body = {"message": "You are being rate limited.", "retry_after": 1.0, "global": False}
            return _json(body, status=429)
        failing = self._failing.get(channel_id)
        if failing:
            status = failing.pop(0)
            return self._error(status, 0, f"{status}: Server Error")
        return None

    async def _history(self, request: web.Request) -> web.Response:
        """GET /channels/{id}/messages: with ``after``, the oldest ``limit`` newer messages;
        otherwise the newest ``limit`` (older than ``before``). Newest first, as Discord."""
        if not self._authorized(request):
            return self._unauthorized()
        ch = self.channels.get(int(request.match_info["channel"]))
        if ch is None:
            return self._unknown_channel("history", int(request.match_info["channel"]))
        limit = int(request.query.get("limit", "50"))
        after = int(request.query["after"]) if "after" in request.query else None
        before = int(request.query["before"]) if "before" in request.query else None
        self.history_reads.append((ch.id, after))
        ids = sorted(ch.messages)
        if after is not None:
            chosen = [i for i in ids if i > after][:limit]
        else:
            chosen = [i for i in ids if before is None or i < before][-limit:]
        return _json([ch.messages[i] for i in reversed(chosen)])

    async def _open_dm(self, request: web.Request) -> web.Response:
        """Open (or find) the bot's DM channel with a user, as Discord does."""
        if not self._authorized(request):
            return self._unauthorized()
        user_id = int((await request.json())["recipient_id"])
        channel_id = self.dms.get(user_id)
        if channel_id is None:
            channel_id = self.dms[user_id] = self.snowflake()
            self._add_channel(channel_id, DM, None).recipient = user_id
        data = self._channel_payload(self.channels[channel_id])
        data.update(recipients=[self._user(user_id, "user")], last_message_id=None)
        return _json(data)

    def dm_texts(self, user_id: int) -> list[str]:
        """What the bot wrote to ``user_id`` in their DM channel (opened by the bot)."""
        channel_id = self.dms.get(user_id)
        return [] if channel_id is None else self.channel_texts(channel_id)

    async def _get_channel(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        ch = self.channels.get(int(request.match_info["channel"]))
        if ch is None:
            return self._unknown_channel("get_channel", int(request.match_info["channel"]))
        data = self._channel_payload(ch)
        if ch.type == DM:
            data["recipients"] = [self._user(ch.recipient or 0, "user")]
            data["last_message_id"] = str(max(ch.messages)) if ch.messages else None
        return _json(data)

    async def _typing(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        cid = int(request.match_info["channel"])
        if cid in self.deleted:
            return self._unknown_channel("typing", cid)
        if cid in self.forbidden:
            return self._error(403, 50013, "Missing Permissions")
        self.typing[cid] = self.typing.get(cid, 0) + 1
        return web.Response(status=204)

    # --- interactions -------------------------------------------------------------------------

    def _interaction(self, request: web.Request, key: str) -> InteractionRecord | None:
        token = request.match_info["token"]
        if key == "iid":
            rec = self.interactions.get(int(request.match_info["iid"]))
            return rec if rec is not None and rec.token == token else None
        return next((r for r in self.interactions.values() if r.token == token), None)

    async def _callback(self, request: web.Request) -> web.Response:
        rec = self._interaction(request, "iid")
        if rec is None:
            return self._error(404, 10062, "Unknown interaction")
        if rec.callbacks:
            self.already_acknowledged += 1
            return self._error(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - rec.created_at > INTERACTION_DEADLINE:
            return self._error(404, 10062, "Unknown interaction")
        body = await request.json()
        rec.callbacks.append(body)
        data = body.get("data") or {}
        if body["type"] == 4:
            self._record("callback", rec.channel_id, None, data, 200)
        if body["type"] in (4, 6, 7, 8):
            rec.answered.set()
        ch = self.channels[rec.channel_id]
        message = None
        if body["type"] in (4, 5):
            message = self._message(self.snowflake(), ch, self.bot_user, data.get("content", ""))
            message["flags"] = int(data.get("flags", 0) or 0)
        resource: dict[str, Any] = {"type": body["type"]}
        if message is not None:
            resource["message"] = message
        interaction = {
            "id": str(rec.id),
            "type": rec.type,
            "response_message_loading": body["type"] == 5,
            "response_message_ephemeral": bool(int(data.get("flags", 0) or 0) & EPHEMERAL),
        }
        if message is not None:
            interaction["response_message_id"] = message["id"]
        return _json({"interaction": interaction, "resource": resource})

    async def _followup(self, request: web.Request) -> web.Response:
        rec = self._interaction(request, "token")
        if rec is None or not rec.callbacks:
            return self._error(404, 10015, "Unknown Webhook")
        body = await self._json_or_form(request)
        refused = self._check_content(
            body.get("content"), creating=True, has_embeds=bool(body.get("embeds"))
        )
        if refused is not None:
            return refused
        rec.followups.append(body)
        self._record("followup", rec.channel_id, None, body, 200)
        rec.answered.set()
        msg = self._message(self.snowflake(), self.channels[rec.channel_id], self.bot_user, "")
        msg.update(content=body.get("content") or "", flags=int(body.get("flags", 0) or 0))
        msg["webhook_id"] = str(self.application_id)
        return _json(msg)

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        rec = self._interaction(request, "token")
        if rec is None or not rec.callbacks:
            return self._error(404, 10015, "Unknown Webhook")
        body = await self._json_or_form(request)
        refused = self._check_content(body.get("content"), creating=False, has_embeds=False)
        if refused is not None:
            return refused
        if request.match_info["message"] == "@original":
            rec.original_edits.append(body)
            self._record("original", rec.channel_id, None, body, 200)
        else:
            rec.followups.append(body)
            self._record("followup", rec.channel_id, None, body, 200)
        rec.answered.set()
        msg = self._message(self.snowflake(), self.channels[rec.channel_id], self.bot_user, "")
        msg.update(content=body.get("content") or "", webhook_id=str(self.application_id))
        return _json(msg)

    async def _webhook_get(self, request: web.Request) -> web.Response:
        rec = self._interaction(request, "token")
        if rec is None:
            return self._error(404, 10015, "Unknown Webhook")
        msg = self._message(self.snowflake(), self.channels[rec.channel_id], self.bot_user, "")
        msg.update(content=rec.text or "", webhook_id=str(self.application_id))
        return _json(msg)

    @staticmethod
    async def _json_or_form(request: web.Request) -> dict[str, Any]:
        if request.content_type == "multipart/form-data":
            form = await request.post()
            raw = form.get("payload_json")
            return json.loads(str(raw)) if raw else {}
        return dict(await request.json())


class _GatewaySession:
    """One websocket connection: HELLO, then IDENTIFY/RESUME, heartbeats, dispatches."""

    def __init__(self, fake: DiscordFake, ws: web.WebSocketResponse) -> None:
        self.fake = fake
        self.ws = ws
        self.seq = 0
        self.identified = False
        self.shard: tuple[int, int] = (0, 1)
        self.session_id = secrets.token_hex(16)
        self._lock = asyncio.Lock()

    async def _send(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(payload))

    async def send_dispatch(self, event: str, data: dict[str, Any]) -> None:
        async with self._lock:
            self.seq += 1
            if not self.ws.closed:
                payload = {"op": 0, "t": event, "s": self.seq, "d": data}
                await self.ws.send_str(json.dumps(payload))

    async def close(self, code: int) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)

    async def run(self) -> None:
        await self._send({"op": 10, "d": {"heartbeat_interval": 41250}})
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                break
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == 1:
                await self._send({"op": 11})
            elif op == 2:
                await self._identify(payload["d"])
            elif op == 6:
                # Sessions are not kept across connections: ask for a fresh IDENTIFY.
                await self._send({"op": 9, "d": False})

    async def _identify(self, data: dict[str, Any]) -> None:
        fake = self.fake
        await fake.identify_open.wait()
        if data.get("token") != fake.token:
            await self.close(4004)
            return
        intents = int(data.get("intents", 0))
        if intents & MESSAGE_CONTENT_INTENT and not fake.message_content_allowed:
            await self.close(4014)
            return
        fake.identified_intents.append(intents)
        shard_id, shard_count = data.get("shard") or (0, 1)
        if not 0 <= shard_id < shard_count:
            await self.close(4010)  # Invalid shard
            return
        if not fake._identify_turn(shard_id):
            await self._send({"op": 9, "d": False})  # Discord's answer to a too-early IDENTIFY
            return
        self.shard = (shard_id, shard_count)
        fake.identified_shards.append(self.shard)
        guilds = [g for g in fake.guild_ids if fake.shard_of(g, shard_count) == shard_id]
        self.identified = True
        ready = {
            "v": 10,
            "user": fake.bot_user,
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "shard": [shard_id, shard_count],
            "session_id": self.session_id,
            "resume_gateway_url": fake.gateway_url,
            "application": {"id": str(fake.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        await self.send_dispatch("READY", ready)
        for guild_id in guilds:
            await self.send_dispatch("GUILD_CREATE", fake._guild_payload(guild_id))
        fake._ready.set()


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body as JSON only when Content-Type is exactly application/json.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _option(name: str, value: Any, focused: bool) -> dict[str, Any]:
    if isinstance(value, UserOption):
        return {"type": 6, "name": name, "value": str(value.id)}
    if isinstance(value, bool):
        otype = 5
    elif isinstance(value, int):
        otype = 4
    elif isinstance(value, float):
        otype = 10
    else:
        otype = 3
    opt: dict[str, Any] = {"type": otype, "name": name, "value": value}
    if focused:
        opt["focused"] = True
    return opt


_EVERYONE = re.compile(r"@(everyone|here)")
_ROLE = re.compile(r"<@&(\d+)>")
_USER = re.compile(r"<@!?(\d+)>")


def _pings(content: str, allowed: dict[str, Any] | None, *, webhook: bool) -> list[str]:
    """Who Discord notifies for ``content`` under ``allowed_mentions`` (None: the defaults)."""
    if allowed is None:
        parse = {"users"} if webhook else {"users", "roles", "everyone"}
        users: set[str] = set()
        roles: set[str] = set()
    else:
        parse = set(allowed.get("parse", []))
        users = {str(u) for u in allowed.get("users", [])}
        roles = {str(r) for r in allowed.get("roles", [])}
    out: list[str] = []
    if "everyone" in parse and _EVERYONE.search(content):
        out.append("everyone")
    out += [f"role:{r}" for r in _ROLE.findall(content) if "roles" in parse or r in roles]
    out += [f"user:{u}" for u in _USER.findall(content) if "users" in parse or u in users]
    return out
