"""Progressive rendering: the bot's message grows as chunks arrive, paced, split and always finished."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.errors import (
    ChatUnwritable,
    EmptyReply,
    FloodControl,
    ShuttingDown,
    WriteFailed,
    WriteUncertain,
)
from core.gate import Turn, edit_place
from core.pacing import Pacing, Priority, Sleep
from core.render_plan import Progress, Write, next_write
from core.surface import Surface
from core.tasks import cancel

log = logging.getLogger(__name__)

TYPING_EVERY = 4.0  # Telegram's indicator lasts ~5 s, Discord's ~10 s
FIRST_TYPING_WAIT = 1.0  # how long the POST waits to learn whether the chat takes writes at all
FINAL_RETRY_FOR = 600.0  # how long the final text is retried through a platform outage
FINAL_RETRY_MAX_GAP = 4.0  # the final lands at most this long after an outage ends


def ended_with(text: str, notice: str) -> str:
    """A reply's text ended by a notice (the notice alone when no text was shown)."""
    return f"{text.rstrip()}\n\n{notice}" if text.strip() else notice


@dataclass(slots=True)
class RenderResult:
    """What the user ended up seeing."""

    text: str = ""
    error: BaseException | None = None
    messages: int = 0
    writes: int = 0
    floods: int = 0
    first_chunk: float | None = None
    """Clock time the first text delta arrived from upstream, if any."""
    first_visible: float | None = None
    """Clock time of the first write that showed text, if any."""


