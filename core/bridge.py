"""What a front-end talks to: the door in front of the relay (the reply rule, access, scope,
speaker names), the chat commands, and the notices in the operator's words."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from core import allowances, notices
from core.access import Access
from core.allowances import MessageFacts
from core.commands import ChatCommands
from core.config import AllowanceSettings, RelaySettings
from core.conversations import Conversations, conversation_key
from core.decide import Action, Decision, Facts, decide
from core.delivery import Outcome
from core.edits import EditAction, as_new_message
from core.errors import StoreUnavailable
from core.live import Current, current
from core.model import ChannelRules, Incoming, Meter, Origin, Scope
from core.relay import Relay
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
        allowances: AllowanceSettings | Current[AllowanceSettings] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.relay = relay
        self.conversations = conversations
        self.commands = commands
        self.texts = texts
        self._store = store
        self._access = access
        self._settings = current(settings)
        self._allowances = current(allowances or AllowanceSettings())
        self._clock = clock

    async def check(self, msg: Incoming, facts: Facts) -> Decision:
        """Whether and how to answer ``msg`` (:func:`core.decide.decide`), given the reply
        modes of its channel and of the channel's parent; nothing acts yet."""
        if not facts.private and not facts.from_bot:
            facts = await self._with_modes(facts, msg)
        return decide(facts)

    async def act(
        self,
        decision: Decision,
        msg: Incoming,
        surface: Surface,
        *,
        is_admin: IsAdmin,
        recorded: asyncio.Event | None = None,
    ) -> Outcome | None:
        """Carry out a decision of :meth:`check`: relay ``msg`` (see :meth:`handle`), or post
        its notice to an author who may talk here; None when nothing went to the relay.
        ``recorded`` is set at the latest when this returns."""
        try:
            if decision.action is Action.RELAY:
                return await self.handle(msg, surface, is_admin=is_admin, recorded=recorded)
            notice = decision.notice
            if notice is not None and await self._admitted(msg, surface, is_admin) is not None:
                await self.relay.notify(surface, notice)
            return None
        finally:
            if recorded is not None:
                recorded.set()

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
        rules = await self._admitted(msg, surface, is_admin)
        if rules is None:
            if recorded is not None:
                recorded.set()
            return Outcome.REFUSED
        meters = await self._meters(msg, rules, is_admin)
        relayed = self._relayed(msg, rules)
        return await self.relay.handle(relayed, surface, recorded=recorded, meters=meters)

    async def edit(self, msg: Incoming, surface: Surface, *, is_admin: IsAdmin) -> None:
        """The author edited ``msg`` (a message :meth:`check` relays): a queued one goes with
        the new text; an answered one's edit is relayed anew if the settings say so. Silent."""
        origin = msg.origin or Origin(user=0, private=True)
        rules = await self._rules(msg, origin)
        if not self._access.permits(msg.platform, origin, blocked=rules.blocked):
            return
        action = await self.relay.edited(self._relayed(msg, rules))
        if action is EditAction.ANSWER:
            await self.handle(as_new_message(msg), surface, is_admin=is_admin)

    def _relayed(self, msg: Incoming, rules: ChannelRules) -> Incoming:
        """``msg`` as the relay takes it: in its conversation, named as the settings say."""
        scope = rules.scope or Scope.SHARED
        return replace(
            msg,
            channel=conversation_key(msg.channel, msg.author, scope),
            text=upstream_text(msg, self._settings()),
            # Each person's own conversation starts on the backend the channel is bound to.
            backend=(rules.backend or "") if scope is Scope.USER else "",
        )

    async def notify(self, surface: Surface, text: str) -> None:
        """Post a notice in the configured language (see :meth:`Relay.notify`)."""
        await self.relay.notify(surface, text)

    def render(self, text: str) -> str:
        """A notice as the user reads it."""
        return self.texts.render(text)

    async def _meters(self, msg: Incoming, rules: ChannelRules, is_admin: IsAdmin) -> list[Meter]:
        """The allowances ``msg`` counts against: its author's, its chat's, its server's and
        its backend's plan (none while no limit is configured)."""
        settings = self._allowances()
        if not allowances.enabled(settings):
            return []
        origin = msg.origin or Origin(user=0, private=True)
        facts = MessageFacts(
            author=msg.author,
            channel=msg.channel,
            server=origin.space,
            backend=rules.backend or msg.backend or self._settings().default_backend or "",
            roles=origin.roles,
            # Asked only when it matters: a group's admin list may cost a platform call.
            admin=settings.admins_exempt and await self._admin(is_admin, msg),
        )
        return allowances.limits_for(facts, settings, self._clock())

    async def _with_modes(self, facts: Facts, msg: Incoming) -> Facts:
        """``facts`` with the reply modes of the channel and of its parent (thread, topic)."""
        parent = msg.origin.parent if msg.origin else ""
        try:
            own = await self._store.get_mode(msg.channel)
            above = await self._store.get_mode(parent) if parent else None
        except StoreUnavailable:
            own = above = None  # mentions: the safe default while the store is away
        return replace(facts, mode=own, parent_mode=above)

    async def _admitted(
        self, msg: Incoming, surface: Surface, is_admin: IsAdmin
    ) -> ChannelRules | None:
        """The channel's rules when the author may talk here; None (told or not) when refused."""
        origin = msg.origin or Origin(user=0, private=True)
        rules = await self._rules(msg, origin)
        if self._access.permits(msg.platform, origin, blocked=rules.blocked):
            return rules
        if await self._admin(is_admin, msg):
            return rules
        await self._refuse(msg, surface, origin)
        return None

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
