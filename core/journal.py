"""The reply journal: one record per admitted message, so a crash never loses or strands it.

A record moves received → sent (the POST may have gone out) → streaming (platform messages
exist) → done, and is written only at those changes, never per chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from core.retry import retry_store

if TYPE_CHECKING:
    from core.store.base import Store

log = logging.getLogger(__name__)

JOURNAL_TTL = 86400.0  # a record outlives any reply, and expires after a day


class State(StrEnum):
    """Where one message stands."""

    RECEIVED = "received"
    SENT = "sent"
    STREAMING = "streaming"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One admitted message: what is needed to answer it again, and what was shown so far.

    ``owner`` is the turn ticket (``<process>|<message id>``) of the process answering it;
    ``target`` and ``handles`` are opaque strings its Surface gave.
    """

    channel: str
    message_id: str
    owner: str
    platform: str
    author: str
    text: str
    state: State = State.RECEIVED
    author_name: str = ""
    target: dict[str, str] = field(default_factory=dict)
    handles: list[str] = field(default_factory=list)
    backend: str = ""
    remote: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """The stored form (built by hand: ``dataclasses.asdict`` deep-copies, and this runs
        on every message's hot path)."""
        return json.dumps(
            {
                "channel": self.channel,
                "message_id": self.message_id,
                "owner": self.owner,
                "platform": self.platform,
                "author": self.author,
                "text": self.text,
                "state": self.state.value,
                "author_name": self.author_name,
                "target": self.target,
                "handles": self.handles,
                "backend": self.backend,
                "remote": self.remote,
                "created": self.created,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> JournalRecord:
        """Inverse of :meth:`to_json`."""
        data = json.loads(raw)
        data["state"] = State(data["state"])
        return cls(**data)

    def moved(self, state: State, **changes: object) -> JournalRecord:
        """This record in a new state."""
        return replace(self, state=state, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Shown:
    """The text a reply's open (last) message showed when last recorded, and that message's
    handle (a :meth:`core.surface.Surface.ref` string): enough to end it with a notice after
    a crash, since a platform cannot read its messages back."""

    ref: str
    text: str

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps([self.ref, self.text], separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Shown:
        """Inverse of :meth:`to_json`."""
        ref, text = json.loads(raw)
        return cls(ref=str(ref), text=str(text))


def ticket_of(owner: str, message_id: str) -> str:
    """A turn ticket: which process queued which message."""
    return f"{owner}|{message_id}"


def process_of(ticket: str) -> str:
    """The process part of a ticket."""
    return ticket.split("|", 1)[0]


def message_of(ticket: str) -> str:
    """The message part of a ticket."""
    return ticket.split("|", 1)[-1]


async def write_with_retry(store: Store, record: JournalRecord, shown: Shown | None = None) -> bool:
    """Write a record (and what its open message shows); a brief outage is retried, a longer
    one costs one log line, never an error."""
    if await retry_store(functools.partial(store.journal_put, record, shown)):
        return True
    log.warning(
        "journal write dropped (store unreachable): %s %s",
        record.state.value,
        record.message_id,
        extra={"channel": record.channel},
    )
    return False


class JournalWriter:
    """Writes one message's state changes in order, off the reply's path: the reply never waits
    for the store, and a store outage only drops a record with a log line."""

    def __init__(self, store: Store, record: JournalRecord) -> None:
        self._store = store
        self.record = record
        self._pending: tuple[JournalRecord, Shown | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.posted = False
        """True once the prompt may have gone upstream."""

    def later(self, state: State, *, shown: Shown | None = None, **changes: object) -> None:
        """Record a state change (with what the open message shows) in the background; only
        the newest pending one is written."""
        self.record = self.record.moved(state, **changes)
        self._pending = (self.record, shown)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending is not None:
            (record, shown), self._pending = self._pending, None
            await write_with_retry(self._store, record, shown)

    async def flush(self) -> None:
        """Wait for the background writes."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
