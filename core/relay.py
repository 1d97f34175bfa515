"""The relay: admits a message, finds its conversation, runs one reply at a time per channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from core import notices
from core.backends.base import Backend
from core.config import RelaySettings
from core.conversations import create_binding
from core.errors import (
    ChatUnwritable,
    FloodControl,
    QuotaExceeded,
    StoreUnavailable,
    UpstreamError,
    WriteFailed,
    WriteUncertain,
)
from core.journal import (
    WRITE_ATTEMPTS,
    WRITE_BACKOFF,
    JournalRecord,
    JournalWriter,
    Shown,
    State,
    ticket_of,
)
from core.live import Current, current
from core.metrics import Metrics
from core.model import Admission, Binding, Incoming
from core.pacing import Pacing, PacingBoard
from core.render import RenderResult, ReplyRenderer
from core.store.base import Store
from core.surface import Surface
from core.text import is_blank

log = logging.getLogger(__name__)

TURN_POLL_FIRST = 0.02  # a waiter's first look at another process's turn comes quickly...
TURN_POLL_MAX = 0.25  # ...then backs off to this; only one waiter per channel and process polls
NOTICE_FLOOD_WAIT = 30.0  # longer flood waits are sat out in the background
NOTICE_ATTEMPTS = 5  # flood waits in a row a notice sits out before it is given up
FIND_REPLY_WAITS = (1.0, 2.0)  # an upstream may still be storing the reply: look again
DRAIN_NOTICE_WAIT = 1.0  # at most this long past the grace period for cut replies' notices


class Outcome(StrEnum):
    """How the relay dealt with one message (for logs, metrics and tests)."""

    REPLIED = "replied"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    COOLDOWN = "cooldown"
    BUSY = "busy"
    REFUSED = "refused"
    STORE_DOWN = "store_down"
    SHUTTING_DOWN = "shutting_down"


@dataclass
class _Channel:
    """This process's side of one channel: admission in arrival order, one local waiter polling
    the store's turn at a time, and the liveness that keeps other processes from recovering it."""

    intake: asyncio.Lock = field(default_factory=asyncio.Lock)
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: int = 0
    holding: str | None = None
    """The ticket holding the channel's lease now (renewed by the keeper)."""
    reply: tuple[ReplyRenderer, Surface] | None = None
    """The reply that ticket shows: the keeper stores what its open message shows."""
    stored: Shown | None = None
    """What was last stored of it."""


