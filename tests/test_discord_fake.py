"""The fake Discord enforces what real Discord enforces, as seen by the real discord.py client;
and the surface behaves on it (reply reference, no pings, deleted messages, throttling)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bots.discord.facts import strip_mention
from bots.discord.ratelimits import rate_limit_trace
from bots.discord.surface import DiscordSurface, pace_key
from core.budget import Budget
from core.errors import FloodControl
from core.pacing import PacingBoard
from tests.fakes.discord import DiscordFake

BUDGET = Budget(5, 5.0)


@pytest.fixture
async def fake() -> AsyncIterator[DiscordFake]:
    async with DiscordFake(rate_limit=5, rate_window=1.0) as f:
        yield f


@pytest.fixture
def board() -> PacingBoard:
    """The budgets the client's rate-limit headers are fed to."""
    return PacingBoard()


@pytest.fixture
async def client(fake: DiscordFake, board: PacingBoard) -> AsyncIterator[discord.Client]:
    """A plain discord.py client (default allowed mentions) logged in to the fake, its
    responses' rate-limit headers read into ``board``."""
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = fake.api_base_url, yarl.URL(fake.gateway_url)
    c = discord.Client(
        intents=discord.Intents.default(),
        guild_ready_timeout=0.05,
        http_trace=rate_limit_trace(board),
    )
    try:
        await c.login(fake.token)
        runner = asyncio.create_task(c.connect())
        await asyncio.wait_for(c.wait_until_ready(), 10)
        yield c
        await c.close()
        await asyncio.wait_for(runner, 10)
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


