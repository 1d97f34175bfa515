"""Admin operations on conversations (bind, reset, mode, status) against real Redis and fakes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from bots.runtime import Runtime, open_runtime
from core.errors import CommandError
from core.model import Incoming, Origin, ReplyMode, Scope
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.surface import MemorySurface
from tests.harness import aurora_backend, cody_backend, make_settings


@pytest.fixture
async def rt(
    aurora: AuroraFake, cody: CodyFake, redis_url: str, prefix: str
) -> AsyncIterator[Runtime]:
    """The runtime with two backends, Aurora as ``luna`` (the default) and Cody as ``assistant``."""
    settings = make_settings(
        backends={"luna": aurora_backend(aurora), "assistant": cody_backend(cody)},
        redis_url=redis_url,
        prefix=prefix,
        relay={"default_backend": "luna"},
    )
    async with open_runtime(settings) as rt:
        yield rt


async def test_admin_operations_bind_reset_mode_status(rt: Runtime, cody: CodyFake) -> None:
    relay = rt.bridge.conversations
    bound = await relay.bind("t:9", "assistant", [], by="admin:1")
    assert bound.remote == {"conversation_id": cody.conversations[0]}
    again = await relay.reset("t:9", by="admin:1")
    assert again.backend == "assistant"
    assert again.remote["conversation_id"] != bound.remote["conversation_id"]
    stored = await rt.store.get_binding("t:9")
    assert stored == again
    await relay.bind("t:9", "luna", ["42", "7"], by="admin:1")
    status = await relay.status("t:9")
    assert status.binding is not None and status.binding.remote == {
        "character_id": "42",
        "chat_id": "7",
    }
    assert "luna" in status.describe()
    await relay.set_mode("t:9", ReplyMode.ALL)
    assert await relay.mode("t:9", ReplyMode.MENTIONS) is ReplyMode.ALL
    assert await relay.unbind("t:9") is True
    assert await rt.store.get_binding("t:9") is None


async def test_bad_admin_input_gets_a_short_answer(luna: Runtime) -> None:
    with pytest.raises(CommandError, match="no backend called 'nope'"):
        await luna.bridge.conversations.bind("t:1", "nope", [], by="a")
    with pytest.raises(CommandError, match="Usage: /bind luna <character_id> <chat_id>"):
        await luna.bridge.conversations.bind("t:1", "luna", ["42"], by="a")


async def test_in_user_scope_each_conversation_starts_on_the_channels_backend(
    rt: Runtime, aurora: AuroraFake, cody: CodyFake
) -> None:
    bridge, chat = rt.bridge, "t:-5"
    await bridge.conversations.bind(chat, "assistant", [], by="admin")
    await bridge.conversations.set_scope(chat, Scope.USER)

    async def say(user: int, text: str) -> list[str]:
        surface = MemorySurface(key=chat)
        msg = Incoming(
            platform="test",
            channel=chat,
            author=f"t:{user}",
            text=text,
            message_id=f"{chat}:{uuid.uuid4().hex}",
            author_name=f"U{user}",
            origin=Origin(user=user, private=False),
        )
        await bridge.handle(msg, surface, is_admin=_never)
        return surface.messages

    assert await say(1, "hello") == ["echo: U1: hello"]
    mine = await rt.store.get_binding(f"{chat}@t:1")
    assert mine is not None and mine.backend == "assistant"
    assert cody.messages_sent == ["U1: hello"] and aurora.messages_sent == []
    status = await bridge.conversations.status(chat, "t:2")
    assert status.binding is None and status.backend == "assistant"
    again = await bridge.conversations.reset(f"{chat}@t:2", by="t:2", fallback=chat)
    assert again.backend == "assistant"


async def _never() -> bool:
    return False
