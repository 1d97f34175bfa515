"""The upstream failure policy: a failed stream completed from the upstream's history, the quota
pause, the notice for an error. Real backends on the loopback fakes and a real Redis; a scripted
backend where the fakes cannot say it (a history that contradicts the stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from core import errors, notices
from core.backends.aurora import AuroraBackend
from core.backends.base import Backend
from core.backends.cody import CodyBackend
from core.pacing import PacingBoard
from core.render import ReplyRenderer
from core.store.redis import RedisStore
from core.upstream import Upstream
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.surface import MemorySurface

TEXT = "A reply long enough to be cut in several pieces, so a break can land mid-way."


@pytest.fixture
async def store(redis_url: str, prefix: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(redis_url, prefix=prefix)
    yield store
    await store.aclose()


@pytest.fixture(autouse=True)
def quick_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """The history is looked up again while the upstream may still store the reply: not for
    seconds here."""
    monkeypatch.setattr("core.upstream.FIND_REPLY_WAITS", (0.01, 0.01))


async def upstream_of(backend: Backend, store: RedisStore) -> tuple[Upstream, dict[str, str]]:
    """The policy over ``backend`` alone, and a new conversation on it."""
    upstream = Upstream(store=store, backends={backend.name: backend})
    return upstream, await backend.create_conversation("t")


def history_reads(fake: AuroraFake | CodyFake) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and r.path.endswith("/messages"))


async def read(deltas: AsyncIterator[str]) -> tuple[list[str], BaseException | None]:
    """The deltas a consumer got, and the error that ended them (None when they ended well)."""
    pieces: list[str] = []
    try:
        async for piece in deltas:
            pieces.append(piece)
    except Exception as exc:
        return pieces, exc
    return pieces, None


class Scripted(Backend):
    """A backend whose stream and stored history are given: what the fakes cannot do."""

    name = kind = "scripted"

    def __init__(self, deltas: list[str], error: Exception, stored: str | None) -> None:
        self._deltas, self._error, self._stored = deltas, error, stored
        self.closed = False
        self.lookups = 0

    async def create_conversation(self, title: str) -> dict[str, str]:
        return {}

    async def reply(self, remote: dict[str, str], text: str) -> AsyncIterator[str]:
        try:
            for delta in self._deltas:
                yield delta
            raise self._error
        finally:
            self.closed = True

    async def find_reply(self, remote: dict[str, str], prompt: str) -> str | None:
        self.lookups += 1
        return self._stored

    async def check(self) -> str:
        return "scripted"


async def test_a_broken_stream_is_completed_from_the_history(
    cody: CodyFake, make_cody: Callable[..., CodyBackend], store: RedisStore
) -> None:
    backend = make_cody()
    upstream, remote = await upstream_of(backend, store)
    cody.reply_with(TEXT, chunk_size=6, fault="drop", fault_after=3, server_finishes=True)
    pieces, error = await read(upstream.reply(backend, remote, "tell me"))
    assert error is None
    assert "".join(pieces) == TEXT
    # What streamed came as it was; the rest in one piece, from the history.
    assert pieces[:-1] == [TEXT[i : i + 6] for i in range(0, 18, 6)] and len(pieces) == 4
    assert cody.messages_sent == ["tell me"]


async def test_a_reply_not_stored_ends_with_the_streams_own_error(
    cody: CodyFake, make_cody: Callable[..., CodyBackend], store: RedisStore
) -> None:
    backend = make_cody()
    upstream, remote = await upstream_of(backend, store)
    cody.reply_with("Only this much arrives", chunk_size=5, fault="drop", fault_after=2)
    pieces, error = await read(upstream.reply(backend, remote, "and this?"))
    assert "".join(pieces) == "Only this "
    assert isinstance(error, errors.Interrupted) and error.maybe_stored
    assert history_reads(cody) == 3  # looked up again while it might still be stored


@pytest.mark.parametrize(("status", "error"), [(401, errors.Unauthorized), (400, errors.Rejected)])
async def test_a_refusal_before_storing_is_raised_without_a_lookup(
    aurora: AuroraFake,
    make_aurora: Callable[..., AuroraBackend],
    store: RedisStore,
    status: int,
    error: type[Exception],
) -> None:
    backend = make_aurora()
    upstream, remote = await upstream_of(backend, store)
    aurora.fail_next(status)
    pieces, caught = await read(upstream.reply(backend, remote, "hi"))
    assert pieces == [] and type(caught) is error
    assert history_reads(aurora) == 0
    assert await store.get_cooldowns() == {}


async def test_a_quota_error_pauses_the_backend_before_it_is_raised(
    aurora: AuroraFake, make_aurora: Callable[..., AuroraBackend], store: RedisStore
) -> None:
    backend = make_aurora(quota_cooldown=600)
    upstream, remote = await upstream_of(backend, store)
    aurora.fail_next(429, kind="quota")
    deltas = upstream.reply(backend, remote, "hi")
    with pytest.raises(errors.QuotaExceeded) as caught:
        await anext(deltas)
    # The cooldown is in the store by the time the consumer sees the error.
    cooldowns = await store.get_cooldowns()
    assert 500 < cooldowns[backend.name] <= 600
    assert history_reads(aurora) == 0
    assert upstream.notice_for(backend, caught.value) == str(notices.quota(600))


async def test_a_stored_reply_that_does_not_extend_the_shown_text_is_not_used(
    store: RedisStore,
) -> None:
    broke = errors.Interrupted("stream broke")
    broke.maybe_stored = True
    backend = Scripted(["Once upon ", "a time"], broke, stored="Twice upon a time, the end.")
    upstream = Upstream(store=store, backends={backend.name: backend})
    pieces, error = await read(upstream.reply(backend, {}, "tell"))
    assert pieces == ["Once upon ", "a time"] and error is broke
    assert backend.lookups == 1  # a reply was found, so not looked up again
    # Stored exactly as shown: nothing is missing, and the reply ends well.
    whole = Scripted(["Once upon ", "a time."], broke, stored="Once upon a time.")
    pieces, error = await read(upstream.reply(whole, {}, "tell"))
    assert pieces == ["Once upon ", "a time."] and error is None


async def test_the_backends_stream_is_closed_with_the_reply(store: RedisStore) -> None:
    """A consumer that stops early (a chat that blocked the bot) closes the upstream stream at
    once, not when the garbage collector finds it."""
    backend = Scripted(["one ", "two "], errors.Interrupted(), stored=None)
    deltas = Upstream(store=store, backends={}).reply(backend, {}, "hi")
    assert await anext(deltas) == "one "
    await deltas.aclose()  # type: ignore[attr-defined]
    assert backend.closed


async def test_the_renderer_shows_a_completed_reply_whole(
    cody: CodyFake, make_cody: Callable[..., CodyBackend], store: RedisStore
) -> None:
    backend = make_cody()
    upstream, remote = await upstream_of(backend, store)
    surface = MemorySurface()
    renderer = ReplyRenderer(surface, PacingBoard(), notice_for=notices.for_error)
    cody.reply_with(TEXT, chunk_size=6, fault="drop", fault_after=3, server_finishes=True)
    result = await renderer.render(upstream.reply(backend, remote, "tell me"))
    assert result.error is None and result.text == TEXT
    assert surface.messages == [TEXT]
    # Not stored: the partial text ends with the notice for the stream's error.
    surface = MemorySurface()
    renderer = ReplyRenderer(surface, PacingBoard(), notice_for=notices.for_error)
    cody.reply_with("Only this much arrives", chunk_size=5, fault="drop", fault_after=2)
    result = await renderer.render(upstream.reply(backend, remote, "and this?"))
    assert isinstance(result.error, errors.Interrupted)
    assert surface.messages == [f"Only this\n\n{notices.interrupted()}"]


async def test_one_policy_for_a_failed_call_outside_a_reply(
    make_aurora: Callable[..., AuroraBackend], store: RedisStore
) -> None:
    """What the admin operations use when a backend fails them: counted, logged, a quota error
    pauses the backend, and the notice says how long (the wait the upstream gave, else the
    backend's own)."""
    backend = make_aurora(quota_cooldown=600)
    upstream = Upstream(store=store, backends={backend.name: backend})
    told = errors.QuotaExceeded("used up", cooldown=120)
    await upstream.failed(backend, told)
    assert 100 < (await store.get_cooldowns())[backend.name] <= 120
    assert upstream.error_notice(backend, told) == notices.quota(120)
    assert upstream.error_notice(backend, errors.QuotaExceeded()) == notices.quota(600)
    assert upstream.error_notice(backend, errors.Unauthorized()) == notices.unauthorized()
    await upstream.failed(backend, errors.Unavailable(), pause=True)
    assert list(await store.get_cooldowns()) == [backend.name]  # only a quota error pauses
