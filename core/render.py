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
from core.pacing import Pacing
from core.split import take_piece
from core.surface import Surface

log = logging.getLogger(__name__)

TYPING_EVERY = 4.0  # Telegram's indicator lasts ~5 s, Discord's ~10 s
FIRST_TYPING_WAIT = 1.0  # how long the POST waits to learn whether the chat takes writes at all
FINAL_RETRY_FOR = 60.0  # how long the final text is retried through a platform outage
FINAL_RETRY_MAX_GAP = 10.0


def ended_with(text: str, notice: str) -> str:
    """A reply's text ended by a notice (the notice alone when no text was shown)."""
    return f"{text.rstrip()}\n\n{notice}" if text.strip() else notice


@dataclass(slots=True)
class RenderResult:
    """What the user ended up seeing."""

    text: str
    error: BaseException | None
    messages: int
    writes: int
    floods: int
    first_chunk: float | None
    """Clock time the first text delta arrived from upstream, if any."""
    first_visible: float | None
    """Clock time of the first write that showed text, if any."""


class ReplyRenderer:
    """Streams one reply into one :class:`Surface`.

    A reader task drains the upstream deltas into a buffer. When the chat's write budget allows
    a write at once, the reader makes it itself (no task switch per chunk); otherwise this
    coroutine waits for the budget and writes the latest buffer, so slow writes coalesce instead
    of queueing. A write waiting for the budget when the stream ends becomes the final one at
    once (it may spend the reserve).
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
        complete: Callable[[Exception, str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._surface = surface
        self._pacing = pacing
        self._notice_for = notice_for
        self._clock = clock
        self._chunks: list[str] = []
        self._changed = asyncio.Event()
        self._ended = asyncio.Event()
        self._granted: str | None = None  # budget key of a write granted and not yet made
        self._busy = False  # a write is in flight or waiting for the budget
        self._flood_key: str | None = None  # the budget the latest write attempt spent
        self._reader: asyncio.Task[None] | None = None
        self._typing: asyncio.Task[None] | None = None
        self._done = False
        self._sealed = False  # the final text has been written
        self._abandoned = False  # the chat cannot be written to: the reply stops here
        self._stop_asked = False  # stop() was called: the reader ends after its write
        self._reader_writing = False  # the reader itself makes a write (never cancelled)
        self._error: BaseException | None = None
        # Text already sealed into earlier messages, and what the open message starts with.
        self._consumed = 0
        self._carry = ""
        self._handle: Any = None
        self._shown = ""
        self._messages = 0
        self._writes = 0
        self._floods = 0
        self._first_chunk: float | None = None
        self._first_visible: float | None = None
        # Messages an earlier process wrote for this reply (recovery): edited, not sent anew.
        self._adopted = list(adopted or [])
        self._handles: list[Any] = []
        self._on_messages = on_messages
        # Asked once when the stream fails: the rest of the reply from elsewhere, or None.
        self._complete = complete

    @property
    def open_message(self) -> tuple[Any, str]:
        """The handle of the message still growing (None between messages) and the text it
        shows (the journal snapshots it, so recovery can end it with a notice)."""
        return self._handle, self._shown

    def stop(self, reason: BaseException | None = None) -> None:
        """End the reply now: the text so far is kept and the notice for ``reason`` appended
        (by default the shutdown notice)."""
        reader = self._reader
        if (reader is None and reason is None) or (reader is not None and reader.done()):
            return  # not begun (a shutdown lets it run), or read whole: it ends as it is
        if self._error is None:
            self._error = reason or ShuttingDown()
        self._stop_asked = True
        # A write the reader makes is not cut off (a send cut off would lose its message):
        # the reader stops once it is done.
        if reader is not None and not self._reader_writing:
            reader.cancel()

    async def render(self, deltas: AsyncIterator[str]) -> RenderResult:
        """Show ``deltas`` as they come; end with the whole text (plus a notice on error).

        The first typing indicator goes out before ``deltas`` is read (that read is what sends
        the prompt upstream): a chat that refuses it gets no reply and costs no upstream call.
        """
        first_typing = asyncio.create_task(self._surface.typing())
        await asyncio.wait({first_typing}, timeout=FIRST_TYPING_WAIT)
        if first_typing.done() and not first_typing.cancelled():
            refused = first_typing.exception()
            if isinstance(refused, ChatUnwritable):
                aclose = getattr(deltas, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
                return self._result(refused)
        if self._error is not None:  # stopped before the stream was read: it never is
            deltas = _nothing()
        reader = self._reader = asyncio.create_task(self._read(deltas))
        typing = self._typing = asyncio.create_task(self._keep_typing(first_typing))
        try:
            while True:
                await self._changed.wait()
                self._changed.clear()
                if self._done or self._abandoned:
                    break
                self._busy = True
                try:
                    await self._flush(final=False)
                finally:
                    self._busy = False
            typing.cancel()
            if not self._sealed and not self._abandoned:
                await self._flush(final=True)
        finally:
            for task in (reader, typing):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        return self._result(self._error)

    def _result(self, error: BaseException | None) -> RenderResult:
        return RenderResult(
            text=self._full_text(),
            error=error,
            messages=self._messages,
            writes=self._writes,
            floods=self._floods,
            first_chunk=self._first_chunk,
            first_visible=self._first_visible,
        )

    async def _read(self, deltas: AsyncIterator[str]) -> None:
        try:
            async for delta in deltas:
                if delta:
                    if self._first_chunk is None:
                        self._first_chunk = self._clock()
                    self._chunks.append(delta)
                    if self._busy or not await self._write_now():
                        self._changed.set()
                    if self._abandoned or self._stop_asked:
                        break
        except asyncio.CancelledError:
            if self._error is None:
                self._error = ShuttingDown()
        except Exception as exc:  # every failure becomes a notice, never a traceback
            rest = None
            if self._complete is not None:
                with contextlib.suppress(Exception):
                    rest = await self._complete(exc, self._full_text())
            if rest is None:
                self._error = exc
            elif rest:
                self._chunks.append(rest)
        finally:
            aclose = getattr(deltas, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            self._done = True
            self._ended.set()
            self._changed.set()

    def _note_handle(self, index: int) -> None:
        """Tell the journal when the reply's messages change (a new one, or a new handle)."""
        if index < len(self._handles):
            if self._handles[index] is self._handle:
                return
            self._handles[index] = self._handle
        else:
            self._handles.append(self._handle)
        if self._on_messages is not None:
            self._on_messages(list(self._handles))

    async def _write_now(self) -> bool:
        """Show the latest text from the reader itself if the budget allows a write at once;
        False when the render loop must take over (a wait for the budget or a flood)."""
        key, budget = self._surface.budget_for(final=False)
        if self._granted != key:
            if await self._pacing.take(key, budget, final=False) > 0:
                return False
            self._granted = key
        self._busy = self._reader_writing = True
        try:
            await self._write_latest(final=False)
        except FloodControl as flood:
            self._granted = None
            await self._flooded(flood)
            return False
        except (ChatUnwritable, WriteUncertain) as exc:
            if isinstance(exc, WriteUncertain):
                log.warning("write to %s may have landed (%s); not repeated", key, exc)
            self._abandon(exc)
        except WriteFailed as exc:  # a partial write: the next one carries the text
            self._granted = None
            log.warning("write to %s failed (%s); the next one catches up", key, exc)
        except Exception:  # a surface that did not say why
            self._granted = None
            log.exception("write to %s failed", key)
        finally:
            self._busy = self._reader_writing = False
        return True

    async def _flooded(self, flood: FloodControl) -> None:
        self._floods += 1
        key = self._flood_key or self._surface.pace_key
        await self._pacing.flooded(key, flood.retry_after)
        log.info("flood control in %s: waiting %.1fs", key, flood.retry_after)

    async def _keep_typing(self, first: asyncio.Task[None]) -> None:
        with contextlib.suppress(Exception):
            await first  # a late refusal shows again at the first write, which stops the reply
        while self._first_visible is None:
            await asyncio.sleep(TYPING_EVERY)
            with contextlib.suppress(Exception):
                await self._surface.typing()

    def _abandon(self, error: BaseException) -> None:
        """Stop the reply: nothing more can be shown (the upstream stream is closed too)."""
        self._abandoned = True
        if self._error is None:
            self._error = error
        # From the reader itself (a write it made), the reader stops on its own.
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()

    def _full_text(self) -> str:
        if len(self._chunks) > 1:
            self._chunks[:] = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    def _final_text(self) -> str:
        text = self._full_text()
        if self._error is None:
            return text if text.strip() else self._notice_for(EmptyReply())
        return ended_with(text, self._notice_for(self._error))

    async def _flush(self, *, final: bool) -> None:
        """Bring the chat up to date with the buffer: seal full messages, then show the rest.

        A partial write that fails is left to the next one; the final text is retried with
        backoff for up to ``FINAL_RETRY_FOR`` seconds, since nothing comes after it.
        """
        give_up_at: float | None = None
        gap = 1.0
        while True:
            key = self._surface.pace_key
            try:
                final = await self._grant(final)
                await self._write_latest(final=final)
                return
            except FloodControl as flood:
                self._granted = None
                await self._flooded(flood)
            except ChatUnwritable as exc:
                self._abandon(exc)  # the relay logs the one line
                return
            except WriteUncertain as exc:
                log.warning("write to %s may have landed (%s); not repeated", key, exc)
                self._abandon(exc)
                return
            except WriteFailed as exc:
                self._granted = None
                if not final:
                    log.warning("write to %s failed (%s); the next one catches up", key, exc)
                    return
                now = self._clock()
                give_up_at = give_up_at if give_up_at is not None else now + FINAL_RETRY_FOR
                if now >= give_up_at:
                    log.error("final write to %s kept failing (%s); given up", key, exc)
                    self._abandon(exc)
                    return
                log.warning("final write to %s failed (%s); retrying in %.0fs", key, exc, gap)
                await asyncio.sleep(gap)
                gap = min(gap * 2, FINAL_RETRY_MAX_GAP)
            except Exception:
                self._granted = None
                log.exception("write to %s failed", key)  # a surface that did not say why
                if final:
                    raise
                return

    async def _grant(self, final: bool) -> bool:
        """Wait until the chat's budget allows a write and claim it. A streaming write that
        waits while the stream ends becomes the final write: the answer tells which it is."""
        while True:
            final = final or self._done
            key, budget = self._surface.budget_for(final=final)
            if self._granted == key:
                return final
            wait = await self._pacing.take(key, budget, final=final)
            if wait <= 0:
                self._granted = key
                return final
            if final:
                await self._pacing.sleep(wait)
                continue
            sleeper = asyncio.ensure_future(self._pacing.sleep(wait))
            ended = asyncio.ensure_future(self._ended.wait())
            try:
                await asyncio.wait((sleeper, ended), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                ended.cancel()

    async def _write_latest(self, *, final: bool) -> None:
        surface = self._surface
        # The stream may have ended while this write waited for its turn: then it is the final
        # write, and the reply needs no further one (saving a whole pacing interval).
        final = final or self._done
        source = self._final_text() if final else self._full_text()
        while True:
            open_text = self._carry + source[self._consumed :]
            piece = take_piece(open_text, surface.max_length, surface.measure)
            if piece.consumed >= len(open_text):
                break
            # The open message is full: seal it with its final text and start the next one.
            await self._write(piece.text, final=True)
            self._consumed += piece.consumed - len(self._carry)
            self._carry = piece.carry
            rest = source[self._consumed :]
            self._consumed += len(rest) - len(rest.lstrip("\n"))
            self._handle, self._shown = None, ""
        if open_text.strip() and (open_text != self._shown or final):
            await self._write(open_text, final=final)
        self._sealed = final

    async def _write(self, text: str, *, final: bool) -> None:
        index = self._messages - (self._handle is not None)
        # Each write spends the budget once: the first of a flush was granted before it.
        if self._granted != self._surface.budget_for(final=final)[0]:
            await self._grant(final)
        self._flood_key, self._granted = self._granted, None
        if self._handle is None:
            adopted = self._adopted[index] if index < len(self._adopted) else None
            if adopted is not None:
                handle = await self._surface.edit(adopted, text, final=final)
            else:
                handle = await self._surface.send(text, final=final)
            self._messages += 1
        else:
            handle = await self._surface.edit(self._handle, text, final=final)
        self._handle = handle if handle is not None else self._handle
        self._shown = text
        self._note_handle(index)
        self._writes += 1
        if self._first_visible is None:
            self._first_visible = self._clock()
            if self._typing is not None:
                self._typing.cancel()


async def _nothing() -> AsyncIterator[str]:
    """A stream with no text (a reply stopped before it began)."""
    nothing: tuple[str, ...] = ()
    for text in nothing:
        yield text
