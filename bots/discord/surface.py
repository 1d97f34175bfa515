"""One Discord channel (text channel, thread or DM) as the renderer's :class:`Surface`."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import discord

from core.budget import Budget
from core.errors import ChatUnwritable, FloodControl, WriteFailed, WriteUncertain
from core.surface import StopButton, Surface

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 2000
NO_PINGS = discord.AllowedMentions.none()
SEND_ATTEMPTS = 3
"""Tries of a message create that got no answer; Discord keeps a nonce for a few minutes."""
RESEND_GAP = 0.5  # seconds before the second try, doubled before the third
UNKNOWN_429_WAIT = 5.0  # a 429 discord.py did not wait out and that names no wait
# Missing Access, Missing Permissions, Cannot send messages to this user (DMs closed, blocked).
_UNWRITABLE_CODES = frozenset({50001, 50013, 50007})
UNKNOWN_CHANNEL = 10003
"""The channel or thread was deleted: every later request to it is refused the same way, and
each refusal counts toward Discord's invalid-request limit."""


@contextmanager
def write_errors(*, sending: bool) -> Iterator[None]:
    """Turn discord.py's failures into the core's: FloodControl for a 429 discord.py did not
    wait out (too long, or one without Discord's headers), ChatUnwritable for a missing
    permission or a deleted channel, WriteFailed for a 5xx or a refused connection,
    WriteUncertain for a send whose connection broke after it went out."""
    try:
        yield
    except discord.RateLimited as exc:
        raise FloodControl(exc.retry_after) from None
    except discord.Forbidden as exc:
        if exc.code in _UNWRITABLE_CODES:
            raise ChatUnwritable(f"discord refused ({exc.code}): {exc.text}") from None
        raise
    except discord.NotFound as exc:
        if exc.code == UNKNOWN_CHANNEL:
            raise ChatUnwritable(f"discord: the channel is gone ({exc.code})") from None
        raise
    except discord.HTTPException as exc:
        if exc.status == 429:
            raise FloodControl(_retry_after(exc)) from None
        if exc.status >= 500:
            raise WriteFailed(f"discord answered {exc.status}") from None
        raise
    except (aiohttp.ClientConnectorError, ConnectionRefusedError) as exc:
        raise WriteFailed(type(exc).__name__) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        if sending:
            raise WriteUncertain(type(exc).__name__) from None
        raise WriteFailed(type(exc).__name__) from None


def _retry_after(exc: discord.HTTPException) -> float:
    """The wait a 429 names in its Retry-After header, else a few seconds."""
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return max(float(header), 0.0) if header else UNKNOWN_429_WAIT
    except ValueError:
        return UNKNOWN_429_WAIT


def pace_key(channel_id: int) -> str:
    """The budget key of a channel: Discord counts creates and edits per channel."""
    return f"dc:{channel_id}"


