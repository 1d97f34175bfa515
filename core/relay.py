"""The relay: one message's path, top to bottom. Admit it, pick its backend, take the channel's
turn, stream the reply, finish. The message travels as one value (core.delivery); turns
(core.turns), the upstream's failures (core.upstream) and notices (core.notify) are the steps'
tools, each in its own module."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Collection, Sequence
from typing import Any

from core import notices
from core.config import AllowanceSettings, RelaySettings
from core.conversations import Renewal
from core.delivery import Delivery, Outcome
from core.edits import EditAction, apply_edit, withdraw
from core.errors import ChatUnwritable, Stopped, StoreFull, StoreUnavailable, UpstreamError
from core.journal import JournalWriter
from core.live import Current, current
from core.merge import Merges
from core.metering import Metering, refund_due
from core.metrics import Metrics
from core.model import Admission, Incoming, Meter
from core.notify import Notifier
from core.pacing import Pacing, PacingBoard
from core.records import JournalRecord, State, ticket_of
from core.render import RenderResult, ReplyRenderer
from core.stop import Stops
from core.store.base import Store
from core.surface import Surface
from core.text import is_blank
from core.turns import Turns, Wait
from core.upstream import Upstream

log = logging.getLogger(__name__)

DRAIN_NOTICE_WAIT = 1.0  # at most this long past the grace period for cut replies' notices
_UNMETERED = AllowanceSettings()  # no limits: nothing is counted


class Relay:
    """Platform-neutral heart of the bridge: one instance per process, shared by every front-end."""

    def __init__(
        self,
        *,
        store: Store,
        upstream: Upstream,
        turns: Turns,
        notifier: Notifier,
        settings: RelaySettings | Current[RelaySettings],
        metrics: Metrics | None = None,
        pacing: Pacing | None = None,
        metering: Metering | None = None,
        stops: Stops | None = None,
        renewal: Renewal | None = None,
    ) -> None:
        self._store = store
        self._upstream = upstream
        self._turns = turns
        self._notifier = notifier
        self._renewal = renewal or Renewal(store=store, notifier=notifier)
        self._current = current(settings)
        self._metrics = metrics or Metrics()
        self._pacing = PacingBoard() if pacing is None else pacing
        self._metering = metering or Metering(store=store, notifier=notifier, settings=_UNMETERED)
        self._in_flight: set[asyncio.Task[object]] = set()
        self._renderers: set[ReplyRenderer] = set()
        self.stops = stops or Stops(self._current, notifier.render)
        """The replies streaming here that their asker (or an admin) can stop."""
        self.merges = Merges(self._current)
        """The messages waiting for their turn here (a person's are merged)."""

    @property
    def pacing(self) -> Pacing:
        """Every chat's write budget (front-ends feed it what the platform says)."""
        return self._pacing

    @property
    def in_flight(self) -> int:
        """Messages being handled now (replying or waiting their turn)."""
        return len(self._in_flight)

    async def notify(self, surface: Surface, text: str) -> None:
        """Post a notice in the configured language, through the chat's flood waits."""
        await self._notifier.notify(surface, text)

    async def handle(
        self,
        msg: Incoming,
        surface: Surface,
        *,
        recorded: asyncio.Event | None = None,
        resume: JournalRecord | None = None,
        meters: Sequence[Meter] = (),
    ) -> Outcome:
        """Relay one user message and render the reply on ``surface``. Never raises.

        ``recorded`` is set as soon as the message is in the journal (or was refused), so a
        front-end confirms an update to the platform only once it can no longer be lost.
        ``resume`` is a journal record taken over from a dead process (never sent upstream).
        ``meters`` are the allowances the message counts against, checked and charged on
        admission.
        """
        started = time.monotonic()
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        one: Delivery | None = None
        # Take this channel's place before any await: arrival order is admission order.
        with self._turns.place(msg.channel) as channel:
            try:
                journal = JournalWriter(self._store, resume or self._record(msg, surface))
                one = Delivery(
                    msg,
                    surface,
                    channel,
                    journal,
                    started,
                    recorded,
                    resumed=resume is not None,
                    meters=tuple(meters),
                )
                outcome = await self._relay(one)
            except Exception:
                log.exception("unexpected failure on %s", msg.channel)
                outcome = Outcome.FAILED
                with contextlib.suppress(Exception):
                    await self.notify(surface, notices.failed())
            finally:
                if recorded is not None:
                    recorded.set()
                if task is not None:
                    self._in_flight.discard(task)
        backend = (one.backend_name if one else "") or "-"
        self._metrics.messages.labels(msg.platform, backend, outcome.value).inc()
        log.info(
            "message %s",
            outcome.value,
            extra={"channel": msg.channel, "backend": backend, "platform": msg.platform},
        )
        return outcome

    async def resume(self, record: JournalRecord, surface: Surface) -> Outcome:
        """Relay a message a dead process admitted but never sent upstream."""
        msg = Incoming(
            platform=record.platform,
            channel=record.channel,
            author=record.author,
            text=record.text,
            message_id=record.message_id,
            author_name=record.author_name,
        )
        return await self.handle(msg, surface, resume=record)

    async def _relay(self, one: Delivery) -> Outcome:
        """The message's path. Each step reads and fills ``one``; a step that ends the message
        returns how, else None and the next one goes on."""
        outcome = await self._admit(one)
        if outcome is not None:
            return outcome
        try:
            outcome = await self._pick_backend(one)
            if outcome is not None:
                return outcome
            self.merges.enter(one)
            turn = self._turns.turn(
                one.channel, one.journal, held=one.held, skip=one.is_gone, resumed=one.resumed
            )
            async with turn as wait:
                outcome = await self._in_turn(one, wait)
                if outcome is not None:
                    return outcome
                assert one.backend is not None  # picked before the turn
                await self.merges.gather(one, idle=one.held, limit=one.backend.max_input_chars)
                outcome = await self._bind(one)
                if outcome is not None:
                    return outcome
                return await self._reply(one)
        except asyncio.CancelledError:
            # Cut by the process's exit: the journal keeps it open for the next process.
            one.left = True
            raise
        finally:
            self.merges.leave(one)
            await self._turns.finish(one.channel, one.journal, leave=one.left)
            if refund_due(charged=one.charged, left=one.left, sent=one.sent > 0, error=one.error):
                await self._metering.give_back(one.meters, one.msg.channel, one.msg.message_id)

    async def _admit(self, one: Delivery) -> Outcome | None:
        """The store records the message and answers whether it may go on (one round-trip)."""
        msg, surface, settings = one.msg, one.surface, self._current()
        if is_blank(msg.text):
            await self.notify(surface, notices.empty())
            return Outcome.REFUSED
        async with one.channel.intake:
            try:
                with self._turns.admitting(one.journal.record.owner):
                    admission = await self._admit_in_store(one)
            except StoreUnavailable as exc:
                if not isinstance(exc, StoreFull):  # a full store logs it in its own line
                    log.error(
                        "store unreachable; message not relayed", extra={"channel": msg.channel}
                    )
                # The store may have admitted it before the error (a reply lost in a failover,
                # or a pipeline that failed on another node): nothing of it may stay queued.
                await self._turns.withdraw(one.channel, one.journal)
                await self._metering.give_back(one.meters, msg.channel, msg.message_id)
                await self.notify(surface, notices.for_store(exc))
                return Outcome.STORE_DOWN
        if one.recorded is not None:
            one.recorded.set()
        if admission.duplicate:
            return Outcome.DUPLICATE
        if admission.rate_limited:
            await self.notify(surface, notices.rate_limited(settings.rate_limit_window))
            return Outcome.RATE_LIMITED
        if admission.over is not None:
            await self._metering.refuse(admission.over, msg, surface)
            return Outcome.OVER_ALLOWANCE
        one.charged = bool(admission.used)
        self._metering.charged(one.meters, admission.used)
        if admission.busy:
            await self.notify(surface, notices.busy())
            return Outcome.BUSY
        self._turns.admitted(one.channel, one.journal, turn=admission.turn, sent=admission.sent)
        one.held = admission.turn
        one.binding = admission.binding
        one.cooldowns = admission.cooldowns
        return None

    async def _admit_in_store(self, one: Delivery) -> Admission:
        """The store's admission of the message, in one round-trip."""
        settings = self._current()
        return await self._store.admit(
            record=one.journal.record,
            user=one.msg.author,
            lease_ttl=self._turns.lease_ttl,
            queue_size=settings.queue_size,
            dedupe_ttl=settings.dedupe_ttl,
            rate_limit=rate_limit_for(one.msg, settings.rate_limit_messages),
            rate_window=settings.rate_limit_window,
            resume=one.resumed,
            meters=one.meters,
        )

    async def _pick_backend(self, one: Delivery) -> Outcome | None:
        """The backend the channel is bound to (else the message's, else the default), if it
        takes this message now."""
        if self._turns.closing:
            one.left = True
            return Outcome.SHUTTING_DOWN
        binding, text = one.binding, one.msg.text
        one.backend_name = (
            binding.backend if binding else one.msg.backend or self._current().default_backend
        ) or ""
        backend = one.backend = self._upstream.backend(one.backend_name)
        if backend is None:
            return await self._refuse(one, notices.no_backend(), Outcome.REFUSED)
        limit = backend.max_input_chars
        if limit is not None and len(text) > limit:
            return await self._refuse(one, notices.too_long(limit, len(text)), Outcome.REFUSED)
        cooldown = one.cooldowns.get(backend.name, 0.0)
        if cooldown > 0:
            return await self._refuse(one, notices.quota(cooldown), Outcome.COOLDOWN)
        return None

    async def _refuse(self, one: Delivery, notice: notices.Notice, outcome: Outcome) -> Outcome:
        """Answer with ``notice`` instead of going upstream. A record the admission wrote as
        sent reads received again first: a crash during the notice relays the message anew
        rather than calling its reply interrupted."""
        if one.journal.record.state is State.SENT:
            await one.journal.now(State.RECEIVED)
        await self.notify(one.surface, notice)
        return outcome

    async def _in_turn(self, one: Delivery, wait: Wait) -> Outcome | None:
        """How the wait for the turn ended; after a wait, the binding is read again (it may
        have changed meanwhile)."""
        if wait is Wait.GONE:
            return Outcome.DELETED if one.deleted else Outcome.MERGED
        if wait is Wait.TIMED_OUT:
            await self.notify(one.surface, notices.busy())
            return Outcome.BUSY
        if wait is Wait.TAKEN and not one.held:
            with contextlib.suppress(StoreUnavailable):
                one.binding = await self._store.get_binding(one.msg.channel)
        if wait is Wait.STOPPING or self._turns.closing:
            one.left = True
            return Outcome.SHUTTING_DOWN
        return None

    async def _bind(self, one: Delivery) -> Outcome | None:
        """The conversation the reply goes to: the channel's (on the backend it was re-bound
        to while the message waited), else a new one. From here on the record reads sent."""
        backend, binding = one.backend, one.binding
        assert backend is not None  # picked before the turn
        if binding is not None and binding.backend != backend.name:
            one.backend_name = binding.backend
            backend = one.backend = self._upstream.backend(binding.backend)
            if backend is None:
                return await self._refuse(one, notices.no_backend(), Outcome.REFUSED)
        if binding is None:
            try:
                binding = await self._renewal.create(one.msg, backend)
            except UpstreamError as exc:
                await self._upstream.failed(backend, exc)
                await self.notify(one.surface, self._upstream.notice_for(backend, exc))
                return Outcome.FAILED
        one.binding = binding
        # "sent" means the POST leaves now: from here on recovery looks the reply up and never
        # sends the prompt again; before, it relays the message anew. The admission wrote it
        # so when the turn came at once in a bound channel; after a wait or a new conversation
        # it is written here, before the POST, and a store that takes nothing stops the POST.
        sent = {"backend": backend.name, "remote": dict(binding.remote)}
        if one.journal.record.state is State.SENT:
            # Backend and remote ids ride along with the next write; until then recovery reads
            # the channel's binding.
            one.journal.record = one.journal.record.moved(State.SENT, **sent)
        elif not await one.journal.now(State.SENT, **sent):
            log.error("store unreachable; message not relayed", extra={"channel": one.msg.channel})
            await self.notify(one.surface, notices.store_down())
            return Outcome.STORE_DOWN
        one.journal.posted = True
        return None

    async def _reply(self, one: Delivery) -> Outcome:
        """Stream the reply (completed from the upstream's history if the stream fails)."""
        backend, binding = one.backend, one.binding
        assert backend is not None and binding is not None  # bound before the reply
        renderer = ReplyRenderer(
            one.surface,
            self._pacing,
            notice_for=functools.partial(self._upstream.notice_for, backend),
            on_messages=one.messages_changed,
            final_retry_for=self._current().final_retry_for,
            on_final_pending=one.final_pending,
        )
        self._metrics.in_flight.inc()
        self._metrics.upstream_messages.labels(backend.name, one.msg.platform).inc()
        one.sent = time.monotonic()
        self._renderers.add(renderer)
        try:
            with (
                self._turns.showing(one.channel, renderer, one.surface),
                self.stops.streaming(one.msg, one.surface, one.journal, renderer),
            ):
                renew = functools.partial(
                    self._renewal.replace, one.msg, binding, backend, one.surface, one.rebound
                )
                deltas = self._upstream.reply(backend, binding.remote, one.msg.text, replace=renew)
                result = await renderer.render(deltas)
        finally:
            self._renderers.discard(renderer)
            self._metrics.in_flight.dec()
        self._observe(one, result)
        one.error = result.error
        if result.error is None:
            return Outcome.REPLIED
        if isinstance(result.error, Stopped):
            return Outcome.STOPPED
        if isinstance(result.error, UpstreamError):
            await self._upstream.failed(backend, result.error, pause=False)  # paused already
        elif isinstance(result.error, ChatUnwritable):
            log.warning("reply stopped: %s", result.error, extra={"channel": one.msg.channel})
        else:
            log.error(
                "reply failed: %s", type(result.error).__name__, extra={"channel": one.msg.channel}
            )
        return Outcome.FAILED

    async def edited(self, msg: Incoming) -> EditAction:
        """The author edited ``msg`` (its new text, as it would go upstream): see
        :func:`core.edits.apply_edit`."""
        return await apply_edit(self.merges, self._store, self._current().edits, msg)

    def deleted(self, message_id: str) -> bool:
        """The author deleted a message: see :func:`core.edits.withdraw`."""
        return withdraw(self.merges, message_id)

    def _record(self, msg: Incoming, surface: Surface) -> JournalRecord:
        return JournalRecord(
            channel=msg.channel,
            message_id=msg.message_id,
            owner=ticket_of(self._turns.owner, msg.message_id),
            platform=msg.platform,
            author=msg.author,
            text=msg.text,
            author_name=msg.author_name,
            target=surface.locator(),
        )

    def _observe(self, one: Delivery, result: RenderResult) -> None:
        if result.first_chunk is not None:
            self._metrics.first_chunk_seconds.labels(one.backend_name).observe(
                result.first_chunk - one.sent
            )
        if result.first_visible is not None:
            self._metrics.first_visible_seconds.labels(one.msg.platform).observe(
                result.first_visible - one.started
            )
        self._metrics.edits.labels(one.msg.platform).inc(result.writes)
        if result.floods:
            self._metrics.flood_waits.labels(one.msg.platform).inc(result.floods)

    # --- lifetime ----------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop renewing leases (the process is going away)."""
        await self._turns.aclose()

    async def drain(self, grace: float, also: Collection[asyncio.Task[Any]] = ()) -> None:
        """Stop: nothing new goes upstream; replies in flight get ``grace`` s to finish, then end
        with a notice; queued messages stay in the journal, released at once to the next process,
        as do replies still writing after that (cut, and finished by the next process).
        ``also`` are other tasks that write into chats (recoveries), drained alike.
        """
        self._turns.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        pending = set(self._in_flight) | set(also)
        if pending:
            log.info("waiting up to %.0fs for %d replies", grace, len(pending))
            # A cut reply needs a moment for its closing notice: keep a quarter (up to 2 s).
            _, still = await asyncio.wait(pending, timeout=grace - min(2.0, grace / 4))
            if still:
                for renderer in list(self._renderers):
                    renderer.stop()
                left = deadline - loop.time()
                _, still = await asyncio.wait(still, timeout=max(DRAIN_NOTICE_WAIT, left))
            if still:
                # Still writing (a long flood wait, say): cut now, so nothing of this process
                # lands once its chats are handed over; the next process finishes them.
                log.warning("%d replies cut at the end of the grace period", len(still))
                for task in still:
                    task.cancel()
                await asyncio.wait(still, timeout=DRAIN_NOTICE_WAIT)
        self._notifier.drop_late()
        await self._turns.retire()


def rate_limit_for(msg: Incoming, limit: int) -> int:
    """The per-user rate limit (messages per window) one message is held to: none, in effect,
    for the operator's own messages, since the console is a tool and not a chat user."""
    return 2**62 if msg.operator else limit
