"""One Telegram chat (and topic) as the core's :class:`Surface`: drafts, sends, edits, typing."""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bots.telegram.format import MAX_MESSAGE_LENGTH, markdown_to_entities
from core.budget import Budget
from core.errors import (
    ChatUnwritable,
    ConnectionDropped,
    FloodControl,
    WriteFailed,
    WriteUncertain,
)
from core.split import utf16_length
from core.surface import Surface

log = logging.getLogger(__name__)

SEND_ATTEMPTS = 3
"""Tries of a sendMessage whose connection dropped. Telegram has no idempotency key, so a send
that did land shows twice: rare, and better than a reply that never shows."""
RESEND_GAP = 0.5  # seconds before the second try, doubled before the third
SEND_TIMEOUT = 60.0
"""Read/write timeout of sendMessage. A send abandoned early may still land, and a send that timed
out is never repeated, so a slow Bot API is waited for rather than given up on after PTB's 5 s."""

# Failures before the request could reach Telegram: a retry cannot show the text twice.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_UNWRITABLE = (
    "chat not found",
    "message thread not found",  # a deleted forum topic
    "topic_deleted",
    "topic_closed",
    "not enough rights",
    "have no rights to send",
    "chat_write_forbidden",
    "bot was kicked",
)


@dataclass(frozen=True, slots=True)
class ChatTarget:
    """Where a reply goes: the chat, its topic, and the user's message to answer (groups)."""

    chat_id: int
    private: bool
    thread_id: int | None = None
    reply_to: int | None = None


@dataclass(frozen=True, slots=True)
class Handle:
    """A reply message in progress: a live draft (``draft_id``) or a sent message."""

    message_id: int | None = None
    draft_id: int | None = None


class DraftPolicy:
    """Whether a private chat streams with drafts; a chat that refused one is remembered."""

    def __init__(self, enabled: bool, next_id: Callable[[], int]) -> None:
        self.enabled = enabled
        self._next_id = next_id
        self._refused: set[int] = set()

    def allowed(self, chat_id: int) -> bool:
        """True when partial text in this private chat should go to a draft."""
        return self.enabled and chat_id not in self._refused

    def refuse(self, chat_id: int) -> None:
        """Stream this chat with send + edit from now on."""
        self._refused.add(chat_id)

    def new_id(self) -> int:
        """A fresh non-zero draft id (one per reply message)."""
        return self._next_id()


def target_from(locator: dict[str, str]) -> ChatTarget | None:
    """The inverse of :meth:`TelegramSurface.locator`; None for a locator it did not write."""
    try:
        return ChatTarget(
            chat_id=int(locator["chat"]),
            private=bool(locator.get("private")),
            thread_id=int(locator["thread"]) if locator.get("thread") else None,
            reply_to=int(locator["reply_to"]) if locator.get("reply_to") else None,
        )
    except (KeyError, ValueError):
        return None


def is_not_modified(error: BadRequest) -> bool:
    """True for Telegram's "message is not modified" answer (a success for us)."""
    return "message is not modified" in str(error).lower()


def is_gone(error: BadRequest) -> bool:
    """True when the message to edit no longer exists (or can no longer be edited)."""
    text = str(error).lower()
    return "message to edit not found" in text or "message can't be edited" in text


def is_unwritable(error: BadRequest) -> bool:
    """True when the chat no longer takes the bot's messages (gone, or no right to post)."""
    text = str(error).lower()
    return any(reason in text for reason in _UNWRITABLE)


@contextmanager
def flood_control(*, sending: bool = False) -> Iterator[None]:
    """Turn PTB's failures into the core's: RetryAfter into FloodControl (of unsaid scope), a
    blocked bot into ChatUnwritable, a transport failure into WriteFailed, or WriteUncertain
    when a send may have reached Telegram (ConnectionDropped when no answer came at all).
    BadRequest passes through for the caller."""
    try:
        yield
    except RetryAfter as err:
        # Telegram's 429 does not say whether the chat's limit or the bot's was hit.
        raise FloodControl(retry_seconds(err), scoped=False) from None
    except Forbidden as err:
        raise ChatUnwritable(f"telegram refused: {err}") from None
    except ChatMigrated as err:
        # The group became a supergroup: its settings follow by the service message; this
        # reply stops here like any write to a chat that no longer takes it.
        raise ChatUnwritable(f"telegram: the chat moved to {err.new_chat_id}") from None
    except BadRequest as err:
        if is_unwritable(err):
            raise ChatUnwritable(f"telegram refused: {err}") from None
        raise
    except NetworkError as err:
        cause = err.__cause__
        # No httpx cause: Telegram answered with an error status, so nothing was written.
        landed = isinstance(cause, httpx.HTTPError) and not isinstance(cause, _NOT_SENT)
        what = f"{type(err).__name__}: {err}"
        if sending and landed:
            if isinstance(cause, httpx.TimeoutException):
                raise WriteUncertain(what) from None  # a slow answer: it most likely landed
            raise ConnectionDropped(what) from None
        raise WriteFailed(what) from None