class DiscordSurface(Surface):
    """Writes a reply into one channel: the first message replies to the user's message,
    later ones (continuations past 2000 characters, notices) are plain sends. Nothing pings.

    discord.py already waits out per-channel 429s by itself (the renderer coalesces
    meanwhile); only a wait longer than the client's ``max_ratelimit_timeout`` surfaces, as
    :class:`FloodControl`.
    """

    max_length = MAX_MESSAGE_LENGTH

    def __init__(
        self,
        channel: discord.abc.Messageable,
        channel_id: int,
        *,
        reply_to: discord.Message | discord.PartialMessage | None,
        budget: Budget,
    ) -> None:
        self._channel = channel
        self._channel_id = channel_id
        self._reply_to = reply_to
        self._first_reply_to = None if reply_to is None else str(reply_to.id)
        self._reposted = False
        self._buttoned: set[int] = set()  # messages that show the Stop button now
        self.write_budget = budget

    @property
    def pace_key(self) -> str:
        """Every reply in one channel shares Discord's per-channel write bucket."""
        return pace_key(self._channel_id)

    async def typing(self) -> None:
        """Send the typing indicator once (it lasts about 10 s); ChatUnwritable when the bot
        may not write here."""
        try:
            with write_errors(sending=False):
                await self._channel.typing()
        except ChatUnwritable:
            raise
        except Exception as exc:  # a missing indicator must never cost the reply
            log.debug("typing in %s failed: %s", self.pace_key, type(exc).__name__)

    async def send(self, text: str, *, final: bool) -> discord.Message:
        """Post ``text``; the first post of this surface is a reply to the user's message.

        A create that may have landed (no answer came) is repeated with the same ``nonce``:
        discord.py always sends ``enforce_nonce``, so Discord answers the message it already
        made instead of making a second one."""
        kwargs: dict[str, Any] = {"allowed_mentions": NO_PINGS, "nonce": secrets.randbits(63)}
        view = self._view(final)
        if view is not None:
            kwargs["view"] = view
        if self._reply_to is not None:
            kwargs["reference"] = self._reply_to.to_reference(fail_if_not_exists=False)
            kwargs["mention_author"] = False
            self._reply_to = None
        gap = RESEND_GAP
        for _ in range(SEND_ATTEMPTS - 1):
            try:
                with write_errors(sending=True):
                    return self._shown(await self._channel.send(text, **kwargs), view)
            except WriteUncertain as exc:
                log.warning("create in %s got no answer (%s); sent again", self.pace_key, exc)
                await asyncio.sleep(gap)
                gap *= 2
        with write_errors(sending=True):
            return self._shown(await self._channel.send(text, **kwargs), view)

    async def edit(
        self, handle: Any, text: str, *, final: bool
    ) -> discord.Message | discord.PartialMessage:
        """Replace the message's text; a message deleted meanwhile is posted again, once: when
        that one is deleted too, the reply is not wanted here (ChatUnwritable)."""
        message: discord.Message | discord.PartialMessage = handle
        view = self._view(final)
        buttons_change = (view is not None) != (message.id in self._buttoned)
        if getattr(message, "content", None) == text and not buttons_change:
            return message  # Discord has no "not modified" error; skip the useless write
        # The button rides on this write: added while partial, taken off by the final one
        # (also from a message another process left, whose button this one never saw).
        extra: dict[str, Any] = {"view": view} if buttons_change or final else {}
        try:
            with write_errors(sending=False):
                edited = await message.edit(content=text, allowed_mentions=NO_PINGS, **extra)
                return self._shown(edited, view)
        except discord.NotFound as exc:
            if self._reposted:
                raise ChatUnwritable(f"discord: the reply was deleted again ({exc.code})") from None
            self._reposted = True
            log.info("message in %s vanished while streaming; posting anew", self.pace_key)
            return await self.send(text, final=final)

    def _view(self, final: bool) -> discord.ui.View | None:
        """The Stop button for a partial write of a streaming reply, else None."""
        button = self.stop_button
        return None if final or button is None else stop_view(button)

    def _shown(self, message: discord.Message, view: discord.ui.View | None) -> discord.Message:
        """Note whether ``message`` shows the Stop button now."""
        if view is None:
            self._buttoned.discard(message.id)
        else:
            self._buttoned.add(message.id)
        return message

    def locator(self) -> dict[str, str]:
        """The channel and the user's message: enough to write here from a restart."""
        reply_to = self._first_reply_to
        return {"channel": str(self._channel_id), "reply_to": "" if reply_to is None else reply_to}

    def ref(self, handle: Any) -> str:
        """A message's id."""
        message_id = getattr(handle, "id", None)
        return str(message_id) if message_id is not None else ""

    def adopt(self, ref: str) -> discord.PartialMessage | None:
        """A message another process sent, to be edited."""
        partial = getattr(self._channel, "get_partial_message", None)
        if partial is None or not ref.isdigit():
            return None
        message: discord.PartialMessage = partial(int(ref))
        return message


def stop_view(button: StopButton) -> discord.ui.View:
    """A view holding only the Stop button. It is finished before it is sent, so discord.py
    does not keep it per message: a press arrives as an interaction the client handles."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            style=discord.ButtonStyle.secondary, label=button.label, custom_id=button.tag
        )
    )
    view.stop()
    return view
