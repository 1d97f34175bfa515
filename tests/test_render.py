"""The renderer: live growth, pacing, splitting, flood control, errors — with a virtual clock."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator

from core import notices
from core.budget import Budget
from core.errors import Interrupted, QuotaExceeded, Unavailable
from core.pacing import PacingBoard
from core.render import ReplyRenderer
from tests.fakes.surface import MemorySurface

ONE_A_SECOND = Budget(2, 1.0)


class VirtualClock:
    """Time that only moves when someone sleeps; a virtual second lets the loop turn 10 times,
    so a producer that yields once per turn streams about 10 chunks per virtual second."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        for _ in range(max(1, round(seconds * 10))):
            self.now += seconds / max(1, round(seconds * 10))
            await asyncio.sleep(0)


async def chunks(
    parts: list[str],
    *,
    error: Exception | None = None,
    tick: float = 0.0,
    clock: VirtualClock | None = None,
) -> AsyncIterator[str]:
    for part in parts:
        if clock is not None:
            clock.now += tick
        await asyncio.sleep(0)
        yield part
    if error is not None:
        raise error


def renderer(
    surface: MemorySurface,
    clock: VirtualClock,
    board: PacingBoard | None = None,
    budget: Budget = ONE_A_SECOND,
) -> ReplyRenderer:
    """A renderer on a virtual clock; by default the chat allows one streaming write a second
    (two per second, one kept in reserve for the final text)."""
    board = PacingBoard(clock=clock, sleep=clock.sleep) if board is None else board
    surface.write_budget = budget
    return ReplyRenderer(surface, board, notice_for=notices.for_error, clock=clock)


async def test_reply_grows_in_place_and_ends_with_the_exact_text() -> None:
    clock, surface = VirtualClock(), MemorySurface()
    parts = [f"token{i} " for i in range(50)]
    result = await renderer(surface, clock).render(chunks(parts, tick=0.3, clock=clock))
    assert surface.messages == ["".join(parts)]
    assert result.text == "".join(parts) and result.error is None
    writes = [w for w in surface.writes if w.op != "typing"]
    assert writes[0].op == "send" and writes[0].text == "token0 "
    assert all(w.op == "edit" for w in writes[1:])
    assert writes[-1].final and not any(w.final for w in writes[:-1])
    # 50 chunks over ~5 virtual seconds at one write per second: coalesced, not one per chunk.
    assert 3 <= len(writes) < 15


async def test_first_chunk_is_shown_without_waiting_and_the_final_spends_the_reserve() -> None:
    clock, surface = VirtualClock(), MemorySurface()
    await renderer(surface, clock, budget=Budget(2, 5.0)).render(chunks(["Hi", " there"]))
    writes = [w for w in surface.writes if w.op != "typing"]
    assert [(w.text, w.final) for w in writes] == [("Hi", False), ("Hi there", True)]
    assert clock.slept == []  # the second write was the final one: no wait for the spacing


async def test_a_write_waiting_for_the_budget_becomes_the_final_one_when_the_stream_ends() -> None:
    clock, surface = VirtualClock(), MemorySurface()
    parts = ["a", "b", "c"]
    # One chunk per 0.1 virtual s; the spacing is 10 s: the wait for it ends with the stream.
    await renderer(surface, clock, budget=Budget(2, 10.0)).render(
        chunks(parts, tick=0.1, clock=clock)
    )
    writes = [w for w in surface.writes if w.op != "typing"]
    assert [(w.text, w.final) for w in writes] == [("a", False), ("abc", True)]
    assert clock.now < 1000.0 + 5.0  # nobody sat out the spacing


async def test_typing_shows_before_the_first_text() -> None:
    clock, surface = VirtualClock(), MemorySurface()
    await renderer(surface, clock).render(chunks(["a", "b"]))
    assert surface.writes[0].op == "typing"


async def test_text_over_the_limit_continues_in_new_messages() -> None:
    clock, surface = VirtualClock(), MemorySurface(max_length=100)
    text = " ".join(f"w{i}" for i in range(400))
    parts = [text[i : i + 7] for i in range(0, len(text), 7)]
    await renderer(surface, clock).render(chunks(parts, tick=0.1, clock=clock))
    assert len(surface.messages) > 10
    assert all(len(m) <= 100 for m in surface.messages)
    assert " ".join(surface.messages).split() == text.split()


async def test_flood_control_is_honoured_exactly_and_nothing_is_lost() -> None:
    clock = VirtualClock()

    attempts: list[float] = []

    class Timed(MemorySurface):
        """Notes the virtual time of every write attempt."""

        def _maybe_flood(self) -> None:
            attempts.append(clock.now)
            super()._maybe_flood()

    surface = Timed(floods=[7.5])  # the very first write is refused
    parts = [f"p{i} " for i in range(40)]
    board = PacingBoard(clock=clock, sleep=clock.sleep)
    result = await renderer(surface, clock, board).render(chunks(parts, tick=0.2, clock=clock))
    refused, retried = attempts[:2]
    assert board.state(surface.pace_key).blocked_until == refused + 7.5
    assert retried >= refused + 7.5
    assert surface.messages == ["".join(parts)]
    assert result.floods == 1


async def test_a_flood_in_one_chat_does_not_slow_another() -> None:
    clock = VirtualClock()
    board = PacingBoard(clock=clock, sleep=clock.sleep)
    await board.flooded("a", 30.0)
    flooded, other = MemorySurface(key="a"), MemorySurface(key="b")
    await renderer(other, clock, board).render(chunks(["x", "y"]))
    assert other.messages == ["xy"] and clock.slept == []
    assert await board.take("a", Budget(2, 1.0), final=True) == 30.0
    assert flooded.writes == []


