"""Reading the upstreams' stored history: ``find_reply``, ``maybe_stored`` on ambiguous failures,
and Aurora's check of a closed stream against the history. Real backends, loopback fakes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from core import errors
from core.backends.aurora import AuroraBackend
from core.backends.cody import CodyBackend, next_page
from core.backends.history import Lookup, Turn, reply_after
from core.config import AuroraSettings
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.harness import AURORA_TOKEN, collect, collect_until_error, free_port

TEXT = "A reply long enough to be cut in several pieces, so a break can land mid-way."


def posts(fake: AuroraFake | CodyFake) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and "/message" in r.path)


def reads(fake: AuroraFake | CodyFake) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and r.path.endswith("/messages"))


# --- the rule itself ------------------------------------------------------------------------


def test_reply_after_takes_the_newest_matching_prompt_and_skips_failed_turns() -> None:
    history = [
        Turn(user=False, content="second answer"),
        Turn(user=True, content="same question"),
        Turn(user=False, content="first answer"),
        Turn(user=True, content="same question"),
    ]
    assert reply_after(history, "same question").reply == "second answer"
    assert reply_after(history, "  same question\n").reply == "second answer"  # trimmed
    assert reply_after(history, "never asked").found is False
    unanswered = [Turn(user=True, content="q"), Turn(user=False, content="old")]
    assert reply_after(unanswered, "q") == Lookup(found=True, reply=None)
    failed = [Turn(user=False, content="Sorry", usable=False), Turn(user=True, content="q")]
    assert reply_after(failed, "q").reply is None
    # Another user's turn between the prompt and a reply: that reply is not ours.
    crossed = [
        Turn(user=False, content="for bob"),
        Turn(user=True, content="bob"),
        Turn(user=True, content="q"),
    ]
    assert reply_after(crossed, "q").reply is None


def test_cody_next_page_reads_both_pagination_shapes() -> None:
    documented = {"meta": {"pagination": {"next_page": 3, "current_page": 2}}}
    observed = {
        "meta": {
            "pagination": {
                "current_page": 1,
                "total_pages": 3,
                "links": {"next": "https://getcody.ai/api/v1/messages?page=2"},
            }
        }
    }
    counted = {"meta": {"pagination": {"current_page": 1, "total_pages": 2, "links": {}}}}
    last = {"meta": {"pagination": {"next_page": None, "current_page": 2, "total_pages": 2}}}
    assert [next_page(b, 1) for b in (documented, observed, counted, last)] == [3, 2, 2, None]
    assert next_page({"data": []}, 1) is None


# --- Aurora -----------------------------------------------------------------------------------


async def test_aurora_find_reply_reads_the_history_and_sends_nothing(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with("first answer")
    await collect(backend, remote, "same question")
    aurora.reply_with("second answer")
    await collect(backend, remote, "same question")
    sent = posts(aurora)
    assert await backend.find_reply(remote, "same question") == "second answer"
    assert await backend.find_reply(remote, "never asked") is None
    assert posts(aurora) == sent
    assert aurora.messages_sent == ["same question", "same question"]
    query = aurora.requests[-1]
    assert (query.method, query.path) == ("GET", "/api/v11/messages")


async def test_aurora_find_reply_pages_back_to_an_older_prompt(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora(verify_close="off")
    remote = await backend.create_conversation("t")
    aurora.reply_with("the old answer")
    await collect(backend, remote, "old question")
    for i in range(25):  # newer turns from elsewhere push the prompt off the first page
        await collect(backend, remote, f"filler {i}")
    before = reads(aurora)
    assert await backend.find_reply(remote, "old question") == "the old answer"
    assert reads(aurora) - before == 3  # 20 turns a page; 50 turns after the prompt


async def test_aurora_drop_mid_stream_is_maybe_stored_and_found(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=5, fault="drop", fault_after=3, server_finishes=True)
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, errors.Interrupted) and error.maybe_stored
    assert "".join(pieces) == TEXT[:15]
    assert await backend.find_reply(remote, "hi") == TEXT
    assert posts(aurora) == 1


async def test_aurora_stall_before_text_is_maybe_stored(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora(read_timeout=0.5)
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, fault="stall", fault_after=0, server_finishes=True)
    async with asyncio.timeout(20):
        pieces, error = await collect_until_error(backend, remote, "hi")
    assert pieces == [] and isinstance(error, errors.Unavailable) and error.maybe_stored
    assert await backend.find_reply(remote, "hi") == TEXT


async def test_aurora_early_close_is_completed_from_the_history(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=5, fault="close", fault_after=2, server_finishes=True)
    pieces = await collect(backend, remote, "hi")
    assert "".join(pieces) == TEXT
    assert pieces[:2] == [TEXT[:5], TEXT[5:10]] and pieces[2] == TEXT[10:]
    assert (posts(aurora), reads(aurora)) == (1, 1)


async def test_aurora_checks_cost_one_read_for_replies_that_end_unfinished(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    finished = ["Done.", "Really?", "(see above)", "**bold**", "```\ncode\n```", "Bye 👋"]
    for i, text in enumerate(finished):
        aurora.reply_with(text)
        assert "".join(await collect(backend, remote, f"f{i}")) == text
    assert (posts(aurora), reads(aurora)) == (6, 0)
    for i, text in enumerate(["and then the", "Here is the list:", "- last item"]):
        aurora.reply_with(text)
        assert "".join(await collect(backend, remote, f"u{i}")) == text
    assert (posts(aurora), reads(aurora)) == (9, 3)
    always = make_aurora(verify_close="always")
    aurora.reply_with("Done.")
    await collect(always, remote, "checked")
    assert (posts(aurora), reads(aurora)) == (10, 4)
    off = make_aurora(verify_close="off")
    aurora.reply_with("and then the")
    await collect(off, remote, "unchecked")
    assert (posts(aurora), reads(aurora)) == (11, 4)


async def test_aurora_early_close_with_nothing_stored_keeps_what_came(
    make_aurora: Callable[..., AuroraBackend], closing: Callable[[Any], Any]
) -> None:
    # A server that leaves storing to its clients gives nothing to compare with: the closed
    # stream is taken as the reply, as before.
    async with AuroraFake(token=AURORA_TOKEN, character_id=42, stores_turns=False) as bare:
        backend = closing(
            AuroraBackend(
                "bare",
                AuroraSettings(
                    kind="aurora",
                    base_url=bare.base_url,
                    token=SecretStr(AURORA_TOKEN),
                    character_id=42,
                ),
            )
        )
        remote = await backend.create_conversation("t")
        bare.reply_with(TEXT, chunk_size=5, fault="close", fault_after=2)
        assert "".join(await collect(backend, remote, "hi")) == TEXT[:10]
        assert await backend.find_reply(remote, "hi") is None


async def test_aurora_malformed_event_is_skipped(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=5, fault="malformed", fault_after=2)
    assert "".join(await collect(backend, remote, "hi")) == TEXT


async def test_aurora_stored_reply_that_differs_goes_to_recovery(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT)
    await collect(backend, remote, "hi")
    assert await backend._rest_of(remote, "hi", TEXT[:10]) == TEXT[10:]
    assert await backend._rest_of(remote, "hi", TEXT + "\n") == ""
    assert await backend._rest_of(remote, "hi", TEXT + " and more") == ""  # ours is longer
    assert await backend._rest_of(remote, "unknown", "x") == ""
    # Text lost mid-way: the stored reply is longer but does not extend what was shown.
    with pytest.raises(errors.Interrupted) as caught:
        await backend._rest_of(remote, "hi", TEXT[:10] + TEXT[20:40])
    assert caught.value.maybe_stored


@pytest.mark.parametrize(
    ("status", "options", "error", "stored"),
    [
        (401, {}, errors.Unauthorized, False),
        (400, {}, errors.Rejected, False),
        (429, {"kind": "quota"}, errors.QuotaExceeded, False),
        (429, {"retry_after": 120}, errors.RateLimited, False),
        (500, {}, errors.Unavailable, True),
    ],
)
async def test_aurora_errors_say_whether_the_reply_may_be_stored(
    aurora: AuroraFake,
    make_aurora: Callable[..., AuroraBackend],
    status: int,
    options: dict[str, Any],
    error: type[Exception],
    stored: bool,
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.fail_next(status, **options)
    _, caught = await collect_until_error(backend, remote, "hi")
    assert type(caught) is error and caught.maybe_stored is stored
    assert posts(aurora) == 1


async def test_aurora_500_after_generating_is_found(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with("generated anyway")
    aurora.fail_next(500, server_finishes=True)
    _, caught = await collect_until_error(backend, remote, "hi")
    assert caught.maybe_stored
    assert await backend.find_reply(remote, "hi") == "generated anyway"


async def test_aurora_alternative_quota_body_is_a_quota_error(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend]
) -> None:
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    body = {
        "statusCode": 429,
        "error": "Too Many Requests",
        "message": "You have exceeded your Message/TTS quota.",
    }
    aurora.fail_next(429, body=body, headers={"retry-after": "1"})
    _, caught = await collect_until_error(backend, remote, "hi")
    assert isinstance(caught, errors.QuotaExceeded) and not caught.maybe_stored
    assert posts(aurora) == 1  # a quota error is not retried like throttling


# --- Cody -------------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [True, False])
async def test_cody_find_reply_reads_the_history_and_sends_nothing(
    cody: CodyFake, make_cody: Callable[..., CodyBackend], streaming: bool
) -> None:
    backend = make_cody(streaming=streaming)
    remote = await backend.create_conversation("t")
    cody.reply_with("first answer")
    await collect(backend, remote, "same question")
    cody.reply_with("second answer")
    await collect(backend, remote, "same question")
    sent = posts(cody)
    assert await backend.find_reply(remote, "same question") == "second answer"
    assert await backend.find_reply(remote, "never asked") is None
    assert posts(cody) == sent
    assert reads(cody) == 2


async def test_cody_find_reply_pages_back(
    cody: CodyFake, make_cody: Callable[..., CodyBackend]
) -> None:
    backend = make_cody()
    remote = await backend.create_conversation("t")
    cody.reply_with("the old answer")
    await collect(backend, remote, "old question")
    for i in range(12):
        await collect(backend, remote, f"filler {i}")
    assert await backend.find_reply(remote, "old question") == "the old answer"
    pages = [r for r in cody.requests if r.method == "GET" and r.path.endswith("/messages")]
    assert len(pages) == 3  # 10 a page; 24 turns after the prompt


async def test_cody_500_after_the_post_is_maybe_stored(
    cody: CodyFake, make_cody: Callable[..., CodyBackend]
) -> None:
    backend = make_cody()
    remote = await backend.create_conversation("t")
    cody.fail_next(500)
    _, caught = await collect_until_error(backend, remote, "hi")
    assert isinstance(caught, errors.Unavailable) and caught.maybe_stored
    # Cody stored the user turn and a failed bot turn: that is no reply.
    assert await backend.find_reply(remote, "hi") is None
    cody.reply_with("generated anyway")
    cody.fail_next(500, server_finishes=True)
    _, caught = await collect_until_error(backend, remote, "again")
    assert caught.maybe_stored
    assert await backend.find_reply(remote, "again") == "generated anyway"
    assert cody.messages_sent == ["hi", "again"]


@pytest.mark.parametrize(
    ("status", "options", "error"),
    [
        (401, {}, errors.Unauthorized),
        (402, {}, errors.QuotaExceeded),
        (422, {}, errors.Rejected),
        (429, {"retry_after": 120}, errors.RateLimited),
    ],
)
async def test_cody_refusals_before_storing_are_not_maybe_stored(
    cody: CodyFake,
    make_cody: Callable[..., CodyBackend],
    status: int,
    options: dict[str, Any],
    error: type[Exception],
) -> None:
    backend = make_cody()
    remote = await backend.create_conversation("t")
    cody.fail_next(status, **options)
    _, caught = await collect_until_error(backend, remote, "hi")
    assert type(caught) is error and not caught.maybe_stored


@pytest.mark.parametrize(
    ("fault", "fault_after", "error"),
    [
        ("drop", 2, errors.Interrupted),
        ("close", 2, errors.Interrupted),
        ("drop", 0, errors.Unavailable),
        ("wrong_content_type", 0, errors.Unavailable),
    ],
)
async def test_cody_stream_breaks_are_maybe_stored_and_found(
    cody: CodyFake,
    make_cody: Callable[..., CodyBackend],
    fault: Any,
    fault_after: int,
    error: type[Exception],
) -> None:
    backend = make_cody()
    remote = await backend.create_conversation("t")
    cody.reply_with(TEXT, chunk_size=5, fault=fault, fault_after=fault_after, server_finishes=True)
    pieces, caught = await collect_until_error(backend, remote, "hi")
    assert type(caught) is error and caught.maybe_stored
    assert "".join(pieces) == TEXT[: 5 * fault_after]
    assert await backend.find_reply(remote, "hi") == TEXT
    assert posts(cody) == 1


async def test_cody_blocking_timeout_is_maybe_stored(
    cody: CodyFake, make_cody: Callable[..., CodyBackend]
) -> None:
    backend = make_cody(streaming=False, read_timeout=0.5, reply_deadline=1.0)
    remote = await backend.create_conversation("t")
    cody.reply_with(TEXT, fault="stall", server_finishes=True)
    async with asyncio.timeout(20):
        _, caught = await collect_until_error(backend, remote, "hi")
    assert isinstance(caught, errors.Unavailable) and caught.maybe_stored
    assert await backend.find_reply(remote, "hi") == TEXT


async def test_cody_stream_host_refused_is_not_maybe_stored(
    cody: CodyFake, make_cody: Callable[..., CodyBackend]
) -> None:
    # A configuration problem: nothing was generated, and the notice should say what is wrong.
    backend = make_cody(stream_hosts=["elsewhere.example"])
    remote = await backend.create_conversation("t")
    _, caught = await collect_until_error(backend, remote, "hi")
    assert isinstance(caught, errors.Unavailable) and not caught.maybe_stored


async def test_cody_stream_host_unreachable_after_the_post_is_maybe_stored(
    cody: CodyFake, make_cody: Callable[..., CodyBackend]
) -> None:
    cody.stream_port = free_port()  # stream URLs now point where nobody listens
    backend = make_cody(stream_hosts=[cody.stream_host])
    remote = await backend.create_conversation("t")
    _, caught = await collect_until_error(backend, remote, "hi")
    assert isinstance(caught, errors.Unavailable) and caught.maybe_stored
    assert cody.messages_sent == ["hi"]