def retry_seconds(err: RetryAfter) -> float:
    """The wait a RetryAfter asks for, in seconds."""
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after will become a timedelta; both forms are handled.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = err.retry_after
    return wait.total_seconds() if isinstance(wait, dtm.timedelta) else float(wait)


class TelegramSurface(Surface):
    """A reply's output in one Telegram chat (private: drafts then one message; groups: send +
    edit, replying to the user's message and staying in its topic)."""

    max_length = MAX_MESSAGE_LENGTH

    def __init__(
        self,
        bot: Bot,
        target: ChatTarget,
        *,
        budget: Budget,
        draft_budget: Budget,
        drafts: DraftPolicy,
    ) -> None:
        self._bot = bot
        self._target = target
        self._drafts = drafts
        self.write_budget = budget
        self._draft_budget = draft_budget
        self._plain: dict[int, str] = {}  # message id -> the plain text it shows
        self._buttoned: set[int] = set()  # messages that show the Stop button now
        self._reposted = False

    @property
    def pace_key(self) -> str:
        """Telegram's limits are per chat, so every topic of a chat shares one budget."""
        return f"tg:{self._target.chat_id}"

    def budget_for(self, *, final: bool) -> tuple[str, Budget]:
        """Partial text in a private chat goes to a draft, which has a budget of its own."""
        if not final and self._use_drafts():
            return f"{self.pace_key}:draft", self._draft_budget
        return self.pace_key, self.write_budget

    def measure(self, text: str) -> int:
        """UTF-16 code units, as Telegram counts."""
        return utf16_length(text)

    async def typing(self) -> None:
        """Show "typing…" (best effort); ChatUnwritable when the bot is blocked here."""
        try:
            with flood_control():
                await self._bot.send_chat_action(
                    self._target.chat_id,
                    ChatAction.TYPING,
                    message_thread_id=self._target.thread_id,
                )
        except ChatUnwritable:
            raise
        except Exception as err:
            log.debug("typing indicator failed in %s: %s", self.pace_key, type(err).__name__)

    async def send(self, text: str, *, final: bool) -> Handle:
        """Start a reply message: a draft for partial text in private chats, else a message."""
        if not final and self._use_drafts():
            draft_id = self._drafts.new_id()
            if await self._draft(draft_id, text):
                return Handle(draft_id=draft_id)
        return Handle(
            message_id=await self._send_message(text, final=final, markup=self._markup(final))
        )

    async def edit(self, handle: Any, text: str, *, final: bool) -> Handle:
        """Update the reply: the draft while partial, one real message when final. A message
        deleted meanwhile is sent again, once (deleted again: ChatUnwritable)."""
        assert isinstance(handle, Handle)
        if handle.draft_id is not None:
            if not final and self._use_drafts() and await self._draft(handle.draft_id, text):
                return handle
            # A draft is only a preview: the final text (or a refused draft) becomes a message.
            markup = self._markup(final)
            return Handle(message_id=await self._send_message(text, final=final, markup=markup))
        assert handle.message_id is not None
        try:
            await self._edit_message(
                handle.message_id, text, final=final, markup=self._markup(final)
            )
        except BadRequest as err:
            if not is_gone(err):
                raise
            if self._reposted:  # deleted again: the reply is not wanted here
                raise ChatUnwritable(f"telegram: the reply was deleted again ({err})") from None
            self._reposted = True
            # The message was deleted under us: the reply carries on in a new one.
            log.info("message %s in %s is gone; sending anew", handle.message_id, self.pace_key)
            markup = self._markup(final)
            return Handle(message_id=await self._send_message(text, final=final, markup=markup))
        return handle

    async def notice(self, text: str) -> None:
        """Post a standalone notice; notices are plain text, never Markdown."""
        await self._send_message(text, final=False)

    def locator(self) -> dict[str, str]:
        """Chat, kind, topic and the message replied to: enough to write here from a restart."""
        target = self._target
        return {
            "chat": str(target.chat_id),
            "private": "1" if target.private else "",
            "thread": "" if target.thread_id is None else str(target.thread_id),
            "reply_to": "" if target.reply_to is None else str(target.reply_to),
        }

    def ref(self, handle: Any) -> str:
        """A sent message's id; a draft vanishes with its process, so it has none."""
        if isinstance(handle, Handle) and handle.message_id is not None:
            return str(handle.message_id)
        return ""

    def adopt(self, ref: str) -> Handle | None:
        """A message another process sent, to be edited."""
        return Handle(message_id=int(ref)) if ref.isdigit() else None

    # --- the Bot API calls -------------------------------------------------------------------

    def _markup(self, final: bool) -> InlineKeyboardMarkup | None:
        """The Stop button for a partial write of a streaming reply (drafts carry none)."""
        button = self.stop_button
        if final or button is None:
            return None
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(button.label, callback_data=button.tag)]]
        )

    def _use_drafts(self) -> bool:
        return self._target.private and self._drafts.allowed(self._target.chat_id)

    async def _draft(self, draft_id: int, text: str) -> bool:
        """Show ``text`` in the live draft; False (and remembered) when the chat refuses drafts."""
        try:
            with flood_control():
                await self._bot.send_message_draft(
                    self._target.chat_id,
                    draft_id,
                    text,
                    message_thread_id=self._target.thread_id,
                )
        except BadRequest as err:
            log.info("drafts refused in %s (%s); using edits", self.pace_key, err)
            self._drafts.refuse(self._target.chat_id)
            return False
        return True

    async def _send_message(
        self, text: str, *, final: bool, markup: InlineKeyboardMarkup | None = None
    ) -> int:
        target = self._target
        reply = (
            ReplyParameters(message_id=target.reply_to, allow_sending_without_reply=True)
            if target.reply_to is not None
            else None
        )
        formatted = markdown_to_entities(text) if final else None
        if formatted is not None:
            try:
                sent = await self._sent(
                    lambda: self._bot.send_message(
                        target.chat_id,
                        formatted[0],
                        entities=formatted[1],
                        message_thread_id=target.thread_id,
                        reply_parameters=reply,
                        reply_markup=markup,
                        read_timeout=SEND_TIMEOUT,
                        write_timeout=SEND_TIMEOUT,
                    )
                )
                return self._marked(sent.message_id, markup)
            except BadRequest as err:
                log.info("formatted message refused in %s (%s); sending plain", self.pace_key, err)
        sent = await self._sent(
            lambda: self._bot.send_message(
                target.chat_id,
                text,
                message_thread_id=target.thread_id,
                reply_parameters=reply,
                reply_markup=markup,
                read_timeout=SEND_TIMEOUT,
                write_timeout=SEND_TIMEOUT,
            )
        )
        self._plain[sent.message_id] = text
        return self._marked(sent.message_id, markup)

    def _marked(self, message_id: int, markup: InlineKeyboardMarkup | None) -> int:
        """Note whether the message shows the Stop button now."""
        if markup is None:
            self._buttoned.discard(message_id)
        else:
            self._buttoned.add(message_id)
        return message_id

    async def _sent(self, send: Callable[[], Awaitable[Message]]) -> Message:
        """``send()`` with PTB's failures turned into the core's; sent again when its connection
        dropped with no answer (see :data:`SEND_ATTEMPTS`)."""
        gap = RESEND_GAP
        for _ in range(SEND_ATTEMPTS - 1):
            try:
                with flood_control(sending=True):
                    return await send()
            except ConnectionDropped as exc:
                log.warning("send to %s got no answer (%s); sending again", self.pace_key, exc)
                await asyncio.sleep(gap)
                gap *= 2
        with flood_control(sending=True):
            return await send()

    async def _edit_message(
        self, message_id: int, text: str, *, final: bool, markup: InlineKeyboardMarkup | None
    ) -> None:
        chat_id = self._target.chat_id
        formatted = markdown_to_entities(text) if final else None
        # An edit without reply_markup takes the Stop button off: the final write does.
        buttons_change = (markup is not None) != (message_id in self._buttoned)
        if formatted is None and self._plain.get(message_id) == text and not buttons_change:
            return  # already shown: an edit would only earn "message is not modified"
        if formatted is not None:
            try:
                with flood_control():
                    await self._bot.edit_message_text(
                        formatted[0],
                        chat_id=chat_id,
                        message_id=message_id,
                        entities=formatted[1],
                        reply_markup=markup,
                    )
                self._plain.pop(message_id, None)
                self._marked(message_id, markup)
                return
            except BadRequest as err:
                if is_not_modified(err):
                    return
                log.info("formatted edit refused in %s (%s); sending plain", self.pace_key, err)
        try:
            with flood_control():
                await self._bot.edit_message_text(
                    text, chat_id=chat_id, message_id=message_id, reply_markup=markup
                )
        except BadRequest as err:
            if not is_not_modified(err):
                raise
        self._plain[message_id] = text
        self._marked(message_id, markup)