async def test_error_after_partial_text_keeps_it_and_appends_a_notice() -> None:
    clock, surface = VirtualClock(), MemorySurface()
    result = await renderer(surface, clock).render(
        chunks(["The answer ", "is"], error=Interrupted("gone"))
    )
    assert surface.messages == ["The answer is\n\n" + notices.interrupted()]
    assert isinstance(result.error, Interrupted)


async def test_error_before_any_text_is_just_the_notice() -> None:
    clock, surface = VirtualClock(), MemorySurface()
    await renderer(surface, clock).render(chunks([], error=Unavailable("down")))
    assert surface.messages == [notices.unavailable()]
    quota = MemorySurface()
    await renderer(quota, clock).render(chunks([], error=QuotaExceeded("q")))
    assert quota.messages == [notices.quota(None)]


async def test_an_empty_reply_says_so() -> None:
    clock, surface = VirtualClock(), MemorySurface()
    await renderer(surface, clock).render(chunks([]))
    assert surface.messages == [notices.empty_reply()]


async def test_stop_ends_the_reply_with_the_shutdown_notice() -> None:
    clock, surface = VirtualClock(), MemorySurface()
    reply = renderer(surface, clock)

    async def endless() -> AsyncIterator[str]:
        yield "partial"
        reply.stop()
        await asyncio.Event().wait()
        yield "never"

    await reply.render(endless())
    assert surface.messages == ["partial\n\n" + notices.shutting_down()]


async def test_a_failing_write_mid_stream_does_not_lose_the_final_text() -> None:
    clock, surface = VirtualClock(), MemorySurface()

    class Flaky(MemorySurface):
        calls = 0

        async def edit(self, handle: int, text: str, *, final: bool) -> int:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("platform hiccup")
            return await super().edit(handle, text, final=final)

    surface = Flaky()
    await renderer(surface, clock).render(chunks(["a", "b", "c", "d"], tick=2, clock=clock))
    assert surface.messages == ["abcd"]


async def test_stop_lets_a_write_in_flight_land_and_ends_after_it() -> None:
    clock = VirtualClock()
    sending, landing = asyncio.Event(), asyncio.Event()

    class Slow(MemorySurface):
        """Its first write waits until the test lets it land."""

        async def send(self, text: str, *, final: bool) -> int:
            if not self.messages:
                sending.set()
                await landing.wait()
            return await super().send(text, final=final)

    surface = Slow()
    reply = renderer(surface, clock)

    async def endless() -> AsyncIterator[str]:
        yield "partial"
        await asyncio.Event().wait()
        yield "never"

    rendering = asyncio.create_task(reply.render(endless()))
    await sending.wait()
    reply.stop()  # the send of "partial" is in flight: it is not cut off
    landing.set()
    result = await rendering
    assert [(w.op, w.text) for w in surface.writes if w.op != "typing"] == [
        ("send", "partial"),
        ("edit", "partial\n\n" + notices.shutting_down()),
    ]
    assert result.messages == 1


async def test_the_journal_sees_each_new_message_with_its_text() -> None:
    clock, surface = VirtualClock(), MemorySurface(max_length=20)
    seen: list[tuple[list[int], str]] = []

    def on_messages(handles: list[int]) -> None:
        seen.append((handles, reply.open_message[1]))

    surface.write_budget = ONE_A_SECOND
    board = PacingBoard(clock=clock, sleep=clock.sleep)
    reply = ReplyRenderer(
        surface, board, notice_for=notices.for_error, clock=clock, on_messages=on_messages
    )
    # The first chunk already overflows a message: it is sealed by the write that creates it.
    await reply.render(chunks(["first message here. second one"]))
    assert surface.messages == ["first message here.", "second one"]
    assert seen == [([0], "first message here."), ([0, 1], "second one")]


async def test_a_message_sealed_mid_stream_spends_the_budget_of_whole_messages() -> None:
    clock = VirtualClock()

    class Drafts(MemorySurface):
        """Partial text goes to drafts, which have a budget of their own (as on Telegram)."""

        def budget_for(self, *, final: bool) -> tuple[str, Budget]:
            return (self.pace_key, self.write_budget) if final else ("drafts", Budget(100, 1.0))

    surface = Drafts(max_length=20)
    board = PacingBoard(clock=clock, sleep=clock.sleep)
    await renderer(surface, clock, board, budget=Budget(5, 1.0)).render(
        chunks(["first message here. ", "second"], tick=0.01, clock=clock)
    )
    assert surface.messages == ["first message here.", "second"]
    # The first text was a draft; the seal and the final write are whole messages.
    assert len(board.state("drafts").log) == 1
    assert len(board.state(surface.pace_key).log) == 2


async def test_a_finished_reply_is_freed_without_the_garbage_collector() -> None:
    """A reply's objects go by reference counting as it ends: the typing task, cancelled at the
    first write, once held its renderer in a cycle that only the collector could free (at a
    thousand replies, a third of the relay's CPU went to collecting)."""
    clock, surface = VirtualClock(), MemorySurface()
    gc.disable()
    try:
        reply = renderer(surface, clock)
        result = await reply.render(chunks(["one ", "two ", "three."], tick=0.3, clock=clock))
        freed = weakref.ref(reply)
        del reply
        assert freed() is None
    finally:
        gc.enable()
    assert result.text == "one two three." and surface.messages == ["one two three."]
