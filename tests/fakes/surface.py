"""An in-memory Surface that records every write, for core tests and benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.budget import Budget
from core.errors import FloodControl
from core.surface import Surface


@dataclass
class Write:
    """One write as the platform would have received it."""

    op: str  # "send" | "edit" | "typing"
    message: int
    text: str
    final: bool
    at: float


@dataclass
class MemorySurface(Surface):
    """A chat held in memory: messages by index, every write logged, floods on demand."""

    key: str = "mem:1"
    max_length: int = 2000
    write_budget: Budget = field(default_factory=lambda: Budget(1000, 1.0))
    floods: list[float] = field(default_factory=list)
    """Retry-after values to answer the next writes with, one per write."""
    floods_scoped: bool = True
    """The floods say they are the chat's (Discord); False: they do not say (Telegram)."""
    messages: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    adoptable: bool = False
    """Name messages by index for the journal, and edit them by that name, as the platforms do."""

    @property
    def pace_key(self) -> str:
        return self.key

    async def typing(self) -> None:
        self.writes.append(Write("typing", -1, "", False, time.monotonic()))

    def _maybe_flood(self) -> None:
        if self.floods:
            raise FloodControl(self.floods.pop(0), scoped=self.floods_scoped)

    async def send(self, text: str, *, final: bool) -> int:
        self._maybe_flood()
        assert len(text) <= self.max_length, "surface limit exceeded"
        assert text.strip(), "empty message"
        self.messages.append(text)
        self.writes.append(Write("send", len(self.messages) - 1, text, final, time.monotonic()))
        return len(self.messages) - 1

    async def edit(self, handle: int, text: str, *, final: bool) -> int:
        self._maybe_flood()
        assert len(text) <= self.max_length, "surface limit exceeded"
        self.messages[handle] = text
        self.writes.append(Write("edit", handle, text, final, time.monotonic()))
        return handle

    async def notice(self, text: str) -> None:
        self.notices.append(text)
        await self.send(text, final=True)

    def ref(self, handle: object) -> str:
        return str(handle) if self.adoptable and isinstance(handle, int) else ""

    def adopt(self, ref: str) -> int | None:
        return int(ref) if self.adoptable and ref.isdigit() else None

    @property
    def shown(self) -> str:
        """Everything the chat shows, messages joined by newlines."""
        return "\n".join(self.messages)
