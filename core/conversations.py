"""Admin operations on channels' conversations: bind, unbind, reset, mode, scope and status.

The relay only relays; what admins (and, for /reset and /status, users) change lives here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from core import notices
from core.backends.base import Backend
from core.config import RelaySettings
from core.decide import effective_mode
from core.errors import (
    AssistantRefused,
    CommandError,
    ConversationGone,
    StoreUnavailable,
    UpstreamError,
)
from core.live import Current, current
from core.model import Binding, Incoming, ReplyMode, Scope
from core.notify import Notifier
from core.store.base import Store
from core.surface import Surface
from core.upstream import Upstream

log = logging.getLogger(__name__)

REFUSAL_TOLD_FOR = 3600.0  # seconds the admins are not told again of the same refusal
USER_MARK = "@"  # between a channel key and a user id in a per-user conversation's key


def conversation_key(channel: str, user: str, scope: Scope) -> str:
    """The key a message's conversation is stored under: the channel, or the user in it."""
    return f"{channel}{USER_MARK}{user}" if scope is Scope.USER else channel


async def create_binding(
    store: Store, channel: str, backend: Backend, *, by: str, remote: dict[str, str] | None = None
) -> Binding:
    """Start a new remote conversation on ``backend`` (unless ``remote`` is one just made) and
    bind ``channel`` to it."""
    remote = remote or await backend.create_conversation(title=channel)
    binding = Binding(backend=backend.name, remote=remote, bound_by=by)
    await store.set_binding(channel, binding)
    return binding


class Renewal:
    """A conversation gone upstream (deleted in the provider's app, or expired) is replaced by
    a new one on the same backend, unless an admin bound it by its ids; a character or bot the
    upstream refuses is told to the channel and, privately, to the platform's admins."""

    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        tell_admins: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._tell_admins = tell_admins
        """Writes to one platform's admins privately (:meth:`core.alerts.PlanAlerts.tell_admins`)."""

    async def create(self, msg: Incoming, backend: Backend) -> Binding:
        """A new conversation bound to the message's channel (or, in user scope, to its
        author's key there); the admins hear of a refused character or bot."""
        remote = await self._remote(msg, backend)
        return await create_binding(self._store, msg.channel, backend, by="auto", remote=remote)

    async def _remote(self, msg: Incoming, backend: Backend) -> dict[str, str]:
        try:
            return await backend.create_conversation(title=msg.channel)
        except AssistantRefused as exc:
            where = msg.channel.split(USER_MARK, 1)[0]
            told = notices.assistant_refused_admin(where, str(exc))
            if self._tell_admins is not None and await self._first_refusal(msg, backend):
                await self._tell_admins(msg.platform, self._notifier.render(told))
            raise

    async def _first_refusal(self, msg: Incoming, backend: Backend) -> bool:
        """True for the first refusal of ``backend`` on the message's platform in an hour,
        across processes: the admins hear of it once, not once per message."""
        key = f"refused:{backend.name}:{msg.platform}"
        try:
            return await self._store.claim(key, REFUSAL_TOLD_FOR)
        except StoreUnavailable:
            return True

    async def replace(
        self,
        msg: Incoming,
        binding: Binding,
        backend: Backend,
        surface: Surface,
        rebound: Callable[[Binding], None],
        gone: ConversationGone,
    ) -> dict[str, str] | None:
        """The remote ids of a new conversation replacing ``binding``, found ``gone``; the
        channel is told once. None for a binding an admin made by its ids: it stays, and the
        reply ends with the notice that an admin must bind again. A failure to create the
        new one is raised (the reply ends with its notice)."""
        key = msg.channel
        if binding.pinned:
            log.warning(
                "conversation %s gone upstream; bound by an admin, so not replaced",
                binding.remote,
                extra={"channel": key, "backend": backend.name},
            )
            return None
        remote = await self._remote(msg, backend)
        try:
            renewed = await create_binding(self._store, key, backend, by="auto", remote=remote)
        except StoreUnavailable:
            # This reply still goes to the new conversation; the next message finds the old one
            # gone again and makes another.
            log.warning("the new conversation could not be stored", extra={"channel": key})
            renewed = Binding(backend=backend.name, remote=remote, bound_by="auto")
        log.warning(
            "conversation %s gone upstream (%s); replaced by %s",
            binding.remote,
            gone,
            renewed.remote,
            extra={"channel": key, "backend": backend.name},
        )
        rebound(renewed)
        await self._notifier.notify(surface, notices.conversation_replaced())
        return dict(renewed.remote)


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """What /status shows."""

    channel: str
    binding: Binding | None
    backend: str | None
    mode: ReplyMode
    scope: Scope
    cooldown: float

    def describe(self, *, private: bool = False) -> notices.Notice:
        """The status as a user reads it (in a private chat, only what applies there)."""
        return notices.status_text(
            binding=self.binding,
            backend=self.backend,
            mode=self.mode,
            scope=self.scope,
            cooldown=self.cooldown,
            private=private,
        )