class ReplyRenderer:
    """Streams one reply into one :class:`Surface`.

    One loop writes: it decides the next write from what the stream produced and what the chat
    shows (:func:`core.render_plan.next_write`), waits for the chat's budget, and makes it. While
    it has nothing to write it reads the stream itself, so a chunk the budget lets through at
    once is written without a task switch; while a write waits for the budget, the stream is
    read on meanwhile, so slow writes coalesce. A write waiting for the budget when the stream
    ends becomes the final one at once (it may spend the reserve).
    """

    def __init__(
        self,
        surface: Surface,
        pacing: Pacing,
        *,
        notice_for: Callable[[BaseException], str],
        clock: Callable[[], float] = time.monotonic,
        adopted: list[Any] | None = None,
        on_messages: Callable[[list[Any]], None] | None = None,
        final_retry_for: float = FINAL_RETRY_FOR,
        on_final_pending: Callable[[str], None] | None = None,
    ) -> None:
        self._surface = surface
        self._pacing = pacing
        self._notice_for = notice_for
        self._clock = clock
        # Messages an earlier process wrote for this reply (recovery): edited, not sent anew.
        self._adopted = list(adopted or [])
        self._on_messages = on_messages
        # The final text is retried this long; told once its first try failed (the journal
        # keeps it, so a restart still writes it).
        self._final_retry_for = final_retry_for
        self._on_final_pending = on_final_pending
        self._stream: _Stream | None = None
        self._progress = Progress()
        self._tally = RenderResult()  # filled in as the reply goes
        self._handle: Any = None  # the open message (None between messages)
        self._handles: list[Any] = []
        self._typing: asyncio.Task[None] | None = None
        self._stopped_early: BaseException | None = None

    @property
    def open_message(self) -> tuple[Any, str]:
        """The handle of the message still growing (None between messages) and the text it
        shows (the journal snapshots it, so recovery can end it with a notice)."""
        return self._handle, self._progress.shown

    def stop(self, reason: BaseException | None = None) -> None:
        """End the reply now: the text so far is kept and the notice for ``reason`` appended
        (by default the shutdown notice). Before the stream is read, only a reason stops it (a
        shutdown lets it run) and the stream is never opened; a stream read whole ends as it is.
        """
        if self._stream is not None:
            self._stream.stop(reason)
        elif reason is not None:
            self._stopped_early = reason

    async def render(self, deltas: AsyncIterator[str]) -> RenderResult:
        """Show ``deltas`` as they come; end with the whole text (plus a notice on error).

        The first typing indicator goes out before ``deltas`` is read (that read is what sends
        the prompt upstream): a chat that refuses it gets no reply and costs no upstream call.
        """
        tally = self._tally
        first_typing = asyncio.create_task(self._surface.typing())
        await asyncio.wait({first_typing}, timeout=FIRST_TYPING_WAIT)
        if first_typing.done() and not first_typing.cancelled():
            refused = first_typing.exception()
            if isinstance(refused, ChatUnwritable):
                await _close(deltas)
                tally.error = refused
                return tally
        stream = self._stream = _Stream(deltas, self._clock)
        if self._stopped_early is not None:
            stream.stop(self._stopped_early)
        typing = self._typing = asyncio.create_task(self._keep_typing(first_typing))
        # The loop runs in a task of its own: stop() may cancel a read of the stream in it.
        writer = stream.writer = asyncio.create_task(self._run(stream))
        try:
            await writer
        finally:
            await cancel(writer, typing)
            # A cancelled task keeps its CancelledError, whose traceback holds the task's frame
            # and so this renderer: dropped here, the reply's objects go as soon as it ends
            # instead of waiting, as one cycle, for the garbage collector.
            self._typing = stream.writer = None
        tally.text, tally.first_chunk = stream.text(), stream.first_chunk
        if stream.error is not None:  # the stream's own failure outranks a later write's
            tally.error = stream.error
        return tally

    async def _run(self, stream: _Stream) -> None:
        """The one writer: the next write, its budget, the write and its failures, to the final."""
        surface, pacing, progress, tally = self._surface, self._pacing, self._progress, self._tally
        give_up_at: float | None = None
        gap = 1.0
        since = pacing.clock()  # the reply's latest write: its edits queue bot-wide by it
        ready: dict[str, float] = {}  # budget key -> when it has room for an edit, as last learnt
        try:
            while True:
                final = stream.ended
                text = self._final_text(stream) if final else stream.text()
                write = next_write(progress, text, final, surface.max_length, surface.measure)
                if write is None:
                    if final:
                        return
                    await stream.more()
                    continue
                key, budget = surface.budget_for(final=write.final)
                early = 0.0 if final else ready.get(key, 0.0) - pacing.clock()
                if early > 0:  # the chat's own spacing: no place in line before it passes
                    await stream.read_while(pacing.sleep, early)
                    continue
                turn = await self._turn(stream, key, final=final, since=since)
                if turn is None:
                    continue  # the stream ended meanwhile: the final text asks in its place
                wait = await pacing.take(key, budget, final=final)
                if wait > 0:
                    turn.release()
                    ready[key] = pacing.clock() + wait
                    if final:
                        await pacing.sleep(wait)
                    continue
                try:
                    await self._write(write)
                    since = pacing.clock()
                    ready[key] = since + budget.spacing
                except FloodControl as flood:
                    tally.floods += 1
                    scope = None if flood.scoped else budget
                    await pacing.flooded(key, flood.retry_after, budget=scope)
                    log.info("flood control in %s: waiting %.1fs", key, flood.retry_after)
                except ChatUnwritable as exc:
                    tally.error = exc  # the relay logs the one line
                    return
                except WriteUncertain as exc:
                    log.warning("write to %s may have landed (%s); not repeated", key, exc)
                    tally.error = exc
                    return
                except WriteFailed as exc:
                    if not final:
                        log.warning("write to %s failed (%s); the next one catches up", key, exc)
                        progress.covered = write.covers
                        continue
                    # Nothing comes after the final text: it is retried through an outage.
                    now = self._clock()
                    if give_up_at is None:
                        give_up_at = now + self._final_retry_for
                        if self._on_final_pending is not None:
                            self._on_final_pending(text)
                    if now >= give_up_at:
                        log.error("final write to %s kept failing (%s); given up", key, exc)
                        tally.error = exc
                        return
                    log.warning("final write to %s failed (%s); retrying in %.0fs", key, exc, gap)
                    await asyncio.sleep(gap)
                    gap = min(gap * 2, FINAL_RETRY_MAX_GAP)
                except Exception:
                    log.exception("write to %s failed", key)  # a surface that did not say why
                    if final:
                        raise
                    progress.covered = write.covers
        finally:
            await stream.close()

    async def _turn(self, stream: _Stream, key: str, *, final: bool, since: float) -> Turn | None:
        """Wait for the write's turn bot-wide (the stream is read on meanwhile); None when the
        stream ended first, so a streaming edit is no longer the write to make."""
        first = not self._tally.messages
        priority = Priority.ANSWER if final or first else Priority.EDIT
        if priority is Priority.EDIT:
            since = edit_place(since, self._tally.writes)
        turn = self._pacing.turn(key, priority, since)
        if not turn.done():
            if final:
                await turn
            else:
                await stream.read_until(turn.wait())
        if not final and stream.ended:
            turn.cancel()
            return None
        return turn

    async def _write(self, write: Write) -> None:
        """Make ``write`` in the open message, or in a new one when none is open."""
        surface, handle, tally = self._surface, self._handle, self._tally
        index = tally.messages - (handle is not None)
        if handle is None:
            adopted = self._adopted[index] if index < len(self._adopted) else None
            if adopted is not None:
                new = await surface.edit(adopted, write.text, final=write.final)
            else:
                new = await surface.send(write.text, final=write.final)
            tally.messages += 1
        else:
            new = await surface.edit(handle, write.text, final=write.final)
        # The journal, told of a new handle, reads open_message: it shows this write, even a seal.
        self._handle = handle = new if new is not None else handle
        self._progress.shown = write.text
        self._note_handle(index, handle)
        self._progress.wrote(write)
        if write.seals:
            self._handle = None
        tally.writes += 1
        if tally.first_visible is None:
            tally.first_visible = self._clock()
            if self._typing is not None:
                self._typing.cancel()

    def _note_handle(self, index: int, handle: Any) -> None:
        """Tell the journal when the reply's messages change (a new one, or a new handle)."""
        if index < len(self._handles):
            if self._handles[index] is handle:
                return
            self._handles[index] = handle
        else:
            self._handles.append(handle)
        if self._on_messages is not None:
            self._on_messages(list(self._handles))

    def _final_text(self, stream: _Stream) -> str:
        text = stream.text()
        if stream.error is None:
            return text if text.strip() else self._notice_for(EmptyReply())
        return ended_with(text, self._notice_for(stream.error))

    async def _keep_typing(self, first: asyncio.Task[None]) -> None:
        with contextlib.suppress(Exception):
            await first  # a late refusal shows again at the first write, which stops the reply
        while self._tally.first_visible is None:
            await asyncio.sleep(TYPING_EVERY)
            with contextlib.suppress(Exception):
                await self._surface.typing()


