"""Arrival order per chat: a front-end takes a place as an update arrives, before any await, and
the next update of that chat waits until this one is recorded (or dropped)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(slots=True)
class Place:
    """One update's place in its chat's line."""

    _line: ArrivalOrder
    _key: str
    _before: asyncio.Event | None
    recorded: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the update is recorded (pass it to ``Relay.handle``); frees the next place."""

    async def ready(self) -> None:
        """Wait until the update before this one in its chat was recorded or dropped."""
        if self._before is not None:
            await self._before.wait()

    def release(self) -> None:
        """Done with this update (always call it, e.g. in ``finally``)."""
        self.recorded.set()
        self._line.forget(self._key, self.recorded)


class ArrivalOrder:
    """Per-chat lines of updates; a chat without updates in flight costs nothing."""

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Event] = {}

    def enter(self, key: str, recorded: asyncio.Event | None = None) -> Place:
        """Take the next place in ``key``'s line (synchronous: call it before any await).

        ``recorded`` is the update's own event when the front-end already has one.
        """
        place = Place(self, key, self._tails.get(key), recorded or asyncio.Event())
        self._tails[key] = place.recorded
        return place

    def forget(self, key: str, recorded: asyncio.Event) -> None:
        """Drop the line once its last place is done."""
        if self._tails.get(key) is recorded:
            del self._tails[key]
