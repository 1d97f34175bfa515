"""The Aurora backend over real sockets against the loopback Aurora fake."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from core.allowances import refundable
from core.backends.aurora import AuroraBackend
from core.errors import (
    Interrupted,
    QuotaExceeded,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
)
from tests.fakes.aurora import AuroraFake
from tests.harness import AURORA_TOKEN, collect, collect_until_error

TOKEN = AURORA_TOKEN
TEXT = "Once upon a time, a small fox learned to stream replies."

MakeBackend = Callable[..., AuroraBackend]


def posts_to_message(fake: AuroraFake) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path.endswith("/message"))


async def test_create_conversation_makes_a_chat(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora()
    remote = await backend.create_conversation("ignored")
    assert set(remote) == set(backend.remote_keys()) == {"character_id", "chat_id"}
    assert remote["character_id"] == "42"
    assert aurora.chats[int(remote["chat_id"])] == 42
    assert aurora.requests[-1].json == {"characterId": 42}


async def test_stream_equals_script(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=5, chunk_delay=0.01)
    pieces = await collect(backend, remote, "tell me a story")
    assert "".join(pieces) == TEXT
    assert pieces == [TEXT[i : i + 5] for i in range(0, len(TEXT), 5)]
    assert aurora.messages_sent == ["tell me a story"]
    sent = aurora.requests[-1]  # a reply that ends like a finished one is not checked
    assert sent.json == {
        "characterId": 42,
        "chatId": int(remote["chat_id"]),
        "message": "tell me a story",
    }
    assert sent.headers["x-access-token"] == "<redacted>"


async def test_default_reply_echoes(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    assert "".join(await collect(backend, remote, "ping")) == "echo: ping"


async def test_keepalives_and_junk_lines_are_skipped(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=7, noise=True, crlf=True)
    assert "".join(await collect(backend, remote, "hi")) == TEXT


async def test_drop_mid_stream_is_interrupted_with_partial_text(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=4, fault="drop", fault_after=3)
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Interrupted)
    assert "".join(pieces) == TEXT[:12]
    assert aurora.messages_sent == ["hi"]
    assert posts_to_message(aurora) == 1


async def test_drop_before_text_is_unavailable(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, fault="drop", fault_after=0)
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert pieces == []
    assert isinstance(error, Unavailable)
    assert posts_to_message(aurora) == 1


async def test_graceful_early_close_is_the_end(aurora: AuroraFake, make_aurora: MakeBackend):
    # Aurora has no end marker, so a clean close cannot be told from a complete reply; with no
    # stored reply to compare with (this script stores none), what came is the reply.
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=4, fault="close", fault_after=2)
    assert "".join(await collect(backend, remote, "hi")) == TEXT[:8]


async def test_stall_is_interrupted_after_read_timeout(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    backend = make_aurora(read_timeout=0.5)
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=4, fault="stall", fault_after=1)
    async with asyncio.timeout(10):
        pieces, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Interrupted)
    assert pieces == [TEXT[:4]]


async def test_stall_before_text_is_unavailable(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora(read_timeout=0.5)
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, fault="stall", fault_after=0)
    async with asyncio.timeout(10):
        pieces, error = await collect_until_error(backend, remote, "hi")
    assert (pieces, type(error)) == ([], Unavailable)


async def test_reply_deadline_interrupts_a_trickle(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora(reply_deadline=0.6)
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=1, chunk_delay=0.1)
    async with asyncio.timeout(10):
        pieces, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Interrupted)
    assert 0 < len("".join(pieces)) < len(TEXT)


async def test_wrong_content_type_is_unavailable(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, fault="wrong_content_type")
    pieces, error = await collect_until_error(backend, remote, "hi")
    assert (pieces, type(error)) == ([], Unavailable)


async def test_consumer_stopping_early_closes_the_connection(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, chunk_size=4, fault="stall", fault_after=2)
    stream = backend.reply(remote, "hi")
    assert await anext(stream) == TEXT[:4]
    assert aurora.open_streams == 1
    await stream.aclose()  # type: ignore[attr-defined]
    async with asyncio.timeout(10):
        await aurora.wait_streams_closed()


async def test_wrong_token_is_unauthorized_without_the_token(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    good = make_aurora()
    remote = await good.create_conversation("t")
    wrong = "wrong-token-abcdefghijklmnopqrstuvwxyz0123456789"
    bad = make_aurora(token=SecretStr(wrong))
    _, error = await collect_until_error(bad, remote, "hi")
    assert isinstance(error, Unauthorized)
    assert wrong not in str(error) and TOKEN not in str(error)
    with pytest.raises(Unauthorized):
        await bad.check()
    assert aurora.messages_sent == []


async def test_check_reads_the_quota_and_finds_the_character(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    report = await make_aurora().check()
    assert "Free" in report and "0/1000" in report and "(Luna)" in report
    paths = [r.path for r in aurora.requests[-2:]]
    assert paths == ["/api/v11/user/quota", "/api/v11/character"]


async def test_quota_429_is_not_retried(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.fail_next(429, kind="quota", count=3)
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, QuotaExceeded)
    assert posts_to_message(aurora) == 1


async def test_short_throttle_is_retried_and_sent_once(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.fail_next(429, retry_after=0.1)
    aurora.reply_with("after the wait")
    assert "".join(await collect(backend, remote, "hi")) == "after the wait"
    assert posts_to_message(aurora) == 2
    assert aurora.messages_sent == ["hi"]


async def test_long_throttle_is_raised_with_its_wait(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora(max_retry_after=5)
    remote = await backend.create_conversation("t")
    aurora.fail_next(429, retry_after=30)
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 30
    assert posts_to_message(aurora) == 1


async def test_throttle_without_retry_after_uses_ratelimit_reset_seconds(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    backend = make_aurora(max_retry_after=5)
    remote = await backend.create_conversation("t")
    aurora.fail_next(429, retry_after=None, headers={"x-ratelimit-reset": "42"})
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, RateLimited) and error.retry_after == 42


async def test_throttle_retries_are_capped(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora(max_retries=2)
    remote = await backend.create_conversation("t")
    aurora.fail_next(429, retry_after=0.05, count=5)
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, RateLimited)
    assert posts_to_message(aurora) == 3
    assert aurora.messages_sent == []


async def test_server_error_is_not_retried(aurora: AuroraFake, make_aurora: MakeBackend):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.fail_next(500)
    _, error = await collect_until_error(backend, remote, "hi")
    assert isinstance(error, Unavailable)
    assert aurora.messages_sent == ["hi"]
    assert posts_to_message(aurora) == 1


async def test_foreign_chat_is_rejected_with_the_server_message(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    _, error = await collect_until_error(backend, {**remote, "character_id": "7"}, "hi")
    assert isinstance(error, Rejected)
    assert str(error).startswith("One or more API parameters are malformed")


async def test_non_numeric_binding_is_rejected_before_sending(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    backend = make_aurora()
    _, error = await collect_until_error(backend, {"character_id": "42", "chat_id": "x"}, "hi")
    assert isinstance(error, Rejected)
    assert posts_to_message(aurora) == 0


async def test_unreachable_server_is_unavailable(make_aurora: MakeBackend):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = make_aurora(base_url=f"http://127.0.0.1:{port}/api/v11", max_retries=1)
    with pytest.raises(Unavailable):
        await backend.check()


async def test_token_never_logged(
    aurora: AuroraFake, make_aurora: MakeBackend, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.fail_next(429, retry_after=0.05)
    aurora.reply_with(TEXT, noise=True)
    await collect(backend, remote, "hi")
    assert caplog.records
    assert TOKEN not in caplog.text


class _SeenRetry(logging.Handler):
    """Sets an event when the backend logs a connect retry."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to connect" in record.getMessage():
            self.seen.set()


