"""Write budgets with an injected clock: the window, the spacing, the reserve, what the platform
says, and the shared form that several processes spend together (Redis and SQLite)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.budget import MARGIN, Budget
from core.errors import StoreUnavailable
from core.gate import edit_place
from core.notify import Notifier
from core.pacing import (
    BOT_FLOOD_MAX,
    GUARD_LIMIT,
    GUARD_WINDOW,
    SHED_WAIT,
    TICK,
    PaceState,
    Pacing,
    PacingBoard,
    Priority,
    StoredPacing,
    Turn,
    bot_flood,
    bot_key,
    flooded,
    lease,
    observe,
    refused,
    take,
)
from core.render import ReplyRenderer
from core.store import RedisStore, SqliteStore
from core.store.base import Store
from tests.fakes.surface import MemorySurface

DISCORD = Budget(5, 5.0)  # 5 writes per 5 s, one kept back while streaming


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def stream(state: PaceState, budget: Budget, clock: Clock, writes: int) -> list[float]:
    """Make ``writes`` streaming writes as soon as each is allowed; the times they went."""
    times = []
    for _ in range(writes):
        wait = take(state, budget, clock.now, final=False)
        if wait > 0:
            clock.now += wait
            assert take(state, budget, clock.now, final=False) == 0.0
        times.append(clock.now)
    return times


def test_budget_parses_the_config_form() -> None:
    assert Budget.parse("5/5s") == Budget(5, 5.0, 1)
    assert Budget.parse(" 20 / 60 ") == Budget(20, 60.0, 1)
    assert Budget.parse("10/1s", reserve=0) == Budget(10, 1.0, 0)
    assert Budget.parse("1/1s") == Budget(1, 1.0, 0)  # no room for a reserve
    for bad in ("", "5", "5/0s", "0/5s", "five/5s"):
        with pytest.raises(ValueError):
            Budget.parse(bad)


def test_streaming_writes_are_spread_evenly_and_keep_one_in_reserve() -> None:
    clock, state = Clock(), PaceState()
    times = stream(state, DISCORD, clock, 9)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([DISCORD.spacing] * 8)
    assert DISCORD.spacing == pytest.approx(1.2625)  # 4 writes per 5.05 s while streaming
    # Never more than writes - reserve streaming writes in any window.
    for t in times:
        assert sum(t <= u < t + DISCORD.window for u in times) <= DISCORD.writes - 1


def test_the_final_write_goes_at_once_on_the_reserve() -> None:
    clock, state = Clock(), PaceState()
    stream(state, DISCORD, clock, 4)
    clock.now += 0.01
    assert take(state, DISCORD, clock.now, final=False) > 0  # streaming must wait...
    assert take(state, DISCORD, clock.now, final=True) == 0.0  # ...the final does not
    # Now the window is full: even a final write waits for the oldest write to leave it.
    wait = take(state, DISCORD, clock.now, final=True)
    assert wait == pytest.approx(state.log[0] + DISCORD.window + MARGIN - clock.now)


def test_a_burst_is_bounded_by_the_window() -> None:
    clock, state = Clock(), PaceState()
    for _ in range(5):
        assert take(state, DISCORD, clock.now, final=True) == 0.0
    assert take(state, DISCORD, clock.now, final=True) == pytest.approx(DISCORD.window + MARGIN)
    clock.now += DISCORD.window + MARGIN
    assert take(state, DISCORD, clock.now, final=True) == 0.0


def test_the_platforms_remaining_count_gates_writes_until_its_reset() -> None:
    clock, state = Clock(), PaceState()
    assert take(state, DISCORD, clock.now, final=False) == 0.0
    # Another process (or a write we do not know of) left one write in Discord's window.
    observe(state, clock.now, remaining=1, reset_after=3.0)
    clock.now += DISCORD.spacing
    assert take(state, DISCORD, clock.now, final=False) == pytest.approx(3.0 - DISCORD.spacing)
    assert take(state, DISCORD, clock.now, final=True) == 0.0  # the last one is the reserve
    assert state.remaining == 0
    assert take(state, DISCORD, clock.now, final=True) == pytest.approx(3.0 - DISCORD.spacing)
    clock.now += 3.0  # the window reset: the count no longer binds
    assert take(state, DISCORD, clock.now, final=True) == 0.0


def test_a_flood_wait_is_honoured_exactly_then_the_chat_writes_less_often() -> None:
    clock, state = Clock(), PaceState()
    assert take(state, DISCORD, clock.now, final=False) == 0.0
    flooded(state, clock.now, 7.5)
    assert take(state, DISCORD, clock.now, final=True) == 7.5
    clock.now += 7.5
    assert take(state, DISCORD, clock.now, final=False) == 0.0
    slowed = stream(state, DISCORD, clock, 2)
    assert slowed[1] - slowed[0] > DISCORD.spacing  # slower after the flood...
    stream(state, DISCORD, clock, 40)
    assert state.slow == 1.0  # ...and back to the budget after clean writes
    times = stream(state, DISCORD, clock, 2)
    assert times[1] - times[0] == pytest.approx(DISCORD.spacing)


async def test_one_chats_budget_never_slows_another() -> None:
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep)
    for _ in range(5):
        assert await board.take("dc:1", DISCORD, final=True) == 0.0
    await board.flooded("dc:1", 30.0)
    assert await board.take("dc:1", DISCORD, final=True) == 30.0
    assert await board.take("dc:2", DISCORD, final=False) == 0.0
    assert await board.take("dc:2:draft", Budget(10, 1.0, 0), final=False) == 0.0


def test_the_board_forgets_idle_chats_as_it_grows() -> None:
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep)
    for i in range(1024):
        take(board.state(f"old:{i}", DISCORD), DISCORD, clock.now, final=False)
    clock.now += 3600  # all of them long idle
    busy = board.state("busy", DISCORD)
    assert len(board) == 1 and board.state("busy", DISCORD) is busy


def test_state_survives_the_store_round_trip_and_bad_data_starts_fresh() -> None:
    state = PaceState(log=[1.0, 2.5], last=2.5, blocked_until=9.0, remaining=3, reset_at=4.0)
    assert PaceState.loads(state.dumps()) == state
    assert PaceState.loads(None) == PaceState()
    assert PaceState.loads("{not json") == PaceState()
    assert PaceState.loads('{"unknown": 1}') == PaceState()


# --- the shared form -----------------------------------------------------------------------------


@pytest.fixture(params=["redis", "sqlite"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, Store]]:
    """Two store clients on one store, as two processes would hold them."""
    if request.param == "redis":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")
        pair: tuple[Store, Store] = (
            RedisStore(url, prefix=prefix),
            RedisStore(url, prefix=prefix),
        )
    else:
        pair = (SqliteStore(tmp_path / "b.db"), SqliteStore(tmp_path / "b.db"))
    yield pair
    for store in pair:
        await store.aclose()


async def test_two_processes_spend_one_budget(stores: tuple[Store, Store]) -> None:
    clock = Clock(now=1.7e9)
    one = StoredPacing(stores[0], clock=clock, sleep=clock.sleep)
    two = StoredPacing(stores[1], clock=clock, sleep=clock.sleep)
    assert await one.take("dc:7", DISCORD, final=False) == 0.0
    # The other process sees the write: its streaming write waits for the spacing.
    assert await two.take("dc:7", DISCORD, final=False) == pytest.approx(DISCORD.spacing)
    for pacing in (two, one, two, one):
        assert await pacing.take("dc:7", DISCORD, final=True) == 0.0
    assert await two.take("dc:7", DISCORD, final=True) == pytest.approx(DISCORD.window + MARGIN)
    # What the platform says to one process binds the other.
    await one.flooded("dc:8", 12.0)
    assert await two.take("dc:8", DISCORD, final=True) == 12.0
    await two.observe("dc:9", 0, 2.0)
    assert await one.take("dc:9", DISCORD, final=True) == pytest.approx(2.0)
    assert await one.take("dc:10", DISCORD, final=False) == 0.0  # other chats are untouched


async def test_the_shared_form_paces_alone_while_the_store_is_down(tmp_path: Path) -> None:
    class Down(SqliteStore):
        async def swap_pace(self, *args: object, **kwargs: object) -> float:
            raise StoreUnavailable("down")

    clock = Clock()
    pacing = StoredPacing(Down(tmp_path / "x.db"), clock=clock, sleep=clock.sleep)
    assert await pacing.take("dc:1", DISCORD, final=False) == 0.0
    assert await pacing.take("dc:1", DISCORD, final=False) == pytest.approx(DISCORD.spacing)


# --- the bot-wide budget -------------------------------------------------------------------------

BOT = Budget.bot_wide("10/1s")  # 10 writes a second for the whole bot, 2 kept for finals


def bot_wide(prefix: str) -> Budget | None:
    return BOT if prefix in ("dc", "tg") else None  # each platform a budget of its own


def test_a_bot_wide_budget_keeps_a_fifth_for_first_messages_and_finals() -> None:
    assert Budget.bot_wide("45/1s") == Budget(45, 1.0, 9)
    assert Budget.bot_wide("25/1s") == Budget(25, 1.0, 5)
    assert Budget.bot_wide("2/1s") == Budget(2, 1.0, 0)


async def spend(pacing: Pacing, writes: int) -> None:
    """Spend ``writes`` of Discord's bot-wide budget now, as answers in as many chats."""
    for chat in range(writes):
        assert await pacing.turn(f"dc:{chat}", Priority.ANSWER, pacing.clock())


