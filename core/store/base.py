"""The store interface: the only state shared between the bridge's processes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from core.model import (
    Admission,
    Binding,
    ChannelRecord,
    ChannelRules,
    Meter,
    MeterScope,
    ReplyMode,
    Scope,
    Turn,
    Usage,
    Window,
)
from core.records import JournalRecord, Shown

T = TypeVar("T")

RECOVERY_HOLD = 2.0
"""Lease times a dead ticket whose message is still open stays first in its queue, waiting for
recovery to take it over in its place (:meth:`Store.take_turn`)."""


class Store(ABC):
    """Bindings, de-duplication, rate limits, quota cooldowns, channel settings, the reply journal
    and each channel's turn (a FIFO queue of tickets plus a short lease).

    Every method raises :class:`core.errors.StoreUnavailable` when the store cannot be reached.
    """

    @abstractmethod
    async def admit(
        self,
        *,
        record: JournalRecord,
        user: str,
        lease_ttl: float,
        queue_size: int,
        dedupe_ttl: float,
        rate_limit: int,
        rate_window: float,
        resume: bool = False,
        meters: Sequence[Meter] = (),
    ) -> Admission:
        """The hot path in one round-trip: claim the message id, count the user's message in the
        rate window, write the journal record, queue the message in its channel (``record.owner``
        is its ticket), try to take the turn, and read the binding and cooldowns.

        A message that takes the turn at once in a bound channel is recorded as sent
        (:attr:`Admission.sent`): the relay posts it next. Otherwise its record stays received
        until the relay writes it sent, right before the POST.

        The queue-size check runs after de-duplication. A duplicate, busy or rate-limited message
        is neither queued, journalled nor counted twice. ``resume`` re-queues a recovered record
        whose id was already claimed, in the place its claim kept (at the back when it had
        lost it), and is never busy: the message was taken when it came.

        ``meters`` (:func:`core.allowances.limits_for`) are checked all at once: a message over
        any of them is refused (:attr:`Admission.over`) and charged to none; one that is queued
        is charged to all, once per message id however often it is delivered. A duplicate, busy
        or rate-limited message is charged to none. A resumed message was charged when it came.
        """

    @abstractmethod
    async def refund(self, meters: Sequence[Meter], channel: str, message_id: str) -> bool:
        """Give back the charge of one admitted message (``meters`` as given to :meth:`admit`),
        when the upstream provably did not take it. At most once per message: False when it was
        never charged, was refunded already, or its window is over."""

    @abstractmethod
    async def usage(self, meters: Sequence[Meter]) -> list[Usage]:
        """Each meter's use and grant in its window, in one round-trip."""

    @abstractmethod
    async def top(self, scope: MeterScope, window: Window, n: int) -> list[tuple[str, int]]:
        """The ``n`` keys of ``scope`` that used the most of ``window``, most first."""

    @abstractmethod
    async def grant(self, meter: Meter, n: int) -> Usage:
        """Give ``meter``'s key ``n`` extra messages in its current window (a negative ``n``
        takes them back); its use and grant afterwards."""

    @abstractmethod
    async def take_turn(
        self, channel: str, ticket: str, lease_ttl: float, record: JournalRecord | None = None
    ) -> Turn:
        """Take the channel's lease if ``ticket`` is first in its queue (or already holds it),
        and then write ``record`` (the message as sent) in the same round-trip.

        A dead ticket ahead (its process is no longer alive) whose message is still open
        (received, sent or streaming) is returned but kept first for :data:`RECOVERY_HOLD`
        lease times (:meth:`admit` alike), so no later message is answered before recovery took
        it over in its place (:meth:`journal_claim`): a dead process's queued messages keep
        their order, and no reply streams beside a cut one. After the hold, or when its
        message is done, a dead ticket is removed: a record nobody recovers blocks its channel
        no longer. A turn not taken names the ticket ahead (:attr:`Turn.ahead`).
        """

    @abstractmethod
    async def keep_alive(
        self,
        owner: str,
        channels: Mapping[str, str | None],
        ttl: float,
        shown: Mapping[str, Shown] | None = None,
    ) -> dict[str, bool]:
        """Renew this process's liveness in each channel, and the lease where the ticket given
        for it holds it (one round-trip for all). A lease that is gone (lost in a failover, or
        lapsed through an outage) is taken again by that ticket: it is still replying. Channel
        -> False where another ticket holds the lease now. ``shown`` (by channel) is stored for
        the ticket's message where its lease holds, as :meth:`journal_put` does."""

    @abstractmethod
    async def finish(self, channel: str, ticket: str, record: JournalRecord | None) -> None:
        """Leave the channel's queue and lease; store ``record`` (normally done) in the same trip.

        With ``record`` None the journal record, and what its reply showed, stay as they are
        (for the next process). A ``record`` that reads received (a message left for the next
        process at shutdown) keeps the ticket's place in the queue, so the message is recovered
        before later ones. Otherwise the message's :class:`Shown` is forgotten.
        """

    @abstractmethod
    async def retire(self, channels: list[str], owner: str) -> None:
        """Declare this process gone from ``channels``: its records there may be recovered now."""

    @abstractmethod
    async def journal_put(self, record: JournalRecord, shown: Shown | None = None) -> None:
        """Write a record (a state change), and ``shown`` for its message when given; both
        expire a day after they were written."""

    @abstractmethod
    async def journal_shown(self, channel: str, message_id: str) -> Shown | None:
        """What the message's reply last showed in its open message, as last stored; or None."""

    @abstractmethod
    async def journal_get(self, channel: str, message_id: str) -> JournalRecord | None:
        """One record, or None."""

    @abstractmethod
    async def journal_lapsed(self, limit: int = 500) -> list[JournalRecord]:
        """Open records (not done) whose process is no longer alive in their channel."""

    @abstractmethod
    async def journal_claim(self, record: JournalRecord, owner: str, ttl: float) -> bool:
        """Take over a lapsed record for ``owner`` (a new ticket); False when another process did
        first or its process came back. The new owner is alive in the channel afterwards.

        The new ticket takes the old one's place in the queue, and the lease where the old
        ticket held it. A record whose reply went upstream (sent or streaming) goes first when
        its place is gone, and takes the lease unless a live ticket holds it: the new owner
        then finishes it before any other reply starts, and gives the turn back with
        :meth:`finish`."""

    @abstractmethod
    async def get_binding(self, channel: str) -> Binding | None:
        """The channel's binding, or None."""

    @abstractmethod
    async def set_binding(self, channel: str, binding: Binding) -> None:
        """Bind (or re-bind) a channel."""

    @abstractmethod
    async def delete_binding(self, channel: str) -> bool:
        """Unbind; True when there was a binding."""

    @abstractmethod
    async def get_mode(self, channel: str) -> ReplyMode | None:
        """The channel's reply mode, or None for the default."""

    @abstractmethod
    async def set_mode(self, channel: str, mode: ReplyMode) -> None:
        """Set the channel's reply mode."""

    @abstractmethod
    async def channel_records(self) -> list[ChannelRecord]:
        """Every channel (or space) that has a per-channel setting (binding, mode, scope, block
        list), with all of them, ordered by channel."""

    async def restore_channel(self, record: ChannelRecord) -> None:
        """Write every setting ``record`` carries (``bridge bindings import``); blocked users
        are added to the space's list."""
        if record.binding is not None:
            await self.set_binding(record.channel, record.binding)
        if record.mode is not None:
            await self.set_mode(record.channel, record.mode)
        if record.scope is not None:
            await self.set_scope(record.channel, record.scope)
        for user in record.blocked:
            await self.set_blocked(record.channel, user, True)

    @abstractmethod
    async def claim(self, key: str, ttl: float) -> bool:
        """Claim a one-off id (e.g. a Telegram update_id) for ``ttl`` seconds; False if seen."""

    @abstractmethod
    async def get_mark(self, name: str) -> str | None:
        """A small value shared by every process under ``name`` (e.g. what a deploy-wide chore
        last did), or None when unset or lapsed."""

    @abstractmethod
    async def set_mark(self, name: str, value: str, ttl: float) -> None:
        """Set (or replace) the shared value ``name`` for ``ttl`` seconds."""

    @abstractmethod
    async def set_cooldown(self, backend: str, seconds: float) -> None:
        """Pause a backend for every process (after a quota error)."""

    @abstractmethod
    async def get_cooldowns(self) -> dict[str, float]:
        """Backend name -> seconds left, active cooldowns only."""

    # Scope, block lists and chat migration ----------------------------------------------------

    @abstractmethod
    async def get_scope(self, channel: str) -> Scope | None:
        """The channel's conversation scope, or None for the default."""

    @abstractmethod
    async def set_scope(self, channel: str, scope: Scope) -> None:
        """Set the channel's conversation scope."""

    @abstractmethod
    async def set_blocked(self, space: str, user: str, blocked: bool) -> bool:
        """Put ``user`` on (or take them off) the block list of ``space``; True if it changed."""

    @abstractmethod
    async def rules(
        self, *, channels: Sequence[str], spaces: Sequence[str], user: str
    ) -> ChannelRules:
        """In one round-trip: the first of ``channels`` with a scope set, the backend the first
        channel is bound to, and whether ``user`` is blocked in any of ``spaces`` (either list
        may be empty)."""

    @abstractmethod
    async def move_channel(self, old: str, new: str) -> None:
        """Move a channel's binding, mode, scope and block list to a new key, with those of its
        topics (``<old>:…``) and its users' conversations (``<old>@…``)."""

    @abstractmethod
    async def swap_pace(
        self, chat: str, change: Callable[[str | None], tuple[str, T]], ttl: float
    ) -> T:
        """Run ``change`` on chat ``chat``'s pacing state atomically against every process:
        it gets the stored text (None when there is none) and returns the text to store (kept
        ``ttl`` seconds) and a result, which is returned. ``change`` may run more than once."""

    @abstractmethod
    async def note_handled(self, channel: str, message_id: str, ttl: float) -> None:
        """Remember that ``channel`` was active now and that ``message_id`` (a platform id that
        grows with time, e.g. a Discord snowflake) was handled there; the newest id is kept.
        Forgotten after ``ttl`` seconds without activity."""

    @abstractmethod
    async def active_channels(self, limit: int) -> dict[str, str]:
        """Up to ``limit`` channels noted by :meth:`note_handled`, most recently active first,
        each with the newest message id handled there."""

    @abstractmethod
    async def ping(self) -> str:
        """Reach the store; return a short description (e.g. 'redis 7.0.15')."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close connections."""

    # The operator's page: counts and short texts only, each with a TTL ------------------------

    @abstractmethod
    async def hourly_usage(self, since: float) -> dict[int, dict[str, int]]:
        """Messages answered per hour and backend, from the hour holding ``since`` (a unix
        time) on: hour number (unix time // 3600) -> backend -> count. :meth:`finish` counts
        each done record that went upstream, in its own round-trip; kept :data:`USAGE_TTL`."""

    @abstractmethod
    async def top_usage(self, limit: int) -> TopUsage:
        """The ``limit`` channels and users (as the records name them) with the most messages answered
        today (UTC); each day keeps its :data:`TOP_KEEP` leaders."""

    @abstractmethod
    async def add_trouble(self, lines: Sequence[tuple[str, str]]) -> None:
        """Append (kind, text) lines to the trouble list (newest :data:`TROUBLE_KEEP` kept for
        :data:`TROUBLE_TTL`) and count each kind today, in one round-trip."""

    @abstractmethod
    async def trouble(self, limit: int) -> tuple[list[str], dict[str, int]]:
        """The newest ``limit`` trouble texts, newest first, and today's count by kind."""

    @abstractmethod
    async def beat(self, process: str, info: str, ttl: float) -> None:
        """Say that ``process`` is alive for ``ttl`` seconds, with a short ``info`` text."""

    @abstractmethod
    async def processes(self) -> dict[str, str]:
        """Every process whose last :meth:`beat` has not lapsed, with its info text."""

    @abstractmethod
    async def open_channels(self, limit: int) -> dict[str, int]:
        """Channels with open messages (queued or replying) in the journal, with how many; at
        most ``limit`` messages are looked at."""


USAGE_TTL = 49 * 3600.0
"""How long an hour's message counts are kept (48 hours of history and the running hour)."""
TOP_KEEP = 1000
"""Channels and users each day's top list keeps (the rest, those with the fewest, drop out)."""
TROUBLE_KEEP = 50
"""Trouble texts kept."""
TROUBLE_TTL = 86400.0
"""How long the trouble list outlives its last line."""
DAY_TTL = 2 * 86400.0
"""How long a day's top lists and trouble counts are kept."""


@dataclass(frozen=True, slots=True)
class TopUsage:
    """Today's leaders: (name, messages) pairs, most first."""

    channels: list[tuple[str, int]]
    users: list[tuple[str, int]]


def hour_of(when: float) -> int:
    """The hour number of a unix time (hours since the epoch)."""
    return int(when // 3600)


def day_of(when: float) -> int:
    """The UTC day number of a unix time (days since the epoch)."""
    return int(when // 86400)


def newer_id(a: str, b: str) -> str:
    """The newer of two numeric platform ids, compared exactly (snowflakes exceed a float)."""
    return a if (len(a), a) > (len(b), b) else b
