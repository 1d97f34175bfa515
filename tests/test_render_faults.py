"""The renderer under failing platform writes: what is retried, what never is, and a chat that
refuses the bot before anything goes upstream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from core import notices
from core.errors import ChatUnwritable, WriteFailed, WriteUncertain
from core.pacing import PacingBoard
from core.render import ReplyRenderer
from tests.fakes.surface import MemorySurface


@dataclass
class FaultySurface(MemorySurface):
    """A memory chat whose next writes (and typing) raise the given errors, in order."""

    failures: list[Exception] = field(default_factory=list)
    typing_error: Exception | None = None
    attempts: list[tuple[str, bool]] = field(default_factory=list)

    async def typing(self) -> None:
        if self.typing_error is not None:
            raise self.typing_error
        await super().typing()

    def _fail(self, op: str, final: bool) -> None:
        self.attempts.append((op, final))
        if self.failures:
            raise self.failures.pop(0)

    async def send(self, text: str, *, final: bool) -> int:
        self._fail("send", final)
        return await super().send(text, final=final)

    async def edit(self, handle: int, text: str, *, final: bool) -> int:
        self._fail("edit", final)
        return await super().edit(handle, text, final=final)


class Upstream:
    """The reply's deltas; ``started`` tells whether anyone read them (the POST)."""

    def __init__(self, parts: list[str], *, gap: float = 0.0) -> None:
        self.parts = parts
        self.gap = gap
        self.started = False

    async def __call__(self) -> AsyncIterator[str]:
        self.started = True
        for part in self.parts:
            await asyncio.sleep(self.gap)
            yield part


def renderer(
    surface: MemorySurface, clock: Callable[[], float] = time.monotonic, **options: Any
) -> ReplyRenderer:
    return ReplyRenderer(
        surface, PacingBoard(), notice_for=notices.for_error, clock=clock, **options
    )


async def test_a_chat_that_refuses_typing_gets_nothing_and_nothing_goes_upstream() -> None:
    surface = FaultySurface(typing_error=ChatUnwritable("blocked"))
    upstream = Upstream(["never ", "read"])
    result = await renderer(surface).render(upstream())
    assert not upstream.started
    assert isinstance(result.error, ChatUnwritable)
    assert surface.attempts == [] and surface.messages == []


async def test_a_refused_first_write_stops_the_reply() -> None:
    surface = FaultySurface(failures=[ChatUnwritable("no permission")])
    upstream = Upstream([f"part{i} " for i in range(20)], gap=0.01)
    result = await renderer(surface).render(upstream())
    assert isinstance(result.error, ChatUnwritable)
    assert len(surface.attempts) == 1 and surface.messages == []


async def test_the_final_text_outlasts_a_burst_of_failures() -> None:
    surface = FaultySurface(failures=[WriteFailed("502")] * 3)
    upstream = Upstream(["the whole ", "reply"])
    result = await renderer(surface).render(upstream())
    assert result.error is None
    assert surface.messages == ["the whole reply"]
    assert len(surface.attempts) == 4


async def test_the_final_text_is_given_up_after_the_retry_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Jumping:
        """Forty seconds pass between two looks at the clock."""

        def __init__(self) -> None:
            self.now = 0.0

        def __call__(self) -> float:
            self.now += 40.0
            return self.now

    surface = FaultySurface(failures=[WriteFailed("502")] * 100)
    pending: list[str] = []
    with caplog.at_level(logging.WARNING):
        faulty = renderer(surface, Jumping(), final_retry_for=60.0, on_final_pending=pending.append)
        result = await faulty.render(Upstream(["lost"])())
    assert isinstance(result.error, WriteFailed)
    assert surface.messages == []
    assert len(surface.attempts) < 10  # given up, not hammering
    assert "given up" in caplog.text and "Traceback" not in caplog.text
    assert pending == ["lost"]  # told once, with the whole final text, when its first try failed


async def test_a_send_that_may_have_landed_is_never_repeated() -> None:
    surface = FaultySurface(failures=[WriteUncertain("ReadTimeout")])
    result = await renderer(surface).render(Upstream(["only ", "once"])())
    assert isinstance(result.error, WriteUncertain)
    assert [op for op, _ in surface.attempts] == ["send"]


async def test_a_partial_write_that_fails_is_caught_up_by_the_next() -> None:
    surface = FaultySurface(failures=[WriteFailed("502")])
    upstream = Upstream([f"part{i} " for i in range(10)], gap=0.01)
    result = await renderer(surface).render(upstream())
    assert result.error is None
    assert surface.messages == ["".join(f"part{i} " for i in range(10))]
    assert len(surface.attempts) > 2  # the failed one, and later ones that caught up