async def waited(clock: Clock, turn: Turn) -> float:
    """Seconds of ``clock`` that ``turn`` waited before it was granted. On this clock a turn
    comes at once in real time: one that does not fails the test instead of hanging it."""
    start = clock.now
    async with asyncio.timeout(10):
        assert await turn
    return clock.now - start


async def one_chunk() -> AsyncIterator[str]:
    yield "hello"


async def test_a_bot_wide_flood_wait_pauses_every_chat_of_the_platform() -> None:
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    await board.flooded(bot_key("dc:1"), 3.0)  # Discord's global 429 in one channel
    assert await waited(clock, board.turn("tg:2", Priority.ANSWER, clock.now)) == 0.0
    assert await waited(clock, board.turn("dc:2", Priority.ANSWER, clock.now)) == 3.0


async def test_processes_share_the_bot_wide_budget_and_its_pauses(
    stores: tuple[Store, Store],
) -> None:
    clock = Clock(now=1.7e9)
    one = StoredPacing(stores[0], clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    two = StoredPacing(stores[1], clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    await spend(one, BOT.writes)  # one process spends the bot's whole window...
    went = await waited(clock, two.turn("dc:50", Priority.ANSWER, clock.now))
    assert went == pytest.approx(BOT.window + MARGIN)  # ...and the other waits for it to pass
    # A global 429 met by one process pauses the platform's chats in the other, not another
    # platform's.
    await one.flooded(bot_key("dc:1"), 5.0)
    assert await waited(clock, two.turn("tg:60", Priority.ANSWER, clock.now)) == 0.0
    went = await waited(clock, two.turn("dc:60", Priority.ANSWER, clock.now))
    assert went == pytest.approx(5.0)


async def test_a_store_error_in_the_lease_path_means_write_now(tmp_path: Path) -> None:
    class FailingOver(SqliteStore):
        async def swap_pace(self, *args: object, **kwargs: object) -> float:
            raise ConnectionError("a master went away")  # what redis-py raises mid-failover

    clock = Clock()
    pacing = StoredPacing(FailingOver(tmp_path / "x.db"), clock=clock, sleep=clock.sleep,
                          bot_wide=bot_wide)  # fmt: skip
    # Never an error: the write goes, paced by this process alone (an edit a tick later).
    assert await waited(clock, pacing.turn("dc:1", Priority.ANSWER, clock.now)) == 0.0
    went = await waited(clock, pacing.turn("dc:2", Priority.EDIT, clock.now))
    assert went == pytest.approx(TICK)
    # Nor a failed reply.
    surface = MemorySurface(key="dc:3")
    surface.write_budget = DISCORD
    await ReplyRenderer(surface, pacing, notice_for=str, clock=clock).render(one_chunk())
    assert surface.messages == ["hello"]


# --- the invalid-request guard -------------------------------------------------------------------


async def test_past_the_guards_limit_streaming_edits_are_shed_until_the_count_falls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    for _ in range(GUARD_LIMIT):
        await board.refused("dc:1")
    assert board.invalid_requests("dc:1") == GUARD_LIMIT
    assert await waited(clock, board.turn("dc:2", Priority.EDIT, clock.now)) == 0.0  # not yet
    clock.now += 30.0
    await board.refused("dc:3")  # one past it: one warning, and edits are shed
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert await waited(clock, board.turn("dc:4", Priority.ANSWER, clock.now)) == 0.0
    assert await waited(clock, board.turn("tg:4", Priority.EDIT, clock.now)) == 0.0  # not Discord
    # An edit asks again each SHED_WAIT until, ten minutes after the first burst (counted by
    # the minute), its refusals have left the window.
    await waited(clock, board.turn("dc:5", Priority.EDIT, clock.now))
    assert set(clock.slept) == {SHED_WAIT}
    assert 1000.0 + GUARD_WINDOW - 60 <= clock.now <= 1000.0 + GUARD_WINDOW
    assert board.invalid_requests("dc:1") == 1


async def test_every_process_counts_refusals_into_one_guard(stores: tuple[Store, Store]) -> None:
    clock = Clock(now=1.7e9)
    one = StoredPacing(stores[0], clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    two = StoredPacing(stores[1], clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    for k in range(GUARD_LIMIT + 1):
        await (one, two)[k % 2].refused("dc:1")
    assert await waited(clock, two.turn("dc:3", Priority.ANSWER, clock.now)) == 0.0
    assert one.invalid_requests("dc:1") == two.invalid_requests("dc:1") == GUARD_LIMIT + 1
    # Neither process alone refused past the limit, yet edits are shed until the refusals leave
    # the guard's window.
    assert await waited(clock, one.turn("dc:2", Priority.EDIT, clock.now)) > GUARD_WINDOW - 60


# --- the line for the bot-wide budget: priority and fairness -------------------------------------


def test_a_lease_gives_answers_the_reserve_and_edits_a_ticks_share() -> None:
    clock, state = Clock(), PaceState()
    # Edits take at most a tick's share of the budget at once (10/s: one per 0.1 s)...
    got = lease(state, BOT, clock.now, answers=0, edits=5)
    assert (got.answers, got.edits) == (0, 1) and got.wait == pytest.approx(TICK)
    for _ in range(7):
        clock.now += TICK
        assert lease(state, BOT, clock.now, answers=0, edits=5).edits == 1
    # ...and never the reserve: 8 in the window, the edits' part of it is spent.
    clock.now += TICK
    got = lease(state, BOT, clock.now, answers=0, edits=5)
    assert got.edits == 0 and got.wait > 0
    # Answers (first messages, finals, notices) may spend the reserve, all at once.
    got = lease(state, BOT, clock.now, answers=5, edits=5)
    assert (got.answers, got.edits) == (2, 0)
    assert len(state.log) == BOT.writes
    # A bot-wide flood wait grants nothing, to anyone, until it passes.
    clock.now += 2.0
    flooded(state, clock.now, 3.0)
    got = lease(state, BOT, clock.now, answers=1, edits=1)
    assert (got.answers, got.edits, got.wait) == (0, 0, 3.0)


def test_a_lease_sheds_edits_past_the_guards_limit() -> None:
    clock, state = Clock(), PaceState()
    for _ in range(GUARD_LIMIT + 1):
        refused(state, clock.now)
    got = lease(state, BOT, clock.now, answers=1, edits=3)
    assert (got.answers, got.edits) == (1, 0) and got.wait >= SHED_WAIT


async def test_waiting_writes_go_answers_first_then_notices_then_edits_oldest_first() -> None:
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    await spend(board, BOT.writes)  # the bot's whole window spent: every write below must wait
    order: list[str] = []
    turns = {  # in the order they join the line
        "edit of a reply that wrote 1 s ago": board.turn("dc:20", Priority.EDIT, clock.now - 1),
        "edit of a reply that wrote 5 s ago": board.turn("dc:21", Priority.EDIT, clock.now - 5),
        "notice": board.turn("dc:22", Priority.NOTICE, clock.now),
        "final": board.turn("dc:23", Priority.ANSWER, clock.now),
    }
    for name, turn in turns.items():
        turn.wait().add_done_callback(lambda _, name=name: order.append(name))
    await asyncio.wait([t.wait() for t in turns.values()])
    assert order == [
        "final",
        "notice",
        "edit of a reply that wrote 5 s ago",
        "edit of a reply that wrote 1 s ago",
    ]
    assert clock.now >= 1000.0 + BOT.window  # all of them waited for the window


async def test_a_reply_that_had_many_edits_lets_replies_that_had_few_go_first() -> None:
    """A reply that streamed while the bot was quiet made many writes; once the bot is busy,
    a reply that came later and had few goes first, though it wrote more recently."""
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    await spend(board, BOT.writes)
    order: list[str] = []
    turns = {
        "early": board.turn("dc:20", Priority.EDIT, edit_place(clock.now - 2, writes=8)),
        "late": board.turn("dc:21", Priority.EDIT, edit_place(clock.now - 1, writes=1)),
    }
    for name, turn in turns.items():
        turn.wait().add_done_callback(lambda _, name=name: order.append(name))
    await asyncio.wait([t.wait() for t in turns.values()])
    assert order == ["late", "early"]
    # Among replies with as many writes, the one that wrote longest ago still goes first.
    assert edit_place(clock.now - 2, writes=3) < edit_place(clock.now - 1, writes=3)


async def test_streaming_edits_are_shared_in_turn_among_the_replies_waiting() -> None:
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    granted: list[int] = []

    async def reply(chat: int, edits: int) -> None:
        since = clock.now
        for _ in range(edits):
            await board.turn(f"dc:{chat}", Priority.EDIT, since)
            granted.append(chat)
            since = clock.now
            await asyncio.sleep(0)  # the write

    await asyncio.gather(*(reply(chat, 6) for chat in range(20)))
    # 20 replies ask for more edits than the bot allows: each gets its turn before any
    # gets a second one, whichever asks first or most often.
    for start in range(0, len(granted), 20):
        assert sorted(granted[start : start + 20]) == list(range(20))
    # The whole bot never wrote more edits than the budget leaves them.
    times = board.state(bot_key("dc:1")).log
    for t in times:
        assert sum(t <= u < t + BOT.window for u in times) <= BOT.writes - BOT.reserve


async def test_a_turn_given_back_goes_to_the_next_in_line() -> None:
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    first = board.turn("dc:1", Priority.EDIT, clock.now - 2)
    second = board.turn("dc:2", Priority.EDIT, clock.now - 1)
    assert await first and not second.done()
    first.release()  # its chat's own budget said not yet
    assert second.done() and await second
    assert len(board.state(bot_key("dc:1")).log) == 1  # one write leased, one made


async def test_notices_wait_their_turn_bot_wide_before_streaming_edits() -> None:
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    await spend(board, BOT.writes)
    order: list[str] = []

    class Noted(MemorySurface):
        async def notice(self, text: str) -> None:
            order.append("notice")
            await super().notice(text)

    edit = board.turn("dc:30", Priority.EDIT, clock.now - 10)  # in line first, and long waiting
    edit.wait().add_done_callback(lambda _: order.append("edit"))
    surface = Noted(key="dc:31")
    await asyncio.gather(Notifier(pacing=board).notify(surface, "busy"), edit.wait())
    assert order == ["notice", "edit"]
    assert surface.notices == ["busy"] and clock.now >= 1000.0 + BOT.window


# --- Telegram's flood waits: the chat's or the bot's ---------------------------------------------

TG_GROUP = Budget(20, 60.0)


def busy_bot(now: float, writes: int) -> PaceState:
    return PaceState(log=[now - 0.5 + i * 0.01 for i in range(writes)])


def test_a_short_flood_wait_while_the_bot_is_busy_is_the_bots() -> None:
    now = 1000.0
    chat = PaceState(log=[now - 10, now])  # two writes in its minute: far from its own limit
    assert bot_flood(chat, TG_GROUP, busy_bot(now, 8), BOT, now, 1.0)
    # A bot that wrote little cannot have hit its own limit: the chat's limit it is.
    assert not bot_flood(chat, TG_GROUP, busy_bot(now, 2), BOT, now, 1.0)
    # A long wait is a chat's penalty, however busy the bot.
    assert not bot_flood(chat, TG_GROUP, busy_bot(now, 8), BOT, now, BOT_FLOOD_MAX + 1)
    # A chat that spent its own budget has its own reason.
    full = PaceState(log=[now - 50 + i for i in range(20)])
    assert not bot_flood(full, TG_GROUP, busy_bot(now, 8), BOT, now, 1.0)


async def test_an_unlabelled_bot_wide_flood_wait_pauses_every_chat_in_every_process(
    stores: tuple[Store, Store],
) -> None:
    clock = Clock(now=1.7e9)
    one = StoredPacing(stores[0], clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    two = StoredPacing(stores[1], clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    for pacing in (one, two):  # a busy bot
        await spend(pacing, 3)
    await one.flooded("dc:1", 2.0, budget=DISCORD)  # the platform did not say whose
    went = await waited(clock, two.turn("dc:40", Priority.ANSWER, clock.now))
    assert went == pytest.approx(2.0)  # another chat, another process
    # A wait the platform says is the chat's stays the chat's.
    await one.flooded("dc:2", 2.0)
    assert await waited(clock, two.turn("dc:41", Priority.ANSWER, clock.now)) == 0.0


async def test_the_renderer_hands_an_unlabelled_flood_to_the_bot_wide_judgement() -> None:
    clock = Clock()
    board = PacingBoard(clock=clock, sleep=clock.sleep, bot_wide=bot_wide)
    await spend(board, 6)
    surface = MemorySurface(key="dc:50", floods=[2.0], floods_scoped=False)
    surface.write_budget = DISCORD
    renderer = ReplyRenderer(surface, board, notice_for=str, clock=clock)
    await renderer.render(one_chunk())
    assert surface.messages == ["hello"]
    assert board.state(bot_key("dc:1")).blocked_until == pytest.approx(1000.0 + 2.0)