class Relay:
    """Platform-neutral heart of the bridge: one instance per process, shared by every front-end."""

    def __init__(
        self,
        *,
        store: Store,
        backends: Mapping[str, Backend],
        settings: RelaySettings | Current[RelaySettings],
        metrics: Metrics | None = None,
        pacing: Pacing | None = None,
        texts: notices.Texts | None = None,
    ) -> None:
        self._store = store
        self._backends = dict(backends)
        self._current = current(settings)
        self._metrics = metrics or Metrics()
        self._pacing = PacingBoard() if pacing is None else pacing
        self._texts = texts or notices.Texts(default_backend=self._settings.default_backend)
        self._channels: dict[str, _Channel] = {}
        self._in_flight: set[asyncio.Task[object]] = set()
        self._renderers: set[ReplyRenderer] = set()
        self._late_notices: set[asyncio.Task[None]] = set()
        self._closing = False
        self._stopping = asyncio.Event()
        self._left: set[str] = set()
        self._on_lapsed: Callable[[], None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._also_alive: dict[str, int] = {}
        self._also_holding: dict[str, str] = {}
        self._unfinished: list[tuple[str, str, JournalRecord | None]] = []
        self.owner = uuid.uuid4().hex[:12]
        """This process's name in tickets and liveness keys."""
        # Fixed for the process's life: every process of a deployment must agree on it.
        self.lease_ttl = self._current().lock_ttl

    @property
    def _settings(self) -> RelaySettings:
        """The settings in force (a reload applies from the next message)."""
        return self._current()

    # --- relaying ---------------------------------------------------------------------------

    @property
    def pacing(self) -> Pacing:
        """Every chat's write budget (front-ends feed it what the platform says)."""
        return self._pacing

    @property
    def texts(self) -> notices.Texts:
        """The notices in the configured language."""
        return self._texts

    @property
    def default_backend(self) -> str | None:
        """What an unbound channel uses."""
        return self._settings.default_backend

    def backend(self, name: str) -> Backend | None:
        """A configured backend by name."""
        return self._backends.get(name)

    @property
    def closing(self) -> bool:
        """True once :meth:`drain` began: nothing new goes upstream."""
        return self._closing

    def on_lapsed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when a turn finds a dead process's message ahead (to recover it)."""
        self._on_lapsed = callback

    async def handle(
        self,
        msg: Incoming,
        surface: Surface,
        *,
        recorded: asyncio.Event | None = None,
        resume: JournalRecord | None = None,
    ) -> Outcome:
        """Relay one user message and render the reply on ``surface``. Never raises.

        ``recorded`` is set as soon as the message is in the journal (or was refused), so a
        front-end confirms an update to the platform only once it can no longer be lost.
        ``resume`` is a journal record taken over from a dead process (never sent upstream).
        """
        started = time.monotonic()
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        # Take this channel's place before any await: arrival order is admission order.
        state = self._channels.setdefault(msg.channel, _Channel())
        state.pending += 1
        try:
            outcome, backend = await self._handle(msg, surface, state, started, recorded, resume)
        except Exception:
            log.exception("unexpected failure on %s", msg.channel)
            outcome, backend = Outcome.FAILED, ""
            with contextlib.suppress(Exception):
                await self.notify(surface, notices.failed())
        finally:
            if recorded is not None:
                recorded.set()
            if task is not None:
                self._in_flight.discard(task)
            state.pending -= 1
            if state.pending == 0 and self._channels.get(msg.channel) is state:
                del self._channels[msg.channel]
        self._metrics.messages.labels(msg.platform, backend or "-", outcome.value).inc()
        log.info(
            "message %s",
            outcome.value,
            extra={"channel": msg.channel, "backend": backend or "-", "platform": msg.platform},
        )
        return outcome

    async def _handle(
        self,
        msg: Incoming,
        surface: Surface,
        state: _Channel,
        started: float,
        recorded: asyncio.Event | None,
        resume: JournalRecord | None,
    ) -> tuple[Outcome, str]:
        if is_blank(msg.text):
            await self.notify(surface, notices.empty())
            return Outcome.REFUSED, ""
        record = resume or JournalRecord(
            channel=msg.channel,
            message_id=msg.message_id,
            owner=ticket_of(self.owner, msg.message_id),
            platform=msg.platform,
            author=msg.author,
            text=msg.text,
            author_name=msg.author_name,
            target=surface.locator(),
        )
        async with state.intake:
            try:
                admission = await self._store.admit(
                    record=record,
                    user=msg.author,
                    lease_ttl=self.lease_ttl,
                    queue_size=self._settings.queue_size,
                    dedupe_ttl=self._settings.dedupe_ttl,
                    rate_limit=self._settings.rate_limit_messages,
                    rate_window=self._settings.rate_limit_window,
                    resume=resume is not None,
                )
            except StoreUnavailable:
                log.error("store unreachable; message not relayed", extra={"channel": msg.channel})
                await self.notify(surface, notices.store_down())
                return Outcome.STORE_DOWN, ""
        if recorded is not None:
            recorded.set()
        if admission.duplicate:
            return Outcome.DUPLICATE, ""
        if admission.rate_limited:
            await self.notify(surface, notices.rate_limited(self._settings.rate_limit_window))
            return Outcome.RATE_LIMITED, ""
        if admission.busy:
            await self.notify(surface, notices.busy())
            return Outcome.BUSY, ""
        self._keep()
        journal = JournalWriter(self._store, record)
        if admission.turn:
            state.holding = record.owner
            journal.record = record.moved(State.SENT)  # as the store wrote it
        leave = True
        try:
            outcome, backend, leave = await self._queued(
                msg, surface, state, admission, journal, started
            )
            return outcome, backend
        finally:
            await self._finish(msg.channel, state, journal, leave=leave)

    async def _queued(
        self,
        msg: Incoming,
        surface: Surface,
        state: _Channel,
        admission: Admission,
        journal: JournalWriter,
        started: float,
    ) -> tuple[Outcome, str, bool]:
        """A message with a place in its channel's queue: wait for the turn, then reply.

        The third value is True when the message is left in the journal for the next process.
        """
        if self._closing:
            return Outcome.SHUTTING_DOWN, "", True
        name = (
            admission.binding.backend if admission.binding else msg.backend or self.default_backend
        )
        backend = self._backends.get(name) if name else None
        if backend is None:
            await self.notify(surface, notices.no_backend())
            return Outcome.REFUSED, name or "", False
        limit = backend.max_input_chars
        if limit is not None and len(msg.text) > limit:
            await self.notify(surface, notices.too_long(limit, len(msg.text)))
            return Outcome.REFUSED, backend.name, False
        cooldown = admission.cooldowns.get(backend.name, 0.0)
        if cooldown > 0:
            await self.notify(surface, notices.quota(cooldown))
            return Outcome.COOLDOWN, backend.name, False
        if not await self._local_turn(state):
            return Outcome.SHUTTING_DOWN, backend.name, True
        try:
            if not admission.turn:
                got = await self._wait_turn(msg.channel, state, journal)
                if got is None:
                    return Outcome.SHUTTING_DOWN, backend.name, True
                if not got:
                    await self.notify(surface, notices.busy())
                    return Outcome.BUSY, backend.name, False
                # The wait may have been long: the binding may have changed meanwhile.
                with contextlib.suppress(StoreUnavailable):
                    fresh = await self._store.get_binding(msg.channel)
                    admission = replace(admission, binding=fresh)
            if self._closing:
                return Outcome.SHUTTING_DOWN, backend.name, True
            outcome = await self._reply_bound(msg, surface, backend, admission, journal, started)
            return outcome, backend.name, False
        finally:
            state.turn.release()

    async def _reply_bound(
        self,
        msg: Incoming,
        surface: Surface,
        backend: Backend,
        admission: Admission,
        journal: JournalWriter,
        started: float,
    ) -> Outcome:
        binding = admission.binding
        if binding is not None and binding.backend != backend.name:
            # Re-bound to another backend while this message waited its turn.
            other = self._backends.get(binding.backend)
            if other is None:
                await self.notify(surface, notices.no_backend())
                return Outcome.REFUSED
            backend = other
        if binding is None:
            try:
                binding = await self._new_binding(msg.channel, backend, by="auto")
            except UpstreamError as exc:
                await self._note_upstream_error(backend, exc)
                await self.notify(surface, self._notice_for(backend, exc))
                return Outcome.FAILED
        # The record reads "sent" since the turn was taken (same round-trip): from here on
        # recovery looks the reply up and never sends the prompt again. Backend and remote ids
        # ride along with the next write; until then recovery reads the channel's binding.
        journal.record = journal.record.moved(
            State.SENT, backend=backend.name, remote=dict(binding.remote)
        )
        journal.posted = True
        return await self._reply(msg, surface, backend, binding, journal, started)

    async def _local_turn(self, state: _Channel) -> bool:
        """Wait for this process's previous message in the channel; False on shutdown."""
        if not state.turn.locked():
            await state.turn.acquire()
            return True
        acquire = asyncio.ensure_future(state.turn.acquire())
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({acquire, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not acquire.done():
            acquire.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquire
        if acquire.done() and not acquire.cancelled():
            if not self._closing:
                return True
            state.turn.release()
        return False

    async def _wait_turn(
        self, channel: str, state: _Channel, journal: JournalWriter
    ) -> bool | None:
        """Another process (or a dead one) is ahead in the store's queue: wait for our turn.

        True when taken (the record then reads sent, written by the same round-trip), False
        after ``lock_wait``, None on shutdown. A store outage while waiting is waited out too.
        """
        sent = journal.record.moved(State.SENT)
        delay = TURN_POLL_FIRST
        try:
            async with asyncio.timeout(self._settings.lock_wait):
                while not self._closing:
                    await self._retry_unfinished()
                    if await self._try_turn(channel, sent):
                        state.holding = sent.owner
                        journal.record = sent
                        return True
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._stopping.wait()
                    delay = min(delay * 2, TURN_POLL_MAX)
        except TimeoutError:
            return False
        return None

    async def _try_turn(self, channel: str, sent: JournalRecord) -> bool:
        try:
            turn = await self._store.take_turn(channel, sent.owner, self.lease_ttl, sent)
        except StoreUnavailable:
            return False
        if turn.lapsed:
            log.info("found %d message(s) of a stopped process", len(turn.lapsed))
            if self._on_lapsed is not None:
                self._on_lapsed()
        return turn.acquired

    def _keep(self) -> None:
        """Keep this process alive in its channels (and their leases renewed) from now on."""
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_alive(), name="lease-keeper")

    @contextlib.contextmanager
    def alive_in(self, channel: str, ticket: str | None = None) -> Iterator[None]:
        """Keep this process alive in ``channel`` meanwhile, and the lease of ``ticket`` renewed
        (recovery of a record taken over)."""
        self._also_alive[channel] = self._also_alive.get(channel, 0) + 1
        if ticket is not None:
            self._also_holding[channel] = ticket
        self._keep()
        try:
            yield
        finally:
            self._also_alive[channel] -= 1
            if not self._also_alive[channel]:
                del self._also_alive[channel]
            if self._also_holding.get(channel) == ticket:
                self._also_holding.pop(channel, None)

    async def _keep_alive(self) -> None:
        """One round-trip per tick renews every channel this process is busy in."""
        every = self.lease_ttl / 3
        while True:
            await asyncio.sleep(every)
            await self._retry_unfinished()
            channels: dict[str, str | None] = dict.fromkeys(self._also_alive)
            channels.update(dict.fromkeys(c for c, _, _ in self._unfinished))
            channels.update((c, state.holding) for c, state in self._channels.items())
            for channel, recovering in self._also_holding.items():
                channels[channel] = channels.get(channel) or recovering
            if not channels:
                continue
            shown = self._shown_now()
            try:
                kept = await self._store.keep_alive(self.owner, channels, self.lease_ttl, shown)
            except StoreUnavailable:
                log.debug("lease renewal failed: store unreachable")
                continue
            for channel, text in shown.items():
                if kept.get(channel) and (state := self._channels.get(channel)) is not None:
                    state.stored = text
            for channel, ok in kept.items():
                state = self._channels.get(channel)
                ticket = channels[channel]
                if not ok and ticket and state is not None and state.holding == ticket:
                    log.warning("lease in %s lapsed while replying", channel)

    def _shown_now(self) -> dict[str, Shown]:
        """What each reply's open message shows, where it changed since last stored: the lease
        renewal carries it (no write of its own). Between two messages nothing is open, and
        recovery then leaves the text alone."""
        shown: dict[str, Shown] = {}
        for channel, state in self._channels.items():
            if state.reply is None or state.holding is None:
                continue
            text = _open_message(*state.reply)
            if text != state.stored and (state.stored is not None or text.ref):
                shown[channel] = text
        return shown

    async def _finish(
        self, channel: str, state: _Channel, journal: JournalWriter, *, leave: bool
    ) -> None:
        """Give the turn back and close the record (or leave it for the next process)."""
        await journal.flush()
        ticket = journal.record.owner
        if state.holding == ticket:
            state.holding = None
        record: JournalRecord | None = journal.record.moved(State.DONE)
        if leave:
            self._left.add(channel)
            # Left for the next process: it never went upstream, so it reads "received" again.
            record = None if journal.posted else journal.record.moved(State.RECEIVED)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                await self._store.finish(channel, ticket, record)
                return
            except StoreUnavailable:
                if attempt + 1 < WRITE_ATTEMPTS:
                    await asyncio.sleep(WRITE_BACKOFF * 2**attempt)
        log.warning("turn release deferred (store unreachable)", extra={"channel": channel})
        self._unfinished.append((channel, ticket, record))
        self._keep()

    async def _retry_unfinished(self) -> None:
        """Releases the store did not take during an outage, in order, before the next turn
        and on every keeper tick (while they wait, this process stays alive in the channel)."""
        while self._unfinished:
            channel, ticket, record = self._unfinished[0]
            try:
                await self._store.finish(channel, ticket, record)
            except StoreUnavailable:
                return
            self._unfinished.pop(0)

    async def notify(self, surface: Surface, text: str) -> None:
        """Post a notice, after the chat's flood wait if there is one: a long wait is sat out in
        the background, so the channel's next message does not queue behind it. The text is
        rendered in the configured language."""
        text = self._texts.render(text)
        wait = await self._try_notice(surface, text)
        if wait is None:
            return
        if wait <= NOTICE_FLOOD_WAIT:
            await self._notice_after(surface, text, wait)
            return
        log.info("notice waits %.0fs for flood control", wait, extra={"channel": surface.pace_key})
        task = asyncio.create_task(self._notice_after(surface, text, wait))
        self._late_notices.add(task)
        task.add_done_callback(self._late_notices.discard)

    async def _try_notice(self, surface: Surface, text: str) -> float | None:
        """Post the notice once: the flood wait asked for, or None when done with it."""
        try:
            await surface.notice(text)
        except FloodControl as flood:
            return flood.retry_after
        except (ChatUnwritable, WriteFailed, WriteUncertain) as exc:
            log.warning("notice not delivered: %s", exc, extra={"channel": surface.pace_key})
        return None

    async def _notice_after(self, surface: Surface, text: str, wait: float) -> None:
        for _ in range(NOTICE_ATTEMPTS):
            await asyncio.sleep(wait)
            again = await self._try_notice(surface, text)
            if again is None:
                return
            wait = again
        log.warning("notice dropped after %d flood waits", NOTICE_ATTEMPTS)

    async def _reply(
        self,
        msg: Incoming,
        surface: Surface,
        backend: Backend,
        binding: Binding,
        journal: JournalWriter,
        started: float,
    ) -> Outcome:
        shown: list[str] = []
        state = self._channels[msg.channel]

        def messages_changed(handles: list[Any]) -> None:
            refs = [surface.ref(h) for h in handles]
            if refs != shown:
                shown[:] = refs
                state.stored = _open_message(renderer, surface)
                kept = state.stored if state.stored.ref else None
                journal.later(State.STREAMING, handles=refs, shown=kept)

        renderer = ReplyRenderer(
            surface,
            self._pacing,
            notice_for=lambda exc: self._notice_for(backend, exc),
            on_messages=messages_changed,
            complete=lambda exc, so_far: self._rest_of(
                backend, binding.remote, msg.text, exc, so_far
            ),
        )
        self._metrics.in_flight.inc()
        sent = time.monotonic()
        self._renderers.add(renderer)
        state.reply, state.stored = (renderer, surface), None
        try:
            result = await renderer.render(backend.reply(binding.remote, msg.text))
        finally:
            state.reply = None
            self._renderers.discard(renderer)
            self._metrics.in_flight.dec()
        self._record(msg, backend, result, started=started, sent=sent)
        if result.error is None:
            return Outcome.REPLIED
        if isinstance(result.error, UpstreamError):
            await self._note_upstream_error(backend, result.error, pause=False)
        elif isinstance(result.error, ChatUnwritable):
            log.warning("reply stopped: %s", result.error, extra={"channel": msg.channel})
        else:
            log.error(
                "reply failed: %s", type(result.error).__name__, extra={"channel": msg.channel}
            )
        return Outcome.FAILED

    async def _rest_of(
        self, backend: Backend, remote: dict[str, str], prompt: str, exc: Exception, so_far: str
    ) -> str | None:
        """When the stream failed after the POST went out and the upstream may have stored the
        reply, the part not shown yet, from its history; None to end with a notice.

        A quota error pauses the backend here, before the renderer shows its notice, so a
        message sent right after the notice already meets the cooldown.
        """
        if isinstance(exc, QuotaExceeded):
            await self._pause(backend, exc)
        if not isinstance(exc, UpstreamError) or not exc.maybe_stored:
            return None
        stored = await self.find_reply(backend, remote, prompt)
        if stored is None or not stored.startswith(so_far):
            return None
        log.info("reply completed from the upstream's history (%s)", exc.kind)
        return stored[len(so_far) :]

    async def find_reply(self, backend: Backend, remote: dict[str, str], prompt: str) -> str | None:
        """The upstream's stored reply to ``prompt``, looked up a few times while it may still
        be generating; None when it has none (or cannot be asked)."""
        for wait in (0.0, *FIND_REPLY_WAITS):
            if wait:
                await asyncio.sleep(wait)
            try:
                found = await backend.find_reply(remote, prompt)
            except UpstreamError as exc:
                log.info(
                    "stored history unavailable: %s", exc.kind, extra={"backend": backend.name}
                )
                return None
            if found:
                return found
        return None

    def _record(
        self, msg: Incoming, backend: Backend, result: RenderResult, *, started: float, sent: float
    ) -> None:
        if result.first_chunk is not None:
            self._metrics.first_chunk_seconds.labels(backend.name).observe(
                result.first_chunk - sent
            )
        if result.first_visible is not None:
            self._metrics.first_visible_seconds.labels(msg.platform).observe(
                result.first_visible - started
            )
        self._metrics.edits.labels(msg.platform).inc(result.writes)
        if result.floods:
            self._metrics.flood_waits.labels(msg.platform).inc(result.floods)

    async def _pause(self, backend: Backend, exc: QuotaExceeded) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self._store.set_cooldown(backend.name, self._quota_cooldown(backend, exc))

    async def _note_upstream_error(
        self, backend: Backend, exc: UpstreamError, *, pause: bool = True
    ) -> None:
        self._metrics.upstream_errors.labels(backend.name, exc.kind).inc()
        level = logging.ERROR if exc.kind in ("unauthorized", "rejected") else logging.WARNING
        log.log(level, "upstream %s: %s", exc.kind, exc, extra={"backend": backend.name})
        if pause and isinstance(exc, QuotaExceeded):
            await self._pause(backend, exc)

    def _quota_cooldown(self, backend: Backend, exc: QuotaExceeded) -> float:
        return exc.cooldown if exc.cooldown is not None else backend.quota_cooldown

    def notice_for(self, backend: Backend, exc: BaseException) -> str:
        """The notice a failed reply ends with."""
        return self._notice_for(backend, exc)

    def _notice_for(self, backend: Backend, exc: BaseException) -> str:
        wait = self._quota_cooldown(backend, exc) if isinstance(exc, QuotaExceeded) else None
        return self._texts.render(notices.for_error(exc, quota_wait=wait), backend=backend.name)

    async def _new_binding(self, channel: str, backend: Backend, *, by: str) -> Binding:
        return await create_binding(self._store, channel, backend, by=by)

    # --- lifetime ----------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Messages being handled now (replying or waiting their turn)."""
        return len(self._in_flight)

    async def aclose(self) -> None:
        """Stop renewing leases (the process is going away)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper

    async def drain(self, grace: float) -> None:
        """Stop: nothing new goes upstream; replies in flight get ``grace`` s to finish, then end
        with a notice; queued messages stay in the journal, released at once to the next process.
        """
        self._closing = True
        self._stopping.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        pending = set(self._in_flight)
        if pending:
            log.info("waiting up to %.0fs for %d replies", grace, len(pending))
            # A cut reply needs a moment for its closing notice: keep a quarter (up to 2 s).
            _, still = await asyncio.wait(pending, timeout=grace - min(2.0, grace / 4))
            if still:
                for renderer in list(self._renderers):
                    renderer.stop()
                left = deadline - loop.time()
                await asyncio.wait(still, timeout=max(DRAIN_NOTICE_WAIT, left))
        if self._late_notices:
            log.warning("%d notices waiting out flood control dropped", len(self._late_notices))
        for late in list(self._late_notices):
            late.cancel()
        if self._keeper is not None:
            self._keeper.cancel()
        if self._left:
            try:
                await self._store.retire(sorted(self._left), self.owner)
            except StoreUnavailable:
                log.warning("store unreachable: queued messages resume after their lease lapses")


def _open_message(renderer: ReplyRenderer, surface: Surface) -> Shown:
    """The reply's open message as the journal keeps it (no ref between two messages)."""
    handle, text = renderer.open_message
    ref = surface.ref(handle) if handle is not None else ""
    return Shown(ref, text) if ref else Shown("", "")
