"""One contract suite for every Store: a real Redis on loopback and a SQLite file on disk."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.config import StoreSettings
from core.errors import StoreUnavailable
from core.model import Binding, ChannelRecord, ChannelRules, ReplyMode, Scope
from core.records import JournalRecord, Shown, State
from core.store import RedisStore, SqliteStore, Store, open_store
from core.store.base import RECOVERY_HOLD, TROUBLE_KEEP
from tests.harness import CLUSTER_URL, REDIS_URL, cluster_reachable
from tests.harness.contract_stores import (
    admit_args,
    finish_admitted,
    journal_record,
)


async def test_binding_round_trip_overwrite_delete(store: Store) -> None:
    assert await store.get_binding("dc:1") is None
    first = Binding(backend="cody", remote={"conversation_id": "c1"}, bound_by="42", bound_at=1.5)
    await store.set_binding("dc:1", first)
    assert await store.get_binding("dc:1") == first

    second = Binding(backend="aurora", remote={"character_id": "7", "chat_id": "9"})
    await store.set_binding("dc:1", second)
    assert await store.get_binding("dc:1") == second  # old remote ids are gone

    assert await store.get_binding("dc:2") is None
    assert await store.delete_binding("dc:1") is True
    assert await store.get_binding("dc:1") is None
    assert await store.delete_binding("dc:1") is False


@pytest.mark.parametrize(
    ("setting", "first", "then"),
    [("mode", ReplyMode.ALL, ReplyMode.OFF), ("scope", Scope.USER, Scope.SHARED)],
)
async def test_a_channel_setting_round_trips(
    store: Store, setting: str, first: ReplyMode | Scope, then: ReplyMode | Scope
) -> None:
    get, put = getattr(store, f"get_{setting}"), getattr(store, f"set_{setting}")
    assert await get("tg:5") is None
    await put("tg:5", first)
    assert await get("tg:5") is first
    await put("tg:5", then)
    assert await get("tg:5") is then  # overwritten
    assert await get("tg:6") is None  # other channels untouched


async def test_admit_fresh_message(store: Store) -> None:
    args = admit_args()
    admission = await store.admit(**args)
    assert admission.queued and admission.turn
    assert not (admission.duplicate or admission.rate_limited or admission.busy)
    assert admission.binding is None
    assert admission.cooldowns == {}
    # Unbound: its conversation is created before the POST, so the record still reads received.
    assert not admission.sent
    assert await store.journal_get("tg:1", "m1") == args["record"]
    queued = admit_args(message_id="m2")
    assert not (await store.admit(**queued)).turn
    assert await store.journal_get("tg:1", "m2") == queued["record"]
    # Taking the turn later writes the record given, in the same round-trip.
    await finish_admitted(store, args)
    sent = queued["record"].moved(State.SENT)
    assert (await store.take_turn("tg:1", sent.owner, 30, sent)).acquired
    assert await store.journal_get("tg:1", "m2") == sent


async def test_admit_in_a_bound_channel_records_the_message_as_sent(store: Store) -> None:
    binding = Binding(backend="cody", remote={"conversation_id": "c1"})
    await store.set_binding("tg:1", binding)
    args = admit_args()
    admission = await store.admit(**args)
    assert admission.turn and admission.sent and admission.binding == binding
    # The journal record is written by the same round-trip, as sent: it is first in line.
    assert await store.journal_get("tg:1", "m1") == args["record"].moved(State.SENT)
    queued = admit_args(message_id="m2")
    waiting = await store.admit(**queued)
    assert not waiting.turn and not waiting.sent
    assert await store.journal_get("tg:1", "m2") == queued["record"]


async def test_admit_reads_binding_and_cooldowns(store: Store) -> None:
    binding = Binding(backend="cody", remote={"conversation_id": "c9"}, bound_by="1", bound_at=2.0)
    await store.set_binding("tg:1", binding)
    await store.set_cooldown("cody", 120)
    await store.set_cooldown("gone", 0)
    admission = await store.admit(**admit_args())
    assert admission.binding == binding
    assert set(admission.cooldowns) == {"cody"}
    assert 0 < admission.cooldowns["cody"] <= 120


async def test_admit_duplicate_neither_queues_nor_counts(store: Store) -> None:
    args = admit_args(rate_limit=2)
    first = await store.admit(**args)
    assert first.turn and not first.duplicate
    await finish_admitted(store, args)

    again = await store.admit(**admit_args(rate_limit=2, process="p-b"))
    assert again.duplicate
    assert not again.turn and not again.rate_limited and not again.busy
    # The duplicate took no place: the next message is first in line.
    second = admit_args(rate_limit=2, message_id="m2")
    assert (await store.admit(**second)).turn
    await finish_admitted(store, second)
    # The duplicate did not count: two messages fit in the limit of 2, the third does not.
    assert (await store.admit(**admit_args(rate_limit=2, message_id="m3"))).rate_limited


async def test_same_message_id_in_another_channel_is_not_duplicate(store: Store) -> None:
    assert not (await store.admit(**admit_args(channel="tg:1"))).duplicate
    assert not (await store.admit(**admit_args(channel="tg:2"))).duplicate


async def test_rate_limit_and_window_expiry(store: Store) -> None:
    window = 0.6
    for i in range(3):
        admission = await store.admit(
            **admit_args(channel=f"c{i}", message_id=f"m{i}", rate_limit=3, rate_window=window)
        )
        assert not admission.rate_limited
        assert admission.turn
    limited = await store.admit(
        **admit_args(channel="c9", message_id="m9", rate_limit=3, rate_window=window)
    )
    assert limited.rate_limited
    assert not limited.duplicate and not limited.turn and not limited.queued
    # A rate-limited message holds no place and leaves no record.
    assert (await store.take_turn("c9", "other|x", 30)).acquired
    assert await store.journal_get("c9", "m9") is None

    # Other users have their own window.
    other = await store.admit(**admit_args(channel="c8", message_id="x", user="u2", rate_limit=3))
    assert not other.rate_limited

    await asyncio.sleep(window + 0.5)
    fresh = await store.admit(
        **admit_args(channel="c7", message_id="m10", rate_limit=3, rate_window=window)
    )
    assert not fresh.rate_limited


async def test_turns_go_in_queue_order_one_at_a_time(store: Store) -> None:
    firsts = [admit_args(message_id=f"m{i}", process=f"p{i % 2}") for i in range(4)]
    admissions = [await store.admit(**args) for args in firsts]
    assert [a.turn for a in admissions] == [True, False, False, False]
    tickets = [args["record"].owner for args in firsts]
    # Nobody jumps the queue, not even while the lease is free.
    assert not (await store.take_turn("tg:1", tickets[2], 30)).acquired
    await finish_admitted(store, firsts[0])
    assert not (await store.take_turn("tg:1", tickets[2], 30)).acquired
    assert (await store.take_turn("tg:1", tickets[1], 30)).acquired
    assert (await store.take_turn("tg:1", tickets[1], 30)).acquired  # idempotent
    assert not (await store.take_turn("tg:1", tickets[2], 30)).acquired
    await finish_admitted(store, firsts[1])
    assert (await store.take_turn("tg:1", tickets[2], 30)).acquired
    # Another channel has its own queue.
    assert (await store.admit(**admit_args(channel="dc:9"))).turn


async def test_busy_is_decided_after_dedupe(store: Store) -> None:
    queued = [admit_args(message_id=f"m{i}", queue_size=1) for i in range(2)]
    assert [(await store.admit(**a)).queued for a in queued] == [True, True]
    busy = await store.admit(**admit_args(message_id="m2", queue_size=1))
    assert busy.busy and not busy.queued and not busy.turn
    assert await store.journal_get("tg:1", "m2") is None
    again = await store.admit(**admit_args(message_id="m0", queue_size=1, process="p-b"))
    assert again.duplicate and not again.busy


async def test_a_dead_process_queued_message_keeps_its_place(store: Store) -> None:
    """A dead process's queued message (never sent upstream) stays first once its lease and
    liveness lapse (reported once): recovery takes it over in its place, so it is answered
    before the message that came after it."""
    dead = admit_args(message_id="m1", process="dead", lease_ttl=0.4)
    assert (await store.admit(**dead)).turn
    queued = admit_args(message_id="m2", process="dead", lease_ttl=0.4)
    assert (await store.admit(**queued)).queued
    await finish_admitted(store, dead)  # its reply ended; the message behind it was not answered
    mine = admit_args(message_id="m3", process="live")
    assert not (await store.admit(**mine)).turn
    assert await store.journal_lapsed() == []
    await asyncio.sleep(0.9)  # neither lease nor liveness renewed: the process is gone
    ticket = mine["record"].owner
    first = await store.take_turn("tg:1", ticket, 30)
    assert not first.acquired and first.lapsed == [queued["record"].owner]
    again = await store.take_turn("tg:1", ticket, 30)
    assert not again.acquired and again.lapsed == []  # held, reported once
    (lapsed,) = await store.journal_lapsed()
    assert lapsed.message_id == "m2" and lapsed.state is State.RECEIVED
    assert await store.journal_claim(lapsed, "rescuer|m2", 30)
    resumed = {
        **admit_args(process="rescuer"),
        "record": lapsed.moved(lapsed.state, owner="rescuer|m2"),
    }
    assert (await store.admit(**resumed, resume=True)).turn  # in its old place: first
    assert not (await store.take_turn("tg:1", ticket, 30)).acquired
    await finish_admitted(store, resumed)
    assert (await store.take_turn("tg:1", ticket, 30)).acquired


async def test_a_message_left_at_shutdown_keeps_its_place(store: Store) -> None:
    """A message a stopping process leaves (its record reads received again) keeps its ticket's
    place: the next process answers it before anything that came after it."""
    first = admit_args(message_id="m1", process="old")
    assert (await store.admit(**first)).turn
    later = admit_args(message_id="m2", process="new")
    assert (await store.admit(**later)).queued
    record: JournalRecord = first["record"]
    await store.finish("tg:1", record.owner, record)  # left: it reads received
    await store.retire(["tg:1"], "old")
    ticket = later["record"].owner
    turn = await store.take_turn("tg:1", ticket, 30)
    assert not turn.acquired and turn.lapsed == [record.owner]
    assert await store.journal_lapsed() == [record]
    assert await store.journal_claim(record, "new|m1", 30)
    resumed = {**admit_args(process="new"), "record": record.moved(record.state, owner="new|m1")}
    assert (await store.admit(**resumed, resume=True)).turn
    await finish_admitted(store, resumed)
    assert (await store.take_turn("tg:1", ticket, 30)).acquired


async def test_a_dead_reply_keeps_its_turn_until_recovery_takes_it_over(store: Store) -> None:
    """A dead process's reply that went upstream stays first in the queue (reported once), so
    no other reply streams beside its recovery; the recovering ticket takes its place and the
    lease, and the next message gets the turn when recovery finishes."""
    await store.set_binding("tg:1", Binding(backend="cody", remote={"conversation_id": "c1"}))
    dead = admit_args(message_id="m1", process="dead", lease_ttl=0.3)
    assert (await store.admit(**dead)).turn
    mine = admit_args(message_id="m2", process="live", lease_ttl=30)
    assert (await store.admit(**mine)).queued
    ticket = mine["record"].owner
    await asyncio.sleep(0.6)  # the dead process's lease and liveness lapse
    first = await store.take_turn("tg:1", ticket, 30)
    assert not first.acquired and first.lapsed == [dead["record"].owner]
    again = await store.take_turn("tg:1", ticket, 30)
    assert not again.acquired and again.lapsed == []  # held, reported once
    (lapsed,) = await store.journal_lapsed()
    assert lapsed.message_id == "m1" and lapsed.state is State.SENT
    assert await store.journal_claim(lapsed, "rescuer|m1", 30)
    assert not (await store.take_turn("tg:1", ticket, 30)).acquired  # recovery holds the turn
    assert await store.keep_alive("rescuer", {"tg:1": "rescuer|m1"}, 30) == {"tg:1": True}
    await store.finish("tg:1", "rescuer|m1", lapsed.moved(State.DONE, owner="rescuer|m1"))
    assert (await store.take_turn("tg:1", ticket, 30)).acquired


@pytest.mark.parametrize("bound", [True, False], ids=["reply-sent", "message-queued"])
async def test_a_dead_ticket_nobody_recovers_blocks_its_channel_only_a_while(
    store: Store, bound: bool
) -> None:
    """A dead process's reply (in a bound channel its record reads sent) or queued message is
    held first for recovery, but only for a while; the record stays open for a later pass."""
    if bound:
        await store.set_binding("tg:1", Binding(backend="cody", remote={"conversation_id": "c1"}))
    dead = admit_args(message_id="m1", process="dead", lease_ttl=0.2)
    assert (await store.admit(**dead)).turn
    mine = admit_args(message_id="m2", process="live", lease_ttl=30)
    assert (await store.admit(**mine)).queued
    ticket = mine["record"].owner
    await asyncio.sleep(0.4)
    assert not (await store.take_turn("tg:1", ticket, 0.2)).acquired  # held for recovery
    await asyncio.sleep(0.2 * RECOVERY_HOLD + 0.2)  # nobody took it over
    turn = await store.take_turn("tg:1", ticket, 30)
    assert turn.acquired and turn.lapsed == [dead["record"].owner]
    assert [r.message_id for r in await store.journal_lapsed()] == ["m1"]


async def test_what_a_reply_shows_is_kept_while_its_lease_holds(store: Store) -> None:
    args = admit_args(lease_ttl=30)
    assert (await store.admit(**args)).turn
    record: JournalRecord = args["record"]
    ticket = record.owner
    assert await store.journal_shown("tg:1", "m1") is None
    streaming = record.moved(State.STREAMING, handles=["11"])
    await store.journal_put(streaming, Shown("11", "Once upon"))
    assert await store.journal_get("tg:1", "m1") == streaming
    assert await store.journal_shown("tg:1", "m1") == Shown("11", "Once upon")
    # The lease renewal carries the newer text, in the same round-trip.
    kept = await store.keep_alive("p-a", {"tg:1": ticket}, 30, {"tg:1": Shown("11", "Once upon a")})
    assert kept == {"tg:1": True}
    assert await store.journal_shown("tg:1", "m1") == Shown("11", "Once upon a")
    # A ticket that no longer holds the lease stores nothing.
    other = {"tg:1": Shown("11", "stale")}
    assert await store.keep_alive("p-a", {"tg:1": "p-a|other"}, 30, other) == {"tg:1": False}
    assert await store.journal_shown("tg:1", "m1") == Shown("11", "Once upon a")
    await store.finish("tg:1", ticket, streaming.moved(State.DONE))
    assert await store.journal_shown("tg:1", "m1") is None


async def test_keep_alive_renews_the_lease_and_liveness(store: Store) -> None:
    args = admit_args(lease_ttl=0.6)
    assert (await store.admit(**args)).turn
    ticket = args["record"].owner
    waiting = admit_args(message_id="m2", process="p-b")
    assert (await store.admit(**waiting)).queued
    for _ in range(4):
        await asyncio.sleep(0.25)
        assert await store.keep_alive("p-a", {"tg:1": ticket, "tg:2": None}, 0.6) == {
            "tg:1": True,
            "tg:2": True,
        }
    assert not (await store.take_turn("tg:1", waiting["record"].owner, 30)).acquired
    assert await store.journal_lapsed() == []
    assert await store.keep_alive("p-a", {"tg:1": "p-a|other"}, 0.6) == {"tg:1": False}
    assert await store.keep_alive("p-a", {}, 0.6) == {}


async def test_journal_states_claim_and_retire(store: Store) -> None:
    args = admit_args(lease_ttl=30)
    await store.admit(**args)
    record: JournalRecord = args["record"]
    streaming = record.moved(State.STREAMING, handles=["m:5"], backend="cody", remote={"c": "1"})
    await store.journal_put(streaming)
    assert await store.journal_get("tg:1", "m1") == streaming
    assert await store.journal_lapsed() == []
    # The process leaves the channel cleanly: its open record is someone else's to finish.
    await store.retire(["tg:1"], "p-a")
    assert await store.journal_lapsed() == [streaming]
    assert await store.journal_claim(streaming, "p-b|m1", 30)
    assert not await store.journal_claim(streaming, "p-c|m1", 30)  # taken, and p-b is alive
    assert await store.journal_lapsed() == []
    claimed = await store.journal_get("tg:1", "m1")
    assert claimed is not None and claimed.owner == "p-b|m1"
    await store.finish("tg:1", "p-b|m1", claimed.moved(State.DONE))
    await store.retire(["tg:1"], "p-b")
    assert await store.journal_lapsed() == []
    done = await store.journal_get("tg:1", "m1")
    assert done is not None and done.state is State.DONE


async def test_a_resumed_record_queues_again_without_being_a_duplicate(store: Store) -> None:
    args = admit_args(process="dead", queue_size=0)
    await store.admit(**args)
    record: JournalRecord = args["record"]
    await store.finish("tg:1", record.owner, record)  # left for the next process, not sent
    assert await store.journal_get("tg:1", "m1") == record
    await store.retire(["tg:1"], "dead")
    assert await store.journal_claim(record, "p-b|m1", 30)
    resumed = replace(record, owner="p-b|m1")
    # It was counted when it came: taking it up again neither counts, limits nor finds the
    # queue busy.
    again = {**admit_args(process="p-b", rate_limit=1, queue_size=0), "record": resumed}
    admission = await store.admit(**again, resume=True)
    assert admission.turn and not admission.duplicate and not admission.rate_limited
    assert not admission.busy
    assert (await store.admit(**admit_args(message_id="m9", rate_limit=1))).rate_limited


async def test_cooldowns_set_get_expire(store: Store) -> None:
    assert await store.get_cooldowns() == {}
    await store.set_cooldown("cody", 600)
    await store.set_cooldown("aurora", 0.3)
    cooldowns = await store.get_cooldowns()
    assert set(cooldowns) == {"cody", "aurora"}
    assert 590 < cooldowns["cody"] <= 600
    await asyncio.sleep(0.8)
    assert set(await store.get_cooldowns()) == {"cody"}
    await store.set_cooldown("cody", 0)
    assert await store.get_cooldowns() == {}


async def test_claim(store: Store) -> None:
    assert await store.claim("update:1", 30)
    assert not await store.claim("update:1", 30)
    assert await store.claim("update:2", 30)
    assert await store.claim("short", 0.3)
    await asyncio.sleep(0.8)
    assert await store.claim("short", 30)


async def test_marks_are_shared_values_that_lapse(store: Store) -> None:
    assert await store.get_mark("once:x") is None
    await store.set_mark("once:x", "a@1", 30)
    assert await store.get_mark("once:x") == "a@1"
    await store.set_mark("once:x", "b@2", 0.3)  # replaced, with the new lifetime
    assert await store.get_mark("once:x") == "b@2"
    assert await store.get_mark("once:y") is None
    await asyncio.sleep(0.8)
    assert await store.get_mark("once:x") is None


async def test_round_trips_on_the_hot_path(store: Store) -> None:
    counted: Any = store
    before = counted.round_trips
    args = admit_args()
    admission = await store.admit(**args)
    assert admission.turn
    assert counted.round_trips - before == 1
    await finish_admitted(store, args)
    assert counted.round_trips - before == 2


async def test_ping(store: Store) -> None:
    description = await store.ping()
    assert description.split()[0] in {"redis", "sqlite"}


async def test_unreachable_redis_raises_without_secrets() -> None:
    store = RedisStore("redis://:s3cret@127.0.0.1:1/0", prefix=f"test-{uuid.uuid4().hex}")
    try:
        with pytest.raises(StoreUnavailable) as admit_err:
            await store.admit(**admit_args())
        with pytest.raises(StoreUnavailable) as get_err:
            await store.get_binding("tg:1")
        for err in (admit_err.value, get_err.value):
            text = str(err)
            assert "s3cret" not in text
            assert "redis://" not in text
            assert "127.0.0.1" not in text
            assert "unreachable" in text
    finally:
        await store.aclose()


async def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    binding = Binding(backend="cody", remote={"conversation_id": "c1"}, bound_by="1", bound_at=3.0)
    first = SqliteStore(path)
    await first.set_binding("tg:1", binding)
    await first.set_mode("tg:1", ReplyMode.OFF)
    await first.set_cooldown("cody", 600)
    assert not (await first.admit(**admit_args())).duplicate
    await first.aclose()

    second = SqliteStore(path)
    try:
        assert await second.get_binding("tg:1") == binding
        assert await second.get_mode("tg:1") is ReplyMode.OFF
        assert set(await second.get_cooldowns()) == {"cody"}
        assert (await second.admit(**admit_args())).duplicate
    finally:
        await second.aclose()


async def test_unusable_sqlite_path_raises_store_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "missing-dir" / "bridge.db")
    try:
        with pytest.raises(StoreUnavailable):
            await store.get_binding("tg:1")
    finally:
        await store.aclose()


async def test_open_store_picks_the_implementation(tmp_path: Path) -> None:
    sqlite_store = open_store(StoreSettings(path=str(tmp_path / "x.db")))
    redis_store = open_store(StoreSettings(url=REDIS_URL, prefix="p"))
    try:
        assert isinstance(sqlite_store, SqliteStore)
        assert sqlite_store.path == tmp_path / "x.db"
        assert isinstance(redis_store, RedisStore)
        assert redis_store.prefix == "p"
    finally:
        await sqlite_store.aclose()
        await redis_store.aclose()


# --- scope, block lists, chat migration -------------------------------------------------------


async def test_rules_read_the_first_scope_and_every_block_list_in_one_trip(store: Store) -> None:
    await store.set_scope("dc:parent", Scope.USER)
    assert await store.set_blocked("dc:guild:1", "dc:7", True) is True
    assert await store.set_blocked("dc:guild:1", "dc:7", True) is False  # already there
    before = store.round_trips  # type: ignore[attr-defined]
    rules = await store.rules(
        channels=["dc:thread", "dc:parent"], spaces=["dc:guild:1", "dc:*"], user="dc:7"
    )
    assert store.round_trips - before == 1  # type: ignore[attr-defined]
    assert rules == ChannelRules(scope=Scope.USER, blocked=True)
    other = await store.rules(channels=["dc:x"], spaces=["dc:guild:2", "dc:*"], user="dc:7")
    assert other == ChannelRules(scope=None, blocked=False)
    await store.set_binding("dc:thread", Binding(backend="luna"))
    bound = await store.rules(channels=["dc:thread", "dc:parent"], spaces=[], user="dc:7")
    assert bound == ChannelRules(scope=Scope.USER, blocked=False, backend="luna")
    only_blocks = await store.rules(channels=[], spaces=["dc:guild:1"], user="dc:7")
    assert only_blocks == ChannelRules(scope=None, blocked=True)
    assert await store.set_blocked("dc:guild:1", "dc:7", False) is True
    assert await store.set_blocked("dc:guild:1", "dc:7", False) is False
    unblocked = await store.rules(channels=["dc:thread"], spaces=["dc:guild:1"], user="dc:7")
    assert not unblocked.blocked


async def test_move_channel_takes_binding_mode_scope_blocks_topics_and_users(store: Store) -> None:
    old, new = "tg:-123", "tg:-100123"
    await store.set_binding(old, Binding(backend="luna", remote={"chat_id": "1"}))
    await store.set_binding(f"{old}@tg:5", Binding(backend="luna", remote={"chat_id": "2"}))
    await store.set_binding(f"{old}:9", Binding(backend="luna", remote={"chat_id": "3"}))
    await store.set_binding("tg:-1234", Binding(backend="luna", remote={"chat_id": "4"}))
    await store.set_mode(old, ReplyMode.ALL)
    await store.set_scope(old, Scope.USER)
    await store.set_blocked(old, "tg:6", True)

    await store.move_channel(old, new)

    moved = await store.get_binding(new)
    assert moved is not None and moved.remote == {"chat_id": "1"}
    moved_user = await store.get_binding(f"{new}@tg:5")
    moved_topic = await store.get_binding(f"{new}:9")
    assert moved_user is not None and moved_user.remote == {"chat_id": "2"}
    assert moved_topic is not None and moved_topic.remote == {"chat_id": "3"}
    assert await store.get_mode(new) is ReplyMode.ALL
    assert await store.get_scope(new) is Scope.USER
    assert (await store.rules(channels=[new], spaces=[new], user="tg:6")).blocked
    for gone in (old, f"{old}@tg:5", f"{old}:9"):
        assert await store.get_binding(gone) is None
    assert await store.get_mode(old) is None and await store.get_scope(old) is None
    assert not (await store.rules(channels=[old], spaces=[old], user="tg:6")).blocked
    # A chat whose id merely starts with the same digits is someone else's.
    other = await store.get_binding("tg:-1234")
    assert other is not None and other.remote == {"chat_id": "4"}


async def test_glob_characters_in_a_channel_match_only_themselves(store: Store) -> None:
    # Redis finds a channel's keys by SCAN pattern: its own * ? [ ] \ must stay literal.
    odd, alike = "dc:*?[1]\\", "dc:1?1"
    await store.set_binding(odd, Binding(backend="luna", remote={"chat_id": "odd"}))
    await store.set_binding(alike, Binding(backend="luna", remote={"chat_id": "alike"}))
    await store.set_mode("dc:1", ReplyMode.ALL)

    await store.move_channel(odd, "dc:2")

    assert [r.channel for r in await store.channel_records()] == ["dc:1", alike, "dc:2"]
    moved, kept = await store.get_binding("dc:2"), await store.get_binding(alike)
    assert moved is not None and moved.remote == {"chat_id": "odd"}
    assert kept is not None and kept.remote == {"chat_id": "alike"}
    assert await store.get_mode("dc:1") is ReplyMode.ALL


async def test_a_prefix_with_glob_characters_moves_its_channels(redis_url: str) -> None:
    unique = f"test-{uuid.uuid4().hex}"
    store = RedisStore(redis_url, prefix=f"{unique}[0]")
    try:
        await store.set_binding("tg:-1", Binding(backend="luna", remote={"chat_id": "1"}))
        await store.move_channel("tg:-1", "tg:-1001")
        assert [r.channel for r in await store.channel_records()] == ["tg:-1001"]
    finally:
        client: Any = store._redis
        for key in [k async for k in client.scan_iter(match=f"{unique}*")]:
            await client.delete(key)
        await store.aclose()


async def test_two_moves_at_once_lose_nothing(store: Store) -> None:
    # Telegram reports a migration twice (in the old chat and the new); both may be handled at once.
    for i in range(20):
        old, new = f"tg:-{i}", f"tg:-100{i}"
        await store.set_binding(old, Binding(backend="luna", remote={"chat_id": str(i)}))
        await store.set_binding(f"{old}@tg:5", Binding(backend="luna", remote={"chat_id": "u"}))
        await store.set_mode(old, ReplyMode.ALL)
        await asyncio.gather(store.move_channel(old, new), store.move_channel(old, new))
        moved = await store.get_binding(new)
        assert moved is not None and moved.remote == {"chat_id": str(i)}
        assert await store.get_binding(f"{new}@tg:5") is not None
        assert await store.get_mode(new) is ReplyMode.ALL


async def test_plain_client_on_a_cluster_node_says_set_cluster() -> None:
    if not await cluster_reachable():
        pytest.skip(f"no Redis Cluster at {CLUSTER_URL}")
    store = RedisStore(CLUSTER_URL, prefix=f"test-{uuid.uuid4().hex}")
    try:
        with pytest.raises(StoreUnavailable, match=r"store\.cluster = true"):
            await store.ping()
    finally:
        await store.aclose()


async def test_open_store_on_a_cluster() -> None:
    if not await cluster_reachable():
        pytest.skip(f"no Redis Cluster at {CLUSTER_URL}")
    store = open_store(StoreSettings(url=CLUSTER_URL, prefix="p", cluster=True))
    try:
        assert isinstance(store, RedisStore) and store.cluster
        assert (await store.ping()).startswith("redis cluster")
    finally:
        await store.aclose()


def test_a_journal_record_survives_its_stored_form() -> None:
    record = journal_record().moved(
        State.STREAMING, handles=["1", ""], backend="b", remote={"c": "1"}
    )
    assert JournalRecord.from_json(record.to_json()) == record
    assert set(json.loads(record.to_json())) == {f.name for f in fields(JournalRecord)}


async def test_swap_pace_is_atomic_against_concurrent_writers(store: Store) -> None:
    seen: list[str | None] = []

    def bump(raw: str | None) -> tuple[str, int]:
        seen.append(raw)
        count = int(raw or 0) + 1
        return str(count), count

    results = await asyncio.gather(*(store.swap_pace("dc:1", bump, 60.0) for _ in range(25)))
    assert sorted(results) == list(range(1, 26))  # no two writers saw the same state
    assert seen[0] is None
    assert await store.swap_pace("dc:2", bump, 60.0) == 1  # one chat's state is its own


async def test_swap_pace_state_expires(store: Store) -> None:
    def put(raw: str | None) -> tuple[str, str | None]:
        return "state", raw

    assert await store.swap_pace("tg:5", put, 0.5) is None
    assert await store.swap_pace("tg:5", put, 0.5) == "state"
    await asyncio.sleep(1.0)
    assert await store.swap_pace("tg:5", put, 60.0) is None


async def test_pacing_keys_carry_a_hash_tag_per_chat(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix=prefix)
    try:
        await store.swap_pace("tg:-100123", lambda raw: ("x", None), 60.0)
    finally:
        await store.aclose()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    finally:
        await client.aclose()
    assert keys == [f"{prefix}:{{pace:tg:-100123}}"]


async def test_swap_pace_costs_one_round_trip_while_one_process_writes(
    redis_url: str, prefix: str
) -> None:
    store = RedisStore(redis_url, prefix=prefix)
    try:
        await store.swap_pace("dc:7", lambda raw: ("a", raw), 60.0)
        before = store.round_trips
        assert await store.swap_pace("dc:7", lambda raw: ("b", raw), 60.0) == "a"
        assert await store.swap_pace("dc:7", lambda raw: ("c", raw), 60.0) == "b"
        assert store.round_trips - before == 2
    finally:
        await store.aclose()


async def test_swap_pace_sees_another_process_write_in_between(redis_url: str, prefix: str) -> None:
    # Each store remembers the state it last wrote; a write by the other must not be lost.
    one, two = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)

    def bump(raw: str | None) -> tuple[str, int]:
        count = int(raw or 0) + 1
        return str(count), count

    try:
        results = [await (one if i % 3 else two).swap_pace("tg:8", bump, 60.0) for i in range(9)]
    finally:
        await one.aclose()
        await two.aclose()
    assert results == list(range(1, 10))


async def test_channel_records_list_every_per_channel_setting(store: Store) -> None:
    assert await store.channel_records() == []
    both = Binding(backend="cody", remote={"conversation_id": "c1"}, bound_by="tg:1", bound_at=5.0)
    only_binding = Binding(backend="luna", remote={"character_id": "42", "chat_id": "7"})
    await store.set_binding("tg:-100:3", both)
    await store.set_mode("tg:-100:3", ReplyMode.ALL)
    await store.set_binding("dc:9", only_binding)
    await store.set_mode("tg:5", ReplyMode.OFF)
    await store.set_scope("tg:-100", Scope.USER)
    await store.set_blocked("tg:-100", "tg:8", True)
    await store.set_blocked("tg:-100", "tg:12", True)
    await store.set_blocked("dc:guild:4", "dc:1", True)
    await store.set_blocked("dc:guild:5", "dc:1", True)
    await store.set_blocked("dc:guild:5", "dc:1", False)  # an emptied list is no setting
    await store.admit(**admit_args(channel="tg:6"))  # dedupe, rate and lock keys: not settings
    assert await store.channel_records() == [
        ChannelRecord("dc:9", binding=only_binding),
        ChannelRecord("dc:guild:4", blocked=("dc:1",)),
        ChannelRecord("tg:-100", scope=Scope.USER, blocked=("tg:12", "tg:8")),
        ChannelRecord("tg:-100:3", binding=both, mode=ReplyMode.ALL),
        ChannelRecord("tg:5", mode=ReplyMode.OFF),
    ]


async def test_restore_channel_writes_back_what_was_listed(store: Store) -> None:
    record = ChannelRecord(
        "tg:-1",
        binding=Binding(backend="cody", remote={"conversation_id": "x"}),
        mode=ReplyMode.ALL,
        scope=Scope.USER,
        blocked=("tg:2", "tg:3"),
    )
    await store.restore_channel(record)
    assert await store.channel_records() == [record]


async def test_handled_ids_keep_the_newest_per_channel_most_recent_channel_first(
    store: Store,
) -> None:
    assert await store.active_channels(10) == {}
    # Snowflakes: longer means newer; beyond a double's exact range on purpose.
    await store.note_handled("dc:1", "1234567890123456789", ttl=60)
    await store.note_handled("dc:1", "999999999999999999", ttl=60)  # older (one digit fewer)
    await store.note_handled("dc:1", "1234567890123456788", ttl=60)  # older by one
    await asyncio.sleep(0.01)
    await store.note_handled("dc:2", "1234567890123456790", ttl=60)
    active = await store.active_channels(10)
    assert active == {"dc:2": "1234567890123456790", "dc:1": "1234567890123456789"}
    assert list(active) == ["dc:2", "dc:1"]
    assert list(await store.active_channels(1)) == ["dc:2"]
    await store.note_handled("dc:1", "1234567890123456800", ttl=60)
    assert list(await store.active_channels(10)) == ["dc:1", "dc:2"]
    assert (await store.active_channels(10))["dc:1"] == "1234567890123456800"


async def test_handled_ids_are_forgotten_after_their_ttl(store: Store) -> None:
    await store.note_handled("dc:1", "100", ttl=0.2)
    await store.note_handled("dc:2", "200", ttl=60)
    await asyncio.sleep(0.4)
    await store.note_handled("dc:3", "300", ttl=60)
    assert await store.active_channels(10) == {"dc:3": "300", "dc:2": "200"}


# The operator's page ----------------------------------------------------------------------


async def _answer(store: Store, channel: str, message_id: str, author: str, backend: str) -> None:
    """Admit a message and finish it as one that went upstream to ``backend``."""
    args = admit_args(channel=channel, message_id=message_id)
    record = replace(args["record"], author=author)
    await store.admit(**{**args, "record": record, "user": author})
    done = record.moved(State.DONE, backend=backend)
    await store.finish(channel, record.owner, done)


async def test_finish_counts_answered_messages_by_hour_backend_channel_and_user(
    store: Store,
) -> None:
    start = time.time()
    await _answer(store, "tg:1", "m1", "u1", "luna")
    await _answer(store, "tg:1", "m2", "u2", "luna")
    await _answer(store, "tg:2", "m3", "u1", "assistant")
    # Not counted: left for the next process, and done without going upstream (no backend).
    left = journal_record("tg:3", "m4")
    await store.admit(**admit_args(channel="tg:3", message_id="m4"))
    await store.finish("tg:3", left.owner, None)
    refused = journal_record("tg:3", "m5")
    await store.admit(**admit_args(channel="tg:3", message_id="m5"))
    await store.finish("tg:3", refused.owner, refused.moved(State.DONE))

    hours = await store.hourly_usage(start - 3600)
    totals: dict[str, int] = {}
    for hour, counts in hours.items():
        assert start // 3600 - 1 <= hour <= time.time() // 3600
        for backend, n in counts.items():
            totals[backend] = totals.get(backend, 0) + n
    assert totals == {"luna": 2, "assistant": 1}
    assert await store.hourly_usage(time.time() + 7200) == {}

    top = await store.top_usage(10)
    assert top.channels == [("tg:1", 2), ("tg:2", 1)]
    assert top.users == [("u1", 2), ("u2", 1)]
    assert (await store.top_usage(1)).users == [("u1", 2)]


async def test_trouble_keeps_the_newest_lines_and_counts_kinds(store: Store) -> None:
    assert await store.trouble(50) == ([], {})
    await store.add_trouble([("upstream", "a")])
    await store.add_trouble([("upstream", f"b{i}") for i in range(TROUBLE_KEEP)] + [("busy", "c")])
    texts, kinds = await store.trouble(100)
    assert texts[:3] == ["c", f"b{TROUBLE_KEEP - 1}", f"b{TROUBLE_KEEP - 2}"]
    assert len(texts) == TROUBLE_KEEP and "a" not in texts
    assert kinds == {"upstream": TROUBLE_KEEP + 1, "busy": 1}
    assert (await store.trouble(2))[0] == ["c", f"b{TROUBLE_KEEP - 1}"]


async def test_processes_are_alive_while_they_beat(store: Store) -> None:
    await store.beat("p-a", '{"parts": []}', 30.0)
    await store.beat("p-b", "b", 0.2)
    await store.beat("p-a", "a again", 30.0)
    assert await store.processes() == {"p-a": "a again", "p-b": "b"}
    await asyncio.sleep(0.3)
    assert await store.processes() == {"p-a": "a again"}


async def test_open_channels_count_queued_and_replying_messages(store: Store) -> None:
    assert await store.open_channels(100) == {}
    for message_id in ("m1", "m2", "m3"):
        await store.admit(**admit_args(channel="tg:1", message_id=message_id))
    await store.admit(**admit_args(channel="tg:2", message_id="m1"))
    assert await store.open_channels(100) == {"tg:1": 3, "tg:2": 1}
    await finish_admitted(store, admit_args(channel="tg:1", message_id="m1"))
    assert await store.open_channels(100) == {"tg:1": 2, "tg:2": 1}