def _channel(client: discord.Client, fake: DiscordFake) -> discord.TextChannel:
    channel = client.get_channel(fake.default_channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_over_2000_characters_is_refused_with_50035(
    client: discord.Client, fake: DiscordFake
) -> None:
    channel = _channel(client, fake)
    with pytest.raises(discord.HTTPException) as err:
        await channel.send("x" * 2001)
    assert err.value.status == 400 and err.value.code == 50035
    msg = await channel.send("x" * 2000)
    assert fake.channel_texts(channel.id) == [msg.content]


async def test_empty_message_is_refused_with_50006(
    client: discord.Client, fake: DiscordFake
) -> None:
    with pytest.raises(discord.HTTPException) as err:
        await _channel(client, fake).send("   ")
    assert err.value.code == 50006


async def test_default_allowed_mentions_would_ping(
    client: discord.Client, fake: DiscordFake
) -> None:
    # The counter-check of every "pings nobody" assertion: without allowed_mentions it pings.
    await _channel(client, fake).send(f"@everyone and <@&{fake.pingable_role_id}>")
    [write] = fake.writes
    assert write.allowed_mentions is None
    assert write.pinged == ["everyone", f"role:{fake.pingable_role_id}"]


async def test_429_carries_what_discord_py_needs_to_retry(
    client: discord.Client, fake: DiscordFake
) -> None:
    channel = _channel(client, fake)
    fake.force_429(channel.id, 0.2)
    msg = await channel.send("after a short wait")
    assert len(fake.rate_limited) == 1
    assert fake.channel_texts(channel.id) == [msg.content]


async def test_rate_limit_headers_and_429s_reach_the_channels_budget(
    client: discord.Client, fake: DiscordFake, board: PacingBoard
) -> None:
    channel = _channel(client, fake)
    msg = await channel.send("v0")
    await msg.edit(content="v1")
    state = board.state(pace_key(channel.id))
    assert state.remaining == fake.rate_limit - 2
    assert 0 < state.reset_at - board.clock() <= fake.rate_window
    # The budget now knows what Discord counts: three writes left, none kept for streaming.
    assert await board.take(pace_key(channel.id), Budget(100, 1.0), final=False) == 0.0
    fake.force_429(channel.id, 0.2)
    await msg.edit(content="v2")  # discord.py waits the 429 out by itself...
    assert len(fake.rate_limited) == 1
    assert state.blocked_until > board.clock()  # ...and the budget heard of it
    assert state.slow > 1.0
    other = board.state(pace_key(channel.id + 1))
    assert other.remaining == -1 and other.blocked_until == 0.0


async def test_channel_bucket_is_shared_by_sends_and_edits(
    client: discord.Client, fake: DiscordFake
) -> None:
    fake.advertise_limits = False  # the client must learn from 429s alone
    fake.rate_limit, fake.rate_window = 2, 0.5
    channel = _channel(client, fake)
    msg = await channel.send("v0")
    for i in range(1, 5):
        msg = await msg.edit(content=f"v{i}")
    assert fake.channel_texts(channel.id) == ["v4"]
    assert fake.rate_limited


async def test_surface_replies_once_without_pings_then_sends_plain(
    client: discord.Client, fake: DiscordFake
) -> None:
    channel = _channel(client, fake)
    mid = await fake.user_says(channel.id, "question", user_id=5, mention_bot=True)
    user_msg = await channel.fetch_message(mid)
    surface = DiscordSurface(channel, channel.id, reply_to=user_msg, budget=BUDGET)
    assert surface.pace_key == f"dc:{channel.id}"
    first = await surface.send("@everyone part one", final=False)
    first = await surface.edit(first, "@everyone part one, longer", final=True)
    await surface.send("part two", final=True)
    creates = [w for w in fake.writes if w.kind == "create"]
    assert creates[0].message_reference is not None
    assert int(creates[0].message_reference["message_id"]) == mid
    assert creates[1].message_reference is None
    for w in fake.writes:
        assert w.allowed_mentions is not None and w.allowed_mentions["parse"] == []
        assert w.pinged == []
    assert fake.channel_texts(channel.id) == ["@everyone part one, longer", "part two"]
    await surface.typing()
    assert fake.typing[channel.id] == 1


async def test_surface_skips_identical_edits_and_reposts_a_deleted_message(
    client: discord.Client, fake: DiscordFake
) -> None:
    channel = _channel(client, fake)
    surface = DiscordSurface(channel, channel.id, reply_to=None, budget=BUDGET)
    msg = await surface.send("same", final=False)
    assert await surface.edit(msg, "same", final=False) is msg
    assert len(fake.writes) == 1
    del fake.channels[channel.id].messages[msg.id]
    again = await surface.edit(msg, "after delete", final=True)
    assert again.id != msg.id
    assert fake.channel_texts(channel.id) == ["after delete"]


async def test_surface_turns_a_long_ratelimit_into_flood_control(fake: DiscordFake) -> None:
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_base_url
    c = discord.Client(intents=discord.Intents.none(), max_ratelimit_timeout=30.0)
    try:
        await c.login(fake.token)
        channel = c.get_partial_messageable(fake.default_channel_id)
        surface = DiscordSurface(channel, channel.id, reply_to=None, budget=BUDGET)
        fake.force_429(channel.id, 45.0)
        with pytest.raises(FloodControl) as err:
            await surface.send("hello", final=False)
        assert err.value.retry_after == pytest.approx(45.0)
    finally:
        await c.close()
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


async def test_typing_never_raises() -> None:
    saved = Route.BASE
    c = discord.Client(intents=discord.Intents.none())
    try:
        async with DiscordFake() as gone:
            Route.BASE = gone.api_base_url
            await c.login(gone.token)
            channel = c.get_partial_messageable(gone.default_channel_id)
        # The fake has stopped: nothing answers any more.
        await DiscordSurface(channel, channel.id, reply_to=None, budget=BUDGET).typing()
    finally:
        await c.close()
        Route.BASE = saved


def test_strip_mention_removes_only_the_bots_own_mentions() -> None:
    assert strip_mention("<@123> hello <@!123>there <@456>", 123) == "hello there <@456>"
    assert strip_mention("<@123>", 123) == ""
