"""A person's queued messages merged: messages one person sent in one channel while a reply was
streaming go upstream as one message, joined by blank lines in order, and get one reply.

Only this process's queue is merged (the common case: one process receives a chat's messages).
A message queued in another process keeps its own turn. The merge takes the run of the same
person's messages right behind the one whose turn came, so nobody's message is overtaken, and
stops at the backend's input limit: what does not fit gets its own turn next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Protocol

from core.config import RelaySettings
from core.journal import JournalWriter
from core.live import Current, current
from core.model import Incoming
from core.records import State

log = logging.getLogger(__name__)

JOIN = "\n\n"
WINDOW_CAP = 3  # the merge window restarts with each new message, up to this many windows


class Queued(Protocol):
    """A message on its way through the relay, as the merge sees it."""

    msg: Incoming
    journal: JournalWriter
    started: float
    merged: bool
    deleted: bool

    def is_gone(self) -> bool:
        """Merged into an earlier message, or deleted, while it waited."""
        ...


@dataclass(slots=True, eq=False)
class _Entry:
    one: Queued


def merged_text(texts: list[str], limit: int | None) -> tuple[str, int]:
    """The first texts joined by blank lines while the whole stays within ``limit``
    characters: the text, and how many were taken (at least the first)."""
    text, taken = texts[0], 1
    for more in texts[1:]:
        joined = f"{text}{JOIN}{more}"
        if limit is not None and len(joined) > limit:
            break
        text, taken = joined, taken + 1
    return text, taken


def run_behind(queue: list[Queued], one: Queued) -> list[Queued]:
    """The messages of ``one``'s author right behind it in the queue (up to another person's)."""
    at = queue.index(one)
    run: list[Queued] = []
    for other in queue[at + 1 :]:
        if other.is_gone():
            continue
        if other.msg.author != one.msg.author:
            break
        run.append(other)
    return run


class Merges:
    """The messages waiting for their turn in this process, per channel, in arrival order."""

    def __init__(self, settings: RelaySettings | Current[RelaySettings]) -> None:
        self._settings = current(settings)
        self._queues: dict[str, list[Queued]] = {}

    def enter(self, one: Queued) -> None:
        """``one`` was admitted and waits for its turn (or holds it) from now on."""
        self._queues.setdefault(one.msg.channel, []).append(one)

    def leave(self, one: Queued) -> None:
        """``one`` is done (answered, merged, refused); a no-op if it never entered."""
        queue = self._queues.get(one.msg.channel, [])
        if one in queue:
            queue.remove(one)
        if not queue:
            self._queues.pop(one.msg.channel, None)

    def find(self, message_id: str) -> Queued | None:
        """The message with this id if it is handled here (waiting, or holding its turn)."""
        for queue in self._queues.values():
            for one in queue:
                if one.msg.message_id == message_id:
                    return one
        return None

    async def gather(self, one: Queued, *, idle: bool, limit: int | None) -> int:
        """``one`` takes its turn: with the merge window (to an ``idle`` channel) wait for the
        same person's next messages, then take the ones queued right behind it into its text.
        The merged ones are settled in the journal at once (never recovered); how many."""
        settings = self._settings()
        if not settings.merge_queued:
            return 0
        if idle and settings.merge_window > 0:
            await self._window(one, settings.merge_window)
        queue = self._queues.get(one.msg.channel, [])
        run = run_behind(queue, one) if one in queue else []
        if not run:
            return 0
        text, taken = merged_text([one.msg.text, *(o.msg.text for o in run)], limit)
        claimed = run[: taken - 1]
        if not claimed:
            return 0
        for other in claimed:
            other.merged = True
            other.journal.later(State.DONE)
        one.msg = replace(one.msg, text=text)
        one.journal.later(one.journal.record.state, text=text)
        log.info("%d queued messages merged into one", len(claimed) + 1)
        return len(claimed)

    async def _window(self, one: Queued, window: float) -> None:
        """Wait until the author sent nothing for ``window`` seconds (at most three windows)."""
        give_up = time.monotonic() + WINDOW_CAP * window
        while True:
            queue = self._queues.get(one.msg.channel, [])
            run = run_behind(queue, one) if one in queue else []
            last = max([one.started, *(o.started for o in run)])
            until = min(last + window, give_up)
            left = until - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(left)