class _Stream:
    """The upstream's deltas, read into one buffer.

    The writer reads them itself while it has nothing to write (no task switch per chunk); while
    a write waits for the budget, a task of its own reads on, and hands reading back after its
    next delta once the writer wants more.
    """

    def __init__(self, deltas: AsyncIterator[str], clock: Callable[[], float]) -> None:
        self._deltas = deltas
        self._clock = clock
        self._chunks: list[str] = []
        self.first_chunk: float | None = None
        self.ended = False
        self.error: BaseException | None = None
        self._ahead: asyncio.Task[None] | None = None
        self._keep_ahead = False  # the task reading ahead goes on after its current delta
        self._pulling = False  # a read is in progress (in the ahead task if any, else the writer)
        self.writer: asyncio.Task[None] | None = None

    def text(self) -> str:
        """Everything read so far."""
        chunks = self._chunks
        if len(chunks) > 1:
            chunks[:] = ["".join(chunks)]
        return chunks[0] if chunks else ""

    def stop(self, reason: BaseException | None = None) -> None:
        """End the stream here, cut short (by ``reason``, else a shutdown): a read in progress
        is cancelled, a write is not."""
        if self.ended:
            return
        self.ended, self.error = True, reason or ShuttingDown()
        reader = self._ahead or self.writer
        if self._pulling and reader is not None:
            reader.cancel()

    def more(self) -> Awaitable[None]:
        """Wait for the next delta, or the end."""
        return self._pull() if self._ahead is None else self._hand_back()

    async def _hand_back(self) -> None:
        """The task reading ahead stops after its next delta: the writer reads again."""
        if self._ahead is not None:
            self._keep_ahead = False
            await asyncio.wait((self._ahead,))
            self._ahead = None

    async def read_while(self, sleep: Sleep, seconds: float) -> None:
        """Read on while the writer waits ``seconds`` for the budget; back early at the end."""
        ahead = await self._read_ahead_started()
        if ahead is None:
            return
        sleeper = asyncio.ensure_future(sleep(seconds))
        try:
            await asyncio.wait((ahead, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()

    async def read_until(self, done: asyncio.Future[Any]) -> None:
        """Read on while the writer waits for ``done`` (its turn); back early at the end."""
        ahead = await self._read_ahead_started()
        if ahead is not None:
            await asyncio.wait((ahead, done), return_when=asyncio.FIRST_COMPLETED)

    async def _read_ahead_started(self) -> asyncio.Task[None] | None:
        """The task reading ahead, started if need be; None when the stream already ended."""
        self._keep_ahead = True
        ahead = self._ahead
        if ahead is None:
            ahead = self._ahead = asyncio.create_task(self._read_ahead())
            await asyncio.sleep(0)  # deltas already there come first: the end may be among them
            if ahead.done():
                return None
        return ahead

    async def _read_ahead(self) -> None:
        while self._keep_ahead and not self.ended:
            await self._pull()

    async def _pull(self) -> None:
        """Read one delta into the buffer, or learn that the stream is over."""
        self._pulling = True
        try:
            try:
                delta = await anext(self._deltas)
            except StopAsyncIteration:
                self.ended = True
                return
            except Exception as exc:
                if not self.ended:
                    self._failed(exc)
                return
            if delta:
                if self.first_chunk is None:
                    self.first_chunk = self._clock()
                self._chunks.append(delta)
        except asyncio.CancelledError:
            # stop() cancelled this read: the reply ends as it stands (the cancel is taken back).
            task = asyncio.current_task()
            if not self.ended or (task is not None and task.uncancel()):
                raise
        finally:
            self._pulling = False

    def _failed(self, exc: Exception) -> None:
        """Every failure becomes a notice, never a traceback (the upstream wrapper already
        completed what it could from the history)."""
        if self.ended:  # stopped meanwhile: the shutdown notice ends it
            return
        self.ended = True
        self.error = exc

    async def close(self) -> None:
        """Stop reading and close the upstream stream."""
        await cancel(self._ahead)
        await _close(self._deltas)


async def _close(deltas: AsyncIterator[str]) -> None:
    """Close an upstream stream (its HTTP response with it), whatever state it is in."""
    aclose = getattr(deltas, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
