"""The reply journal's records: what the store keeps per admitted message, and turn tickets.

The store and the journal both speak in these, so they live below both.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum

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
    final: str = ""
    """The reply's whole final text while the platform refuses its final write: a restart
    writes it (recovery), with no need to look the reply up upstream."""
    stopped: bool = False
    """The asker (or an admin) stopped the reply: it is final as shown, never completed."""

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
                "final": self.final,
                "stopped": self.stopped,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> JournalRecord:
        """Inverse of :meth:`to_json`."""
        data = json.loads(raw)
        data["state"] = State(data["state"])
        # A field a newer version added is ignored, so versions can run side by side.
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})

    def moved(self, state: State, **changes: object) -> JournalRecord:
        """This record in a new state."""
        return replace(self, state=state, **changes)  # type: ignore[arg-type]


_FIELDS = frozenset(JournalRecord.__dataclass_fields__)


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
