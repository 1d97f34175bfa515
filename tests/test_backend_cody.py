"""The Cody backend over real sockets against the loopback Cody fake (API and stream listeners),
plus pure tests of Retry-After parsing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.utils import formatdate

import pytest
from pydantic import SecretStr

from core.backends import build_backends
from core.backends.aurora import AuroraBackend
from core.backends.cody import CodyBackend, stream_url_allowed
from core.backends.http import parse_ratelimit_reset, parse_retry_after
from core.config import AuroraSettings, CodySettings
from core.errors import (
    Interrupted,
    QuotaExceeded,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
)
from core.logs import Redactor
from tests.fakes.cody import QUOTA, CodyFake
from tests.harness import CODY_KEY, collect, collect_until_error, production_logs

API_KEY = CODY_KEY
TEXT = "Streams arrive as chunks; the bridge shows them as they come."

MakeBackend = Callable[..., CodyBackend]


def sends(fake: CodyFake) -> int:
    """POSTs to either send endpoint."""
    return sum(
        1 for r in fake.requests if r.method == "POST" and r.path.startswith("/api/v1/messages")
    )


async def conversation(backend: CodyBackend) -> dict[str, str]:
    return await backend.create_conversation("test channel")


# -- streaming ---------------------------------------------------------------------------------


async def test_create_conversation(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    assert backend.remote_keys() == ("conversation_id",)
    assert cody.conversations == [remote["conversation_id"]]
    assert cody.requests[-1].json == {"name": "test channel", "bot_id": "bot1"}


async def test_unknown_bot_is_rejected(make_cody: MakeBackend):
    with pytest.raises(Rejected, match=r"The selected bot id is invalid\."):
        await conversation(make_cody(bot_id="nope"))


async def test_stream_equals_script(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.reply_with(TEXT, chunk_size=6, chunk_delay=0.01)
    pieces = await collect(backend, remote, "hello")
    assert pieces == [TEXT[i : i + 6] for i in range(0, len(TEXT), 6)]
    assert cody.messages_sent == ["hello"]
    post = next(r for r in cody.requests if r.path == "/api/v1/messages/stream")
    assert post.json == {
        "content": "hello",
        "conversation_id": remote["conversation_id"],
        "redirect": False,
    }
    assert len(cody.stream_requests) == 1


async def test_key_never_reaches_the_stream_host(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.strict_stream = False  # accept it if it came, so only the log decides
    await collect(backend, remote, "hello")
    stream_gets = [r for r in cody.requests if not r.path.startswith("/api/")]
    assert len(stream_gets) == 1
    assert "authorization" not in stream_gets[0].headers
    assert cody.stream_auth_seen == 0


async def test_noise_is_skipped(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.reply_with(TEXT, chunk_size=9, noise=True, crlf=True)
    assert "".join(await collect(backend, remote, "hi")) == TEXT


async def test_stream_host_outside_allowlist_is_refused(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody(stream_hosts=["stream.aimcaiface.com"])
    remote = await conversation(backend)
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert (pieces, type(error)) == ([], Unavailable)
    assert "not in stream_hosts" in str(error)
    assert cody.stream_requests == []


async def test_stream_host_with_other_port_is_refused(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody(stream_hosts=[f"127.0.0.1:{cody.port}"])
    remote = await conversation(backend)
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Unavailable)
    assert cody.stream_requests == []


def test_stream_url_rules():
    assert stream_url_allowed("https://stream.aimcaiface.com/t", ["stream.aimcaiface.com"]) is None
    assert stream_url_allowed("http://stream.aimcaiface.com/t", ["stream.aimcaiface.com"])
    assert stream_url_allowed("https://evil.example/t", ["stream.aimcaiface.com"])
    assert (
        stream_url_allowed("https://stream.aimcaiface.com:8443/t", ["stream.aimcaiface.com"])
        is None
    )
    assert stream_url_allowed("https://stream.aimcaiface.com:8443/t", ["stream.aimcaiface.com:443"])
    assert stream_url_allowed("http://localhost:9/t", ["localhost:9"]) is None
    assert stream_url_allowed("not a url", ["stream.aimcaiface.com"])


async def test_drop_mid_stream_is_interrupted(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.reply_with(TEXT, chunk_size=5, fault="drop", fault_after=2)
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Interrupted)
    assert "".join(pieces) == TEXT[:10]
    assert cody.messages_sent == ["hi"]
    assert sends(cody) == 1 and len(cody.stream_requests) == 1


async def test_close_without_end_is_interrupted(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.reply_with(TEXT, chunk_size=5, fault="close", fault_after=3)
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Interrupted)
    assert "".join(pieces) == TEXT[:15]


async def test_close_before_text_is_unavailable(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.reply_with(TEXT, fault="close", fault_after=0)
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert (pieces, type(error)) == ([], Unavailable)
    assert sends(cody) == 1 and len(cody.stream_requests) == 1


async def test_stall_is_interrupted_after_read_timeout(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody(read_timeout=0.5)
    remote = await conversation(backend)
    cody.reply_with(TEXT, chunk_size=5, fault="stall", fault_after=1)
    async with asyncio.timeout(10):
        pieces, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Interrupted)
    assert pieces == [TEXT[:5]]


async def test_wrong_content_type_is_unavailable(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.reply_with(TEXT, fault="wrong_content_type")
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert (pieces, type(error)) == ([], Unavailable)


async def test_consumer_stopping_early_closes_the_stream(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.reply_with(TEXT, chunk_size=5, fault="stall", fault_after=2)
    stream = backend.reply(remote, "hi")
    assert await anext(stream) == TEXT[:5]
    assert cody.open_streams == 1
    await stream.aclose()  # type: ignore[attr-defined]
    async with asyncio.timeout(10):
        await cody.wait_streams_closed()


async def test_stream_url_and_key_never_logged(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    redactor = Redactor([API_KEY], capability_hosts=backend.stream_hosts)
    with production_logs(redactor) as logs:
        remote = await conversation(backend)
        cody.reply_with(TEXT, noise=True)
        await collect(backend, remote, "hi")
        cody.reply_with(TEXT, fault="drop", fault_after=1)
        await collect_until_error(backend, remote, "hi")
    text = logs.getvalue()
    tokens = [path.lstrip("/") for path in cody.stream_requests]
    assert len(tokens) == 2 and cody.stream_host in text  # httpx did log the stream requests
    for token in tokens:
        assert token not in text
    assert API_KEY not in text


# -- errors and retries ------------------------------------------------------------------------


async def test_wrong_key_is_unauthorized(cody: CodyFake, make_cody: MakeBackend):
    remote = await conversation(make_cody())
    wrong = "wrong-key-abcdefghijklmnopqrstuvwxyz0123456789"
    bad = make_cody(token=SecretStr(wrong))
    _, error = await collect_until_error(bad, remote, "hi")
    assert isinstance(error, Unauthorized)
    assert wrong not in str(error) and API_KEY not in str(error)
    with pytest.raises(Unauthorized):
        await bad.check()
    assert cody.messages_sent == []


async def test_check(make_cody: MakeBackend):
    report = await make_cody().check()
    assert "bot1" in report and "found" in report


@pytest.mark.parametrize("streaming", [True, False])
async def test_quota_402(cody: CodyFake, make_cody: MakeBackend, streaming: bool):
    backend = make_cody(streaming=streaming)
    remote = await conversation(backend)
    cody.fail_next(402, count=3)
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, QuotaExceeded)
    assert sends(cody) == 1
    assert cody.requests[-1].json["content"] == "hi"
    assert QUOTA["message"].startswith("You have reached the message limit for last 30 days")


async def test_too_long_is_refused_before_sending(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    _, error = await collect_until_error(backend, remote, "x" * 2001)
    assert isinstance(error, Rejected)
    assert sends(cody) == 0


async def test_server_422_is_rejected_with_its_message(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody(max_input_chars=5000)  # let the fake's own validation answer
    remote = await conversation(backend)
    _, error = await collect_until_error(backend, remote, "x" * 2001)
    assert isinstance(error, Rejected)
    assert str(error) == "The content field must not be greater than 2000 characters."
    _, error = await collect_until_error(backend, {"conversation_id": "unknown00000"}, "hi")
    assert str(error) == "The selected conversation id is invalid."
    assert cody.messages_sent == []


async def test_short_throttle_is_retried_and_sent_once(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.fail_next(429, retry_after=0.1)
    cody.reply_with("made it")
    assert "".join(await collect(backend, remote, "hi")) == "made it"
    assert sends(cody) == 2
    assert cody.messages_sent == ["hi"]


async def test_throttle_with_http_date(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody(max_retry_after=5)
    remote = await conversation(backend)
    cody.fail_next(429, headers={"retry-after": formatdate(time.time() + 120, usegmt=True)})
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, RateLimited)
    assert error.retry_after is not None and 100 < error.retry_after <= 120
    assert sends(cody) == 1


async def test_throttle_falls_back_to_ratelimit_reset_timestamp(
    cody: CodyFake, make_cody: MakeBackend
):
    backend = make_cody(max_retry_after=5)
    remote = await conversation(backend)
    cody.fail_next(429, retry_after=None, headers={"x-ratelimit-reset": str(int(time.time()) + 90)})
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, RateLimited)
    assert error.retry_after is not None and 80 < error.retry_after <= 90


async def test_server_error_is_not_retried(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody()
    remote = await conversation(backend)
    cody.fail_next(500)
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Unavailable)
    assert cody.messages_sent == ["hi"]
    assert sends(cody) == 1


async def test_deadline_interrupts_a_trickle(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody(reply_deadline=0.6)
    remote = await conversation(backend)
    cody.reply_with(TEXT, chunk_size=1, chunk_delay=0.1)
    async with asyncio.timeout(10):
        pieces, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Interrupted)
    assert 0 < len("".join(pieces)) < len(TEXT)


# -- blocking mode -----------------------------------------------------------------------------


async def test_blocking_reply_is_one_piece(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody(streaming=False)
    remote = await conversation(backend)
    cody.reply_with(TEXT, chunk_size=3)
    assert await collect(backend, remote, "hi") == [TEXT]
    assert cody.requests[-1].path == "/api/v1/messages"
    assert cody.stream_requests == []


async def test_blocking_failed_responding_is_unavailable(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody(streaming=False)
    remote = await conversation(backend)
    cody.reply_with(TEXT, fault="failed")
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert pieces == [] and isinstance(error, Unavailable)
    assert "Sorry" not in str(error)


async def test_blocking_drop_is_unavailable_and_not_retried(cody: CodyFake, make_cody: MakeBackend):
    backend = make_cody(streaming=False)
    remote = await conversation(backend)
    cody.reply_with(TEXT, fault="drop")
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Unavailable)
    assert cody.messages_sent == ["hi"] and sends(cody) == 1


# -- factory and parsing -----------------------------------------------------------------------


async def test_build_backends_by_kind():
    backends = build_backends(
        {
            "a": CodySettings(kind="cody", token=SecretStr("k"), bot_id="b"),
            "b": AuroraSettings(kind="aurora", token=SecretStr("t"), character_id=1),
        }
    )
    try:
        assert isinstance(backends["a"], CodyBackend) and backends["a"].name == "a"
        assert isinstance(backends["b"], AuroraBackend)
        assert backends["a"].max_input_chars == 2000
    finally:
        for backend in backends.values():
            await backend.aclose()


def test_parse_retry_after():
    now = 1_700_000_000.0
    assert parse_retry_after("5", now=now) == 5
    assert parse_retry_after(" 2.5 ", now=now) == 2.5
    assert parse_retry_after("-3", now=now) == 0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0  # already past
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None
    assert parse_retry_after("nan", now=now) is None


def test_parse_ratelimit_reset():
    now = 1_700_000_000.0
    assert parse_ratelimit_reset(str(int(now) + 40), epoch=True, now=now) == 40
    assert parse_ratelimit_reset("40", epoch=False, now=now) == 40
    assert parse_ratelimit_reset(str(int(now) - 5), epoch=True, now=now) == 0
    assert parse_ratelimit_reset("x", epoch=False, now=now) is None
