"""One message on its way through the relay: what came in, what each step found, and how it
ended. The relay's steps read and fill this one value (core.relay)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.backends.base import Backend
from core.journal import JournalWriter
from core.model import Binding, Incoming, Meter
from core.records import State
from core.surface import Surface
from core.turns import Channel


class Outcome(StrEnum):
    """How the relay dealt with one message (for logs, metrics and tests)."""

    REPLIED = "replied"
    MERGED = "merged"
    DELETED = "deleted"
    STOPPED = "stopped"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    COOLDOWN = "cooldown"
    BUSY = "busy"
    REFUSED = "refused"
    OVER_ALLOWANCE = "over_allowance"
    STORE_DOWN = "store_down"
    SHUTTING_DOWN = "shutting_down"


@dataclass(slots=True, eq=False)
class Delivery:
    """One message on its way through the relay: what came in, and what each step found."""

    msg: Incoming
    surface: Surface
    channel: Channel
    journal: JournalWriter
    """Its record (the ticket is the record's owner), written at each change of state."""
    started: float
    """When it arrived (monotonic): the first visible text is timed from here."""
    recorded: asyncio.Event | None = None
    resumed: bool = False
    """Taken over from a dead process's journal: it never went upstream."""
    held: bool = False
    """The store gave it the channel's turn on admission."""
    binding: Binding | None = None
    cooldowns: dict[str, float] = field(default_factory=dict)
    backend: Backend | None = None
    backend_name: str = ""
    """The backend it is for (named even when none is configured by that name)."""
    sent: float = 0.0
    """When the prompt went upstream (monotonic)."""
    left: bool = False
    """Left in the journal for the next process (shutdown)."""
    refs: list[str] = field(default_factory=list)
    """The reply's platform messages as the journal last heard of them."""
    meters: tuple[Meter, ...] = ()
    """The allowances it counts against (:func:`core.allowances.limits_for`)."""
    charged: bool = False
    """Admission charged it to ``meters`` (given back when the upstream never took it)."""
    error: BaseException | None = None
    """How its reply failed, if it did."""

    merged: bool = False
    """Taken into an earlier message of its author while it waited (core.merge)."""
    deleted: bool = False
    """Deleted by its author while it waited (core.edits)."""

    def is_gone(self) -> bool:
        """Merged into an earlier message, or deleted, while it waited: it takes no turn."""
        return self.merged or self.deleted

    def messages_changed(self, handles: list[Any]) -> None:
        """The reply's messages changed (a new one, or a new handle): the journal records them,
        with what the open one shows."""
        refs = [self.surface.ref(h) for h in handles]
        if refs != self.refs:
            self.refs = refs
            shown = self.channel.showing_now()
            self.journal.later(State.STREAMING, handles=refs, shown=shown if shown.ref else None)

    def final_pending(self, text: str) -> None:
        """The platform refused the reply's final write, which is retried: the journal keeps
        the final text, so a restart still writes it."""
        self.journal.later(State.STREAMING, final=text)

    def rebound(self, binding: Binding) -> None:
        """The conversation was gone upstream and replaced: the prompt goes to ``binding``."""
        self.binding = binding
        record = self.journal.record
        self.journal.record = record.moved(record.state, remote=dict(binding.remote))