class Conversations:
    """Channel settings and bindings as commands change them; failures become CommandError."""

    def __init__(
        self,
        *,
        store: Store,
        upstream: Upstream,
        settings: RelaySettings | Current[RelaySettings],
    ) -> None:
        self._store = store
        self._upstream = upstream
        self._settings = current(settings)

    @property
    def backend_names(self) -> list[str]:
        """Configured backend names."""
        return self._upstream.names

    @property
    def default_backend(self) -> str | None:
        """What an unbound channel uses."""
        return self._settings().default_backend

    def _backend(self, name: str) -> Backend:
        backend = self._upstream.backend(name.strip().lower())
        if backend is None:
            raise CommandError(notices.unknown_backend(name, self.backend_names))
        return backend

    async def bind(self, channel: str, backend: str, remote_args: list[str], by: str) -> Binding:
        """Bind a channel to a backend; a new remote conversation when no ids are given.

        Raises CommandError with a short answer on bad input or an upstream failure.
        """
        chosen = self._backend(backend)
        async with self._command_errors(chosen):
            if not remote_args:
                return await create_binding(self._store, channel, chosen, by=by)
            try:
                remote = chosen.parse_remote(remote_args)
            except ValueError as exc:
                raise CommandError(notices.usage("/bind", f"{chosen.name} {exc}")) from None
            binding = Binding(backend=chosen.name, remote=remote, bound_by=by, pinned=True)
            await self._store.set_binding(channel, binding)
            return binding

    async def unbind(self, channel: str) -> bool:
        """Drop the channel's binding; True when there was one."""
        async with self._command_errors(None):
            return await self._store.delete_binding(channel)

    async def reset(self, channel: str, by: str, *, fallback: str = "") -> Binding:
        """A new remote conversation for the channel, with the backend it already uses (else
        the one ``fallback``, a channel key, is bound to; else the default)."""
        async with self._command_errors(None):
            current = await self._store.get_binding(channel)
            if current is None and fallback:
                current = await self._store.get_binding(fallback)
        name = current.backend if current else self.default_backend
        if name is None:
            raise CommandError(notices.no_backend())
        chosen = self._backend(name)
        async with self._command_errors(chosen):
            return await create_binding(self._store, channel, chosen, by=by)

    async def set_mode(self, channel: str, mode: ReplyMode) -> None:
        """Set when the bot answers in the channel."""
        async with self._command_errors(None):
            await self._store.set_mode(channel, mode)

    async def mode(self, channel: str, default: ReplyMode) -> ReplyMode:
        """The channel's reply mode (``default`` when never set or the store is down)."""
        try:
            return await self._store.get_mode(channel) or default
        except StoreUnavailable:
            return default

    async def set_scope(self, channel: str, scope: Scope) -> None:
        """Set who shares the channel's conversation."""
        async with self._command_errors(None):
            await self._store.set_scope(channel, scope)

    async def scope(self, channel: str, *, parent: str = "") -> Scope:
        """The channel's scope, else its parent's, else shared (CommandError if the store is down)."""
        async with self._command_errors(None):
            rules = await self._store.rules(
                channels=[channel, parent] if parent else [channel], spaces=[], user=""
            )
        return rules.scope or Scope.SHARED

    async def status(self, channel: str, user: str = "", *, parent: str = "") -> ChannelStatus:
        """Binding (the caller's own in user scope), backend, mode, scope and cooldown."""
        scope = await self.scope(channel, parent=parent)
        async with self._command_errors(None):
            key = conversation_key(channel, user, scope) if user else channel
            binding = await self._store.get_binding(key)
            shared = await self._store.get_binding(channel) if key != channel else binding
            own = await self._store.get_mode(channel)
            above = await self._store.get_mode(parent) if parent else None
            cooldowns = await self._store.get_cooldowns()
        # A person's own conversation starts on the channel's backend.
        start = binding or shared
        backend = start.backend if start else self.default_backend
        return ChannelStatus(
            channel=channel,
            binding=binding,
            backend=backend,
            mode=effective_mode(own, above),  # what the bridge answers by (a thread: its parent's)
            scope=scope,
            cooldown=cooldowns.get(backend, 0.0) if backend else 0.0,
        )

    async def move(self, old: str, new: str) -> None:
        """A chat got a new id (Telegram group -> supergroup): its binding, mode, scope, block
        list, topics and users' conversations follow it."""
        await self._store.move_channel(old, new)

    @contextlib.asynccontextmanager
    async def _command_errors(self, backend: Backend | None) -> AsyncIterator[None]:
        """Turn store and upstream failures of a command into a short answer; an upstream
        failure is logged, counted and paused for as the relay does (core.upstream)."""
        try:
            yield
        except StoreUnavailable as exc:
            raise CommandError(notices.for_store(exc)) from None
        except UpstreamError as exc:
            if backend is None:
                raise  # only a call to a backend fails so, and each names its backend
            await self._upstream.failed(backend, exc)
            raise CommandError(self._upstream.error_notice(backend, exc)) from None
