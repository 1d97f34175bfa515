"""The Discord front-end: gateway events in, relay replies out, and the ``/bridge`` commands."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bots.discord.commands import BridgeTree, NoticeTranslator, build_commands
from bots.discord.facts import channel_key, is_admin, origin_of, replied_to, strip_mention
from bots.discord.ratelimits import rate_limit_trace
from bots.discord.surface import NO_PINGS, DiscordSurface
from bots.frontend import FrontEnd, StartupError, StartupUnavailable, TokenCheck
from core import notices
from core.arrival import ArrivalOrder
from core.bridge import Bridge
from core.budget import Budget
from core.config import DiscordSettings
from core.decide import Action, Facts
from core.errors import StoreUnavailable
from core.live import Current, current
from core.model import Incoming
from core.once import once_per_deploy
from core.stop import Press, tagged_message
from core.store.base import Store

log = logging.getLogger(__name__)

IDENTIFY_SPACING = 5.0  # Discord: max_concurrency IDENTIFYs per 5 seconds
IDENTIFY_POLL = 0.5
INTERACTION_TTL = 900.0  # an interaction token lives 15 minutes
MAX_RATELIMIT_WAIT = 30.0  # discord.py's minimum; longer waits surface as FloodControl
INTENT_HELP = (
    "Discord refused the Message Content intent: enable 'Message Content Intent' in the Discord "
    "developer portal (your application > Bot > Privileged Gateway Intents); until then the bot "
    "answers only mentions, replies to it and DMs."
)
_ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
ACTIVE_FOR = 86400.0  # a channel with a relayed message this recent is caught up on (re)connect
CATCH_UP_CHANNELS = 200  # the most recently active ones; each costs one REST call
CATCH_UP_MESSAGES = 100  # per channel: Discord's page size


@contextlib.contextmanager
def pointed_at(api_base_url: str, *, gateway_url: str | None = None) -> Iterator[None]:
    """Point discord.py's REST (and, in tests, gateway) URLs elsewhere for the block.

    discord.py builds every REST URL (webhooks and interaction callbacks included) from the
    class attribute Route.BASE and opens the gateway at DiscordWebSocket.DEFAULT_GATEWAY;
    neither can be set per client, so they are set here and put back afterwards.
    """
    saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    Route.BASE = api_base_url.rstrip("/")
    if gateway_url is not None:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


async def check_token(settings: DiscordSettings) -> TokenCheck:
    """Log in over REST only (GET /users/@me, /oauth2/applications/@me): the bot's name and
    whether the message-content intent is enabled for it, or StartupError."""
    if settings.token is None:
        raise StartupError("no bot token configured")
    client = discord.Client(intents=discord.Intents.none())
    with pointed_at(settings.api_base_url):
        try:
            await client.login(settings.token.get_secret_value())
            flags = client.application_flags
            content = flags.gateway_message_content or flags.gateway_message_content_limited
            return TokenCheck(f"logged in as {client.user}", content)
        except discord.LoginFailure:
            raise StartupError("discord.token: Discord refused the bot token") from None
        except (discord.HTTPException, OSError) as exc:
            raise StartupUnavailable(f"cannot reach Discord ({type(exc).__name__})") from None
        finally:
            await client.close()


class DiscordFrontEnd(FrontEnd):
    """Answers DMs always, and server channels and threads when mentioned or replied to (or
    every message in mode "all"); replies stream through the relay into a :class:`DiscordSurface`.
    """

    name = "discord"

    def __init__(
        self,
        settings: DiscordSettings | Current[DiscordSettings],
        bridge: Bridge,
        store: Store | None = None,
        *,
        gateway_url: str | None = None,
        guild_ready_timeout: float = 2.0,
        start_timeout: float = 60.0,
    ) -> None:
        self._current = current(settings)
        self._bridge = bridge
        self._store = store
        self._catch_up: asyncio.Task[None] | None = None
        self._gateway_url = gateway_url
        self._guild_ready_timeout = guild_ready_timeout
        self._start_timeout = start_timeout
        self._client: _BridgeClient | None = None
        self._starting: _BridgeClient | None = None  # between login and every shard ready
        self._runner: asyncio.Task[None] | None = None
        self._content_intent = True
        self._online = False
        self._shard_up: dict[int, bool] = {}
        self._endpoints = contextlib.ExitStack()

    @property
    def _settings(self) -> DiscordSettings:
        """The settings in force (a reload applies from the next message)."""
        return self._current()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while every shard of this process has its gateway session up."""
        return bool(self.shards()) and all(up for _, up in self.shards())

    def shards(self) -> list[tuple[int, bool]]:
        """(shard id, session up) for each shard this process runs; empty before start."""
        client = self._client
        if client is None or not self._online or client.is_closed():
            return []
        return [(i, self._shard_up.get(i, False)) for i in sorted(client.shards)]

    def status(self) -> list[tuple[str, bool | None]]:
        """One line per shard for /healthz; None while a shard waits in the identify queue."""
        starting = self._starting
        if starting is not None and starting.queue_shards:
            count = starting.queue_shards
            ids = starting.shard_ids if starting.shard_ids is not None else range(count)
            return [(f"discord shard {i}/{count}", self._shard_up.get(i) or None) for i in ids]
        shards = self.shards()
        if not shards:
            return [("discord", False)]
        count = self._client.shard_count if self._client else len(shards)
        return [(f"discord shard {i}/{count}", up) for i, up in shards]

    @property
    def has_content_intent(self) -> bool:
        """False when Discord refused the message-content intent and we run without it."""
        return self._content_intent

    async def start(self) -> None:
        """Log in, connect the gateway and return once READY arrived (guilds cached)."""
        if self._settings.token is None:
            raise StartupError("discord.token: required when discord.enabled = true")
        self._endpoints.enter_context(
            pointed_at(self._settings.api_base_url, gateway_url=self._gateway_url)
        )
        try:
            await self._launch(content_intent=True)
        except BaseException:
            self._endpoints.close()
            raise

    async def stop(self) -> None:
        """Close the gateway and the HTTP session; replies in flight are the relay's."""
        self._online = False
        client, runner = self._client, self._runner
        self._client = self._runner = None
        if self._catch_up is not None:
            # Finished before the session closes: a catch-up still reading history would
            # otherwise meet a closed session and log a traceback.
            self._catch_up.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._catch_up
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        if runner is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(runner, timeout=10)
        self._endpoints.close()

    async def _launch(self, *, content_intent: bool) -> None:
        assert self._settings.token is not None
        self._content_intent = content_intent
        client = _BridgeClient(
            self,
            settings=self._settings,
            store=self._store,
            bridge=self._bridge,
            content_intent=content_intent,
            guild_ready_timeout=self._guild_ready_timeout,
        )
        try:
            await client.login(self._settings.token.get_secret_value())
        except discord.LoginFailure:
            await client.close()
            raise StartupError("discord.token: Discord refused the bot token") from None
        except (discord.HTTPException, OSError) as exc:
            await client.close()
            raise StartupUnavailable(f"discord: cannot log in ({type(exc).__name__})") from None
        except BaseException:
            await client.close()
            raise
        runner = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        self._starting = client
        try:
            done = await self._until_ready(client, runner, ready)
        finally:
            self._starting = None
        if ready in done:
            self._client, self._runner = client, runner
            runner.add_done_callback(self._gateway_ended)
            return
        ready.cancel()
        failure = runner.exception() if runner in done else None
        if not runner.done():
            runner.cancel()
        await client.close()
        if isinstance(failure, discord.PrivilegedIntentsRequired) and content_intent:
            log.error(INTENT_HELP)
            await self._launch(content_intent=False)
            return
        if failure is None:
            raise StartupUnavailable("discord: the gateway did not become ready in time")
        code = getattr(failure, "code", None)
        # 4004: the token; 4013/4014: the intents. Anything else may pass.
        refused = StartupError if code in (4004, 4013, 4014) else StartupUnavailable
        raise refused(f"discord: gateway connection failed ({code or type(failure).__name__})")

    async def _until_ready(
        self, client: _BridgeClient, runner: asyncio.Task[None], ready: asyncio.Task[None]
    ) -> set[asyncio.Task[Any]]:
        """Wait for every shard while the bot's identify queue moves: the whole queue's time
        (all processes' shards take turns), then ``start_timeout`` past the latest shard ready."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        queue = startup_wait(
            client.queue_shards, client.identify_buckets, self._settings.identify_spacing
        )
        while True:
            deadline = max(began + queue, client.last_progress) + self._start_timeout
            if loop.time() >= deadline:
                return set()
            progress = asyncio.create_task(client.progressed.wait())
            try:
                done, _ = await asyncio.wait(
                    {runner, ready, progress},
                    timeout=deadline - loop.time(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                progress.cancel()
            client.progressed.clear()
            if runner in done or ready in done:
                return {t for t in done if t is not progress}

    def _gateway_ended(self, task: asyncio.Task[None]) -> None:
        self._online = False
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("discord gateway stopped: %s", type(exc).__name__)

    # --- events -------------------------------------------------------------------------------

    def mark_online(self) -> None:
        """The gateway is up again (a resume, or a reconnect)."""
        self._online = True

    def mark_shard(self, shard_id: int, up: bool) -> None:
        """One shard's session went up or down (for /healthz)."""
        self._shard_up[shard_id] = up

    def session_began(self, client: discord.Client) -> None:
        """A gateway session began (start-up, or a reconnect that could not resume): events
        of the gap are gone, so read what was missed from the channels' history."""
        self._online = True
        if self._settings.catch_up_window <= 0 or self._store is None:
            return
        if self._catch_up is not None and not self._catch_up.done():
            return
        self._catch_up = asyncio.create_task(self._run_catch_up(client), name="discord-catch-up")

    async def _run_catch_up(self, client: discord.Client) -> None:
        assert self._store is not None
        try:
            active = await self._store.active_channels(CATCH_UP_CHANNELS)
        except StoreUnavailable:
            log.warning("discord catch-up skipped: store unreachable")
            return
        since = dt.datetime.fromtimestamp(time.time() - self._settings.catch_up_window, dt.UTC)
        oldest = discord.utils.time_snowflake(since)
        channels = [
            (int(key.removeprefix("dc:")), max(int(last), oldest))
            for key, last in active.items()
            if key.startswith("dc:") and key.removeprefix("dc:").isdigit()
        ]
        # Channels side by side; within one channel in order, as the messages were posted.
        await asyncio.gather(*(self._catch_up_channel(client, c, after) for c, after in channels))

    async def _catch_up_channel(self, client: discord.Client, channel_id: int, after: int) -> None:
        try:
            channel = client.get_channel(channel_id) or await client.fetch_channel(channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                return
            guild = getattr(channel, "guild", None)
            if guild is not None and not isinstance(guild, discord.Guild):
                return  # a server this client does not serve (another shard's)
            if guild is None and not _runs_shard_zero(client):
                return  # DMs are shard 0's
            missed = [
                m
                async for m in channel.history(
                    after=discord.Object(id=after), oldest_first=True, limit=CATCH_UP_MESSAGES
                )
            ]
        except (discord.HTTPException, OSError) as exc:
            log.warning("discord catch-up of dc:%s failed: %s", channel_id, type(exc).__name__)
            return
        if missed:
            log.info("discord catch-up: %d messages missed in dc:%s", len(missed), channel_id)
        for message in missed:
            try:
                await self.on_message(message, client.user)
            except Exception:
                log.exception("missed message in dc:%s not handled", channel_id)

    async def on_message(
        self,
        message: discord.Message,
        me: discord.ClientUser | None,
        recorded: asyncio.Event | None = None,
    ) -> None:
        """Tell the core what the message is; it decides, and a relayed message goes to the
        relay with a surface to reply on.

        ``me`` is the bot's own user; messages may arrive while start() still waits for guilds.
        ``recorded`` is set once the message is in the journal (see :class:`ArrivalOrder`).
        """
        if me is None or message.type not in _ANSWERED_TYPES:
            return  # system messages (joins, pins) are not messages to answer
        facts, incoming = self._translate(message, me)
        decision = await self._bridge.check(incoming, facts)
        if decision.action is Action.IGNORE:
            return
        surface = DiscordSurface(
            message.channel,
            message.channel.id,
            reply_to=message,
            budget=Budget.parse(self._settings.write_budget),  # a reload applies at once
        )
        recorded = recorded or asyncio.Event()
        noted = None
        if decision.action is Action.RELAY:
            noted = asyncio.create_task(self._note_handled(incoming.channel, message.id, recorded))
        try:
            await self._bridge.act(
                decision,
                incoming,
                surface,
                is_admin=lambda: self._is_admin(message.author),
                recorded=recorded,
            )
        finally:
            recorded.set()
            if noted is not None:
                await noted

    def _translate(
        self, message: discord.Message, me: discord.ClientUser
    ) -> tuple[Facts, Incoming]:
        """The core's view of a message: the facts its rule needs, and what may be relayed."""
        # DMs always arrive on a DMChannel; a server message whose guild is not cached yet
        # (start-up, outage) has a partial channel and must not be mistaken for a DM.
        direct = isinstance(message.channel, discord.DMChannel)
        mentioned = any(user.id == me.id for user in message.mentions)
        replied = replied_to(message)
        replies_to_me = replied is not None and replied.author.id == me.id
        quoted = None if replies_to_me else replied  # someone else's words, quoted upstream
        text = strip_mention(message.content, me.id)
        facts = Facts(
            private=direct,
            from_bot=message.author.bot or message.webhook_id is not None,
            mentioned=mentioned,
            replies_to_bot=replies_to_me,
            has_text=bool(text),
            attachments=bool(message.attachments or message.stickers),
            # Without the intent Discord sends the content of DMs and mentions only.
            withheld=not self._content_intent and not direct and not mentioned,
        )
        incoming = Incoming(
            platform="discord",
            channel=channel_key(message.channel.id),
            author=f"dc:{message.author.id}",
            text=text,
            message_id=f"dc:{message.id}",
            # A member's server nickname, else their global name, else their username.
            author_name=message.author.display_name,
            quote=strip_mention(quoted.content, me.id) if quoted else "",
            quote_author=quoted.author.display_name if quoted else "",
            origin=origin_of(
                message.author,
                message.channel,
                channel_id=message.channel.id,
                guild_id=message.guild.id if message.guild is not None else None,
                private=direct,
            ),
        )
        return facts, incoming

    async def _is_admin(self, user: discord.abc.User) -> bool:
        return is_admin(user, self._settings.admins)

    async def _note_handled(self, channel: str, message_id: int, recorded: asyncio.Event) -> None:
        """Once the relay has the message, move the channel's catch-up mark past it."""
        if self._store is None or self._settings.catch_up_window <= 0:
            return
        await recorded.wait()
        # Without the mark a later catch-up only starts further back; de-duplication keeps
        # every answer single either way.
        with contextlib.suppress(StoreUnavailable):
            await self._store.note_handled(channel, str(message_id), ACTIVE_FOR)

    async def tell_admin(self, user_id: int, text: str) -> None:
        """A direct message to an admin (opened, or found open, first)."""
        client = self._client
        if client is None:
            return
        channel = await client.create_dm(discord.Object(id=user_id))
        budget = Budget.parse(self._settings.write_budget)
        await self._bridge.notify(
            DiscordSurface(channel, channel.id, reply_to=None, budget=budget), text
        )

    async def on_stop_press(self, interaction: discord.Interaction) -> None:
        """A press of a reply's Stop button: the core decides; someone who may not stop it
        gets an ephemeral answer, every other press is acknowledged without a message (the
        reply's final write takes the button off)."""
        data: dict[str, Any] = dict(interaction.data or {})
        tag = str(data.get("custom_id", ""))
        if interaction.type is not discord.InteractionType.component or not tagged_message(tag):
            return
        user = interaction.user
        pressed = await self._bridge.relay.stops.press(
            tag, f"dc:{user.id}", lambda: self._is_admin(user)
        )
        try:
            if pressed is Press.REFUSED:
                refusal = self._bridge.render(notices.stop_refused())
                await interaction.response.send_message(refusal, ephemeral=True)
            else:
                await interaction.response.defer()
        except discord.HTTPException as exc:  # answered by another session meanwhile
            log.info("stop press not answered: %s", exc)

    async def on_edit(self, message: discord.Message, me: discord.ClientUser | None) -> None:
        """A user edited a message: if it is one the bot answers, the core decides what the
        edit does (never a notice)."""
        if me is None or message.type not in _ANSWERED_TYPES:
            return
        facts, incoming = self._translate(message, me)
        decision = await self._bridge.check(incoming, facts)
        if decision.action is not Action.RELAY:
            return
        surface = DiscordSurface(
            message.channel,
            message.channel.id,
            reply_to=message,
            budget=Budget.parse(self._settings.write_budget),
        )
        await self._bridge.edit(incoming, surface, is_admin=lambda: self._is_admin(message.author))

    def on_delete(self, message_id: int) -> None:
        """A user deleted a message: one still waiting for its turn is dropped, silently."""
        self._bridge.relay.deleted(f"dc:{message_id}")

    def surface_for(self, channel: str, locator: dict[str, str]) -> DiscordSurface | None:
        """A surface for a channel a journal record names (recovery after a restart)."""
        client = self._client
        raw = locator.get("channel", "")
        if client is None or not raw.isdigit():
            return None
        target = client.get_partial_messageable(int(raw))
        reply_to = locator.get("reply_to", "")
        return DiscordSurface(
            target,
            int(raw),
            reply_to=target.get_partial_message(int(reply_to)) if reply_to.isdigit() else None,
            budget=Budget.parse(self._settings.write_budget),
        )

    async def setup_commands(self, tree: app_commands.CommandTree, application_id: int) -> None:
        """Register the commands (replacing those of an earlier call) and sync them globally,
        or to the configured guilds (instant).

        Synced once per deploy, not once per process: the store keeps a hash of what was synced.
        """
        if tree.translator is None:
            await tree.set_translator(NoticeTranslator(self._bridge.commands))
        translator = tree.translator
        assert translator is not None
        for command in build_commands(self._bridge, lambda: self._settings.admins):
            tree.add_command(command, override=True)
        payload = {  # what sync sends, localisations included
            "commands": [
                await c.get_translated_payload(tree, translator) for c in tree.get_commands()
            ],
            "guilds": self._settings.command_guilds,
        }

        async def sync() -> None:
            if self._settings.command_guilds:
                for guild_id in self._settings.command_guilds:
                    guild = discord.Object(id=guild_id)
                    tree.copy_global_to(guild=guild)
                    await tree.sync(guild=guild)
            else:
                await tree.sync()

        try:
            await once_per_deploy(self._store, f"dc:commands:{application_id}", payload, sync)
        except (discord.HTTPException, app_commands.AppCommandError) as exc:
            log.warning("could not sync slash commands: %s", exc)

    async def settings_reloaded(self) -> None:
        """Re-sync the slash commands: a new language or notice text changes their descriptions."""
        client = self._client
        if client is not None and client.application_id is not None:
            await self.setup_commands(client.tree, client.application_id)


class _OnceTree(BridgeTree):
    """Answers each interaction in one process only: during a rolling deploy two sessions may
    run the same shard, and the slower one would otherwise fail with 40060 (already answered)."""

    def __init__(self, client: discord.Client, store: Store | None, bridge: Bridge) -> None:
        super().__init__(client, bridge)
        self._store = store

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Claim the interaction in the store; False (silently skipped) when another took it."""
        if self._store is None:
            return True
        try:
            return await self._store.claim(f"dc:interaction:{interaction.id}", INTERACTION_TTL)
        except StoreUnavailable:
            return True  # answering twice beats not answering


class _BridgeClient(discord.AutoShardedClient):
    """A discord.py client wired to the front-end: no pings, minimal intents, one command tree,
    and the shards the settings give this process (all, by Discord's count, when unset).

    It tells the front-end about sessions, shards and messages through its public methods.
    """

    def __init__(
        self,
        frontend: DiscordFrontEnd,
        *,
        settings: DiscordSettings,
        store: Store | None,
        bridge: Bridge,
        content_intent: bool,
        guild_ready_timeout: float,
    ) -> None:
        intents = discord.Intents(
            guilds=True,
            guild_messages=True,
            dm_messages=True,
            message_content=content_intent,
        )
        super().__init__(
            intents=intents,
            allowed_mentions=NO_PINGS,
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
            http_trace=rate_limit_trace(bridge.relay.pacing),
            guild_ready_timeout=guild_ready_timeout,
            chunk_guilds_at_startup=False,
            **_shard_options(settings),
        )
        self._frontend = frontend
        self._store = store
        self._spacing = settings.identify_spacing
        self.identify_buckets = 1
        """Shards that may IDENTIFY at once (Discord's ``max_concurrency``)."""
        self.queue_shards = settings.shard_count or 0
        """Shards of the whole bot, all queued to IDENTIFY (0 until known)."""
        self.last_progress = 0.0
        """Loop time a shard of this process last became ready."""
        self.progressed = asyncio.Event()
        self.tree = _OnceTree(self, store, bridge)
        self._arrivals = ArrivalOrder()

    async def setup_hook(self) -> None:
        """After login (the application id is known): learn how many shards may identify at
        once, then register and sync the commands."""
        assert self.application_id is not None
        try:
            _, recommended, limits = await self.http.get_bot_gateway()
            self.identify_buckets = max(1, int(limits.get("max_concurrency", 1)))
            self.queue_shards = self.queue_shards or max(1, int(recommended))
        except (discord.HTTPException, discord.GatewayNotFound, OSError, ValueError):
            self.identify_buckets = 1
            self.queue_shards = self.queue_shards or 1
        await self._frontend.setup_commands(self.tree, self.application_id)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Space IDENTIFYs as Discord requires, across every process of the bot."""
        assert self.application_id is not None
        bucket = (shard_id or 0) % self.identify_buckets
        key = f"dc:identify:{self.application_id}:{bucket}"
        await identify_turn(self._store, key, initial=initial, spacing=self._spacing)

    async def on_ready(self) -> None:
        """A new gateway session is up and guilds cached (also after a failed resume)."""
        self._frontend.session_began(self)

    async def on_resumed(self) -> None:
        """Session resumed after a drop."""
        self._frontend.mark_online()

    async def on_connect(self) -> None:
        """A new session (READY) after a reconnect."""
        self._frontend.mark_online()

    async def on_disconnect(self) -> None:
        """A shard dropped; discord.py reconnects by itself (per shard: on_shard_disconnect)."""

    async def on_shard_ready(self, shard_id: int) -> None:
        """One shard's session is up and its guilds are cached; after start-up that is a new
        session (its resume failed), so what it missed is caught up."""
        self._frontend.mark_shard(shard_id, True)
        self.last_progress = asyncio.get_running_loop().time()
        self.progressed.set()
        if self.is_ready():
            self._frontend.session_began(self)

    async def on_shard_connect(self, shard_id: int) -> None:
        """A shard connected (again)."""
        self._frontend.mark_shard(shard_id, True)

    async def on_shard_resumed(self, shard_id: int) -> None:
        """A shard resumed its session after a drop."""
        self._frontend.mark_shard(shard_id, True)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        """A shard's gateway dropped; discord.py reconnects it."""
        self._frontend.mark_shard(shard_id, False)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """An edit, in the channel's line behind the message it edits."""
        place = self._arrivals.enter(str(payload.channel_id))
        try:
            await place.ready()
            await self._frontend.on_edit(payload.message, self.user)
        except Exception:
            log.exception("edit in dc:%s not handled", payload.channel_id)
        finally:
            place.release()

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """A deletion, in the channel's line behind the message it deletes."""
        place = self._arrivals.enter(str(payload.channel_id))
        try:
            await place.ready()
            self._frontend.on_delete(payload.message_id)
        finally:
            place.release()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Button presses (commands are the tree's)."""
        await self._frontend.on_stop_press(interaction)

    async def on_message(self, message: discord.Message) -> None:
        """Each message runs in its own task (discord.py schedules events), so replies overlap;
        a channel's messages still reach the relay in the order they arrived."""
        place = self._arrivals.enter(str(message.channel.id))
        try:
            await place.ready()
            await self._frontend.on_message(message, self.user, place.recorded)
        except Exception:
            log.exception("message in dc:%s not handled", message.channel.id)
        finally:
            place.release()


def startup_wait(shards: int, max_concurrency: int, spacing: float = IDENTIFY_SPACING) -> float:
    """Seconds the bot's identify queue takes: ``max_concurrency`` shards per ``spacing``."""
    return math.ceil(max(shards, 1) / max(max_concurrency, 1)) * spacing


async def identify_turn(
    store: Store | None, key: str, *, initial: bool, spacing: float = IDENTIFY_SPACING
) -> None:
    """Wait until this shard may IDENTIFY: one per rate-limit bucket per 5 seconds, bot-wide.

    The turn is a claim in the store that lapses after the spacing, so shards of processes started
    together take turns instead of being refused by Discord. Without a store, discord.py's rule:
    wait before every IDENTIFY but a process's first.
    """
    if store is not None:
        try:
            # Polling on purpose: the turn is held by another process, which cannot signal us.
            while not await store.claim(key, spacing):  # noqa: ASYNC110
                await asyncio.sleep(min(IDENTIFY_POLL, spacing / 4))
            return
        except StoreUnavailable:
            pass
    if not initial:
        await asyncio.sleep(spacing)


def _runs_shard_zero(client: discord.Client) -> bool:
    """Whether this process runs shard 0, the one that gets DMs."""
    ids = getattr(client, "shard_ids", None)
    return ids is None or 0 in ids


def _shard_options(settings: DiscordSettings) -> dict[str, Any]:
    """AutoShardedClient's shard arguments; none means Discord's recommended count, all here."""
    options: dict[str, Any] = {}
    if settings.shard_count is not None:
        options["shard_count"] = settings.shard_count
    if settings.shard_ids is not None:
        options["shard_ids"] = list(settings.shard_ids)
    return options