async def test_connect_errors_are_retried_and_the_message_sent_once(make_aurora: MakeBackend):
    watcher = _SeenRetry()
    log = logging.getLogger("core.backends.aurora")
    log.addHandler(watcher)
    log.setLevel(logging.INFO)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    late = AuroraFake(token=TOKEN, character_id=42, port=port)
    late.chats[7] = 42
    late.history[7] = []
    backend = make_aurora(base_url=f"http://127.0.0.1:{port}/api/v11", max_retries=5)
    task = asyncio.create_task(collect(backend, {"character_id": "42", "chat_id": "7"}, "hi"))
    try:
        async with asyncio.timeout(10):
            # Start the server only once the backend has seen the connection refused.
            await watcher.seen.wait()
            await late.start()
            assert "".join(await task) == "echo: hi"
        assert late.messages_sent == ["hi"]
    finally:
        task.cancel()
        await late.stop()
        log.removeHandler(watcher)
        log.setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("status", "kind", "taken"),
    [
        (400, "plain", False),
        (401, "plain", False),
        (404, "plain", False),
        (422, "plain", False),
        (429, "quota", False),
        (500, "plain", True),
        (503, "plain", True),
    ],
)
async def test_a_4xx_to_the_prompt_proves_it_was_not_taken(
    aurora: AuroraFake, make_aurora: MakeBackend, status: int, kind: str, taken: bool
) -> None:
    backend = make_aurora(max_retries=0)
    remote = await backend.create_conversation("t")
    aurora.fail_next(status, kind=kind)
    _, error = await collect_until_error(backend, remote, "hi")
    assert error is not None
    assert refundable(error) is not taken


async def test_a_refused_connection_proves_the_prompt_was_not_taken(make_aurora: MakeBackend):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    backend = make_aurora(base_url=f"http://127.0.0.1:{port}/api/v11", max_retries=0)
    _, error = await collect_until_error(backend, {"character_id": "42", "chat_id": "7"}, "hi")
    assert isinstance(error, Unavailable) and refundable(error)


async def test_a_drop_after_the_prompt_left_stays_charged(
    aurora: AuroraFake, make_aurora: MakeBackend
):
    backend = make_aurora()
    remote = await backend.create_conversation("t")
    aurora.reply_with(TEXT, fault="drop", fault_after=0)
    _, error = await collect_until_error(backend, remote, "hi")
    assert error is not None and not refundable(error)
