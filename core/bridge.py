"""What a front-end talks to: the door in front of the relay (access, scope, speaker names),
the chat commands, and the notices in the operator's words."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from core import notices
from core.access import Access
from core.commands import ChatCommands
from core.config import RelaySettings
from core.conversations import Conversations, conversation_key
from core.errors import StoreUnavailable
from core.live import Current, current
from core.model import ChannelRules, Incoming, Origin, ReplyMode, Scope
from core.relay import Outcome, Relay
from core.speaker import upstream_text
from core.store.base import Store
from core.surface import Surface

log = logging.getLogger(__name__)

IsAdmin = Callable[[], Awaitable[bool]]


class Bridge:
    """Front door of the core: decides whether and as what a message is relayed."""

    def __init__(
        self,
        *,
        relay: Relay,
        store: Store,
        conversations: Conversations,
        access: Access,
        commands: ChatCommands,
        texts: notices.Texts,
        settings: RelaySettings | Current[RelaySettings],
    ) -> None:
        self.relay = relay
        self.conversations = conversations
        self.commands = commands
        self.texts = texts
        self._store = store
        self._access = access
        self._settings = current(settings)

    async def handle(
        self,
        msg: Incoming,
        surface: Surface,
        *,
        is_admin: IsAdmin,
        recorded: asyncio.Event | None = None,
    ) -> Outcome:
        """Relay ``msg`` if its author may talk here, into their conversation, named as the
        settings say. A refused user is told in a private chat (at most once an hour) and
        ignored in a group. Never raises; ``recorded`` as for :meth:`Relay.handle`."""
        origin = msg.origin or Origin(user=0, private=True)
        rules = await self._rules(msg, origin)
        allowed = self._access.permits(msg.platform, origin, blocked=rules.blocked)
        if not allowed and not await self._admin(is_admin, msg):
            await self._refuse(msg, surface, origin)
            if recorded is not None:
                recorded.set()
            return Outcome.REFUSED
        scope = rules.scope or Scope.SHARED
        relayed = replace(
            msg,
            channel=conversation_key(msg.channel, msg.author, scope),
            text=upstream_text(msg, self._settings()),
            # Each person's own conversation starts on the backend the channel is bound to.
            backend=(rules.backend or "") if scope is Scope.USER else "",
        )
        return await self.relay.handle(relayed, surface, recorded=recorded)

    async def notify(self, surface: Surface, text: str) -> None:
        """Post a notice in the configured language (see :meth:`Relay.notify`)."""
        await self.relay.notify(surface, text)

    async def mode(self, channel: str, default: ReplyMode) -> ReplyMode:
        """The channel's reply mode (``default`` when never set or the store is down)."""
        return await self.conversations.mode(channel, default)

    def render(self, text: str) -> str:
        """A notice as the user reads it."""
        return self.texts.render(text)

    async def _rules(self, msg: Incoming, origin: Origin) -> ChannelRules:
        channels = [msg.channel, origin.parent] if origin.parent else [msg.channel]
        try:
            return await self._store.rules(
                channels=channels,
                spaces=self._access.spaces(msg.author, origin),
                user=msg.author,
            )
        except StoreUnavailable:
            # The relay will not get past the store either, and says so; nothing goes upstream.
            return ChannelRules(scope=None, blocked=False)

    @staticmethod
    async def _admin(is_admin: IsAdmin, msg: Incoming) -> bool:
        try:
            return await is_admin()
        except Exception:
            log.exception("admin check failed", extra={"channel": msg.channel})
            return False

    async def _refuse(self, msg: Incoming, surface: Surface, origin: Origin) -> None:
        log.info("message refused (access)", extra={"channel": msg.channel})
        if not origin.private:
            return  # silent in groups: a stranger must not make the bot talk there
        with contextlib.suppress(Exception):
            if await self._access.notice_due(msg.author):
                await self.relay.notify(surface, notices.access_denied())
