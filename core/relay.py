"""The relay: admits a message, finds its conversation, runs one reply at a time per channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from core import notices
from core.backends.base import Backend
from core.config import RelaySettings
from core.errors import (
    ChatUnwritable,
    CommandError,
    FloodControl,
    QuotaExceeded,
    StoreUnavailable,
    UpstreamError,
    WriteFailed,
    WriteUncertain,
)
from core.live import Current, current
from core.metrics import Metrics
from core.model import Admission, Binding, Incoming, ReplyMode
from core.pacing import Pacing, PacingBoard
from core.render import RenderResult, ReplyRenderer
from core.store.base import Store
from core.surface import Surface

log = logging.getLogger(__name__)

LOCK_MARGIN = 60.0  # the lock outlives the reply deadline by this much, in case of a slow finish
LOCK_POLL = 0.25  # how often a message waiting on another process's reply checks the lock
NOTICE_FLOOD_WAIT = 30.0  # longer flood waits are sat out in the background
NOTICE_ATTEMPTS = 5  # flood waits in a row a notice sits out before it is given up
DRAIN_NOTICE_WAIT = 10.0  # after the grace period: how long replies get to end with a notice


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


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """What /status shows."""

    channel: str
    binding: Binding | None
    backend: str | None
    mode: ReplyMode
    cooldown: float

    def describe(self) -> str:
        """The status as a user reads it."""
        return notices.status_text(
            binding=self.binding, backend=self.backend, mode=self.mode, cooldown=self.cooldown
        )


@dataclass
class _ChannelQueue:
    """Messages of one channel in this process: FIFO turn-taking and a count for 'busy'."""

    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: int = 0


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
    ) -> None:
        self._store = store
        self._backends = dict(backends)
        self._current = current(settings)
        self._metrics = metrics or Metrics()
        self._pacing = PacingBoard() if pacing is None else pacing
        self._queues: dict[str, _ChannelQueue] = {}
        self._in_flight: set[asyncio.Task[object]] = set()
        self._renderers: set[ReplyRenderer] = set()
        self._late_notices: set[asyncio.Task[None]] = set()
        self._closing = False
        self._owner = uuid.uuid4().hex[:12]
        deadline = max((b.reply_deadline for b in self._backends.values()), default=300.0)
        self._lock_ttl = deadline + LOCK_MARGIN

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
    def backend_names(self) -> list[str]:
        """Configured backend names."""
        return sorted(self._backends)

    @property
    def default_backend(self) -> str | None:
        """What an unbound channel uses."""
        return self._settings.default_backend

    async def handle(
        self, msg: Incoming, surface: Surface, *, recorded: asyncio.Event | None = None
    ) -> Outcome:
        """Relay one user message and render the reply on ``surface``. Never raises.

        ``recorded`` is set as soon as the message is safely in the store (or was refused), so a
        front-end confirms an update to the platform only once it can no longer be lost.
        """
        started = time.monotonic()
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            outcome, backend = await self._handle(msg, surface, started, recorded)
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
        self._metrics.messages.labels(msg.platform, backend or "-", outcome.value).inc()
        log.info(
            "message %s",
            outcome.value,
            extra={"channel": msg.channel, "backend": backend or "-", "platform": msg.platform},
        )
        return outcome

    async def _handle(
        self, msg: Incoming, surface: Surface, started: float, recorded: asyncio.Event | None
    ) -> tuple[Outcome, str]:
        if self._closing:
            await self.notify(surface, notices.shutting_down())
            return Outcome.SHUTTING_DOWN, ""
        if not msg.text.strip():
            await self.notify(surface, notices.empty())
            return Outcome.REFUSED, ""
        queue = self._queues.setdefault(msg.channel, _ChannelQueue())
        if queue.pending > self._settings.queue_size:
            await self.notify(surface, notices.busy())
            return Outcome.BUSY, ""
        queue.pending += 1
        try:
            async with queue.turn:
                return await self._take_turn(msg, surface, started, recorded)
        finally:
            queue.pending -= 1
            if queue.pending == 0:
                self._queues.pop(msg.channel, None)

    async def _take_turn(
        self, msg: Incoming, surface: Surface, started: float, recorded: asyncio.Event | None
    ) -> tuple[Outcome, str]:
        owner = f"{self._owner}:{msg.message_id}"
        try:
            admission = await self._store.admit(
                channel=msg.channel,
                message_id=msg.message_id,
                user=msg.author,
                lock_owner=owner,
                lock_ttl=self._lock_ttl,
                dedupe_ttl=self._settings.dedupe_ttl,
                rate_limit=self._settings.rate_limit_messages,
                rate_window=self._settings.rate_limit_window,
            )
        except StoreUnavailable:
            log.error("store unreachable; message not relayed", extra={"channel": msg.channel})
            await self.notify(surface, notices.store_down())
            return Outcome.STORE_DOWN, ""
        if recorded is not None:
            recorded.set()
        try:
            return await self._admitted(msg, surface, admission, started, owner)
        finally:
            # Compare-and-delete by owner: harmless when this message never held the lock.
            with contextlib.suppress(StoreUnavailable):
                await self._store.release_lock(msg.channel, owner)

    async def _admitted(
        self, msg: Incoming, surface: Surface, admission: Admission, started: float, owner: str
    ) -> tuple[Outcome, str]:
        if admission.duplicate:
            return Outcome.DUPLICATE, ""
        if admission.rate_limited:
            await self.notify(surface, notices.rate_limited(self._settings.rate_limit_window))
            return Outcome.RATE_LIMITED, ""
        name = admission.binding.backend if admission.binding else self.default_backend
        backend = self._backends.get(name) if name else None
        if backend is None:
            await self.notify(surface, notices.no_backend())
            return Outcome.REFUSED, name or ""
        limit = backend.max_input_chars
        if limit is not None and len(msg.text) > limit:
            await self.notify(surface, notices.too_long(limit, len(msg.text)))
            return Outcome.REFUSED, backend.name
        cooldown = admission.cooldowns.get(backend.name, 0.0)
        if cooldown > 0:
            await self.notify(surface, notices.quota(cooldown))
            return Outcome.COOLDOWN, backend.name
        if not admission.lock_acquired and not await self._wait_for_lock(msg.channel, owner):
            await self.notify(surface, notices.busy())
            return Outcome.BUSY, backend.name
        binding = admission.binding
        if binding is None:
            try:
                binding = await self._new_binding(msg.channel, backend, by="auto")
            except UpstreamError as exc:
                await self._note_upstream_error(backend, exc)
                await self.notify(surface, self._notice_for(backend, exc))
                return Outcome.FAILED, backend.name
        return await self._reply(msg, surface, backend, binding, started), backend.name

    async def notify(self, surface: Surface, text: str) -> None:
        """Post a notice, after the chat's flood wait if there is one: a long wait is sat out in
        the background, so the channel's next message does not queue behind it."""
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
        self, msg: Incoming, surface: Surface, backend: Backend, binding: Binding, started: float
    ) -> Outcome:
        renderer = ReplyRenderer(
            surface,
            self._pacing,
            notice_for=lambda exc: self._notice_for(backend, exc),
        )
        self._metrics.in_flight.inc()
        sent = time.monotonic()
        self._renderers.add(renderer)
        try:
            result = await renderer.render(backend.reply(binding.remote, msg.text))
        finally:
            self._renderers.discard(renderer)
            self._metrics.in_flight.dec()
        self._record(msg, backend, result, started=started, sent=sent)
        if result.error is None:
            return Outcome.REPLIED
        if isinstance(result.error, UpstreamError):
            await self._note_upstream_error(backend, result.error)
        elif isinstance(result.error, ChatUnwritable):
            log.warning("reply stopped: %s", result.error, extra={"channel": msg.channel})
        else:
            log.error(
                "reply failed: %s", type(result.error).__name__, extra={"channel": msg.channel}
            )
        return Outcome.FAILED

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

    async def _note_upstream_error(self, backend: Backend, exc: UpstreamError) -> None:
        self._metrics.upstream_errors.labels(backend.name, exc.kind).inc()
        level = logging.ERROR if exc.kind in ("unauthorized", "rejected") else logging.WARNING
        log.log(level, "upstream %s: %s", exc.kind, exc, extra={"backend": backend.name})
        if isinstance(exc, QuotaExceeded):
            with contextlib.suppress(StoreUnavailable):
                await self._store.set_cooldown(backend.name, self._quota_cooldown(backend, exc))

    def _quota_cooldown(self, backend: Backend, exc: QuotaExceeded) -> float:
        return exc.cooldown if exc.cooldown is not None else backend.quota_cooldown

    def _notice_for(self, backend: Backend, exc: BaseException) -> str:
        wait = self._quota_cooldown(backend, exc) if isinstance(exc, QuotaExceeded) else None
        return notices.for_error(exc, quota_wait=wait)

    async def _wait_for_lock(self, channel: str, owner: str) -> bool:
        """Another process is replying in this channel: wait our turn, up to ``lock_wait``."""
        try:
            async with asyncio.timeout(self._settings.lock_wait):
                while not await self._store.acquire_lock(channel, owner, self._lock_ttl):
                    if self._closing:
                        return False
                    await asyncio.sleep(LOCK_POLL)
            return True
        except (TimeoutError, StoreUnavailable):
            return False

    async def _new_binding(self, channel: str, backend: Backend, *, by: str) -> Binding:
        remote = await backend.create_conversation(title=channel)
        binding = Binding(backend=backend.name, remote=remote, bound_by=by)
        await self._store.set_binding(channel, binding)
        return binding

    # --- admin operations ------------------------------------------------------------------------

    def _backend(self, name: str) -> Backend:
        backend = self._backends.get(name.strip().lower())
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
                return await self._new_binding(channel, chosen, by=by)
            try:
                remote = chosen.parse_remote(remote_args)
            except ValueError as exc:
                raise CommandError(notices.usage("/bind", f"{chosen.name} {exc}")) from None
            binding = Binding(backend=chosen.name, remote=remote, bound_by=by)
            await self._store.set_binding(channel, binding)
            return binding

    async def unbind(self, channel: str) -> bool:
        """Drop the channel's binding; True when there was one."""
        async with self._command_errors(None):
            return await self._store.delete_binding(channel)

    async def reset(self, channel: str, by: str) -> Binding:
        """A new remote conversation for the channel, with the backend it already uses."""
        async with self._command_errors(None):
            current = await self._store.get_binding(channel)
        name = current.backend if current else self.default_backend
        if name is None:
            raise CommandError(notices.no_backend())
        chosen = self._backend(name)
        async with self._command_errors(chosen):
            return await self._new_binding(channel, chosen, by=by)

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

    async def status(self, channel: str) -> ChannelStatus:
        """Binding, backend, mode and cooldown of the channel."""
        async with self._command_errors(None):
            binding = await self._store.get_binding(channel)
            mode = await self._store.get_mode(channel) or ReplyMode.MENTIONS
            cooldowns = await self._store.get_cooldowns()
        backend = binding.backend if binding else self.default_backend
        return ChannelStatus(
            channel=channel,
            binding=binding,
            backend=backend,
            mode=mode,
            cooldown=cooldowns.get(backend, 0.0) if backend else 0.0,
        )

    @contextlib.asynccontextmanager
    async def _command_errors(self, backend: Backend | None) -> AsyncIterator[None]:
        """Turn store and upstream failures of an admin command into a short answer."""
        try:
            yield
        except StoreUnavailable:
            raise CommandError(notices.store_down()) from None
        except UpstreamError as exc:
            if backend is not None:
                await self._note_upstream_error(backend, exc)
                raise CommandError(self._notice_for(backend, exc)) from None
            raise CommandError(notices.for_error(exc)) from None

    # --- lifetime ----------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Messages being handled now (replying or waiting their turn)."""
        return len(self._in_flight)

    async def drain(self, grace: float) -> None:
        """Stop taking messages; let replies finish within ``grace`` s, then end them with a notice."""
        self._closing = True
        pending = set(self._in_flight)
        if pending:
            log.info("waiting up to %.0fs for %d replies", grace, len(pending))
            _, still = await asyncio.wait(pending, timeout=grace)
            if still:
                for renderer in list(self._renderers):
                    renderer.stop()
                await asyncio.wait(still, timeout=DRAIN_NOTICE_WAIT)
        if self._late_notices:
            log.warning("%d notices waiting out flood control dropped", len(self._late_notices))
        for late in list(self._late_notices):
            late.cancel()
