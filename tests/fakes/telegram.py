"""A fake Telegram Bot API server on 127.0.0.1, driven by the real python-telegram-bot.

It keeps Telegram's rules: 4096 UTF-16 code units after entity parsing, "message is not
modified", parse errors for unbalanced MarkdownV2/HTML, 429 with ``retry_after`` when a chat is
written too fast, drafts for private chats only. It records every write with its time and what
each chat finally shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

# --- Telegram's text rules ----------------------------------------------------------------------

MAX_TEXT = 4096

ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


class ParseError(Exception):
    """Text the server refuses; ``str()`` is what follows "Bad Request: can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8"))


class _Builder:
    """Collects plain text and entities with UTF-16 offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.pos - start, **extra}
            )

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


_MDV2_TOGGLES = (
    ("||", "spoiler"),
    ("__", "underline"),
    ("*", "bold"),
    ("_", "italic"),
    ("~", "strikethrough"),
)
_NAMES = {
    "spoiler": "Spoiler",
    "underline": "Underline",
    "bold": "Bold",
    "italic": "Italic",
    "strikethrough": "Strikethrough",
    "text_link": "TextUrl",
}


def parse_markdown_v2(src: str) -> tuple[str, list[dict[str, Any]]]:
    """MarkdownV2 as Telegram parses it: reserved characters must be escaped, entities closed."""
    out = _Builder()
    stack: list[tuple[str, int, int]] = []  # kind, utf-16 start, byte offset of the opener
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            if i + 1 >= n or not (1 <= ord(src[i + 1]) <= 126):
                raise ParseError(
                    "Character '\\' is reserved and must be escaped with the preceding '\\'"
                )
            out.add(src[i + 1])
            i += 2
            continue
        if c == "`":
            i = _mdv2_code(src, i, out)
            continue
        if c == "[":
            stack.append(("text_link", out.pos, _byte_offset(src, i)))
            i += 1
            continue
        if c == "]":
            if not stack or stack[-1][0] != "text_link":
                raise ParseError(
                    "Character ']' is reserved and must be escaped with the preceding '\\'"
                )
            if not src.startswith("(", i + 1):
                raise ParseError(
                    "Can't find end of a URL at byte offset " + str(_byte_offset(src, i))
                )
            end = src.find(")", i + 2)
            if end < 0:
                raise ParseError(f"Can't find end of a URL at byte offset {_byte_offset(src, i)}")
            url = src[i + 2 : end].replace("\\)", ")")
            _, start, _ = stack.pop()
            out.entity("text_link", start, url=url)
            i = end + 1
            continue
        if c == ">" and (i == 0 or src[i - 1] == "\n"):
            i += 1  # a blockquote line marker; the quote itself needs no closing
            continue
        toggle = next(((tok, kind) for tok, kind in _MDV2_TOGGLES if src.startswith(tok, i)), None)
        if toggle is not None:
            tok, kind = toggle
            if stack and stack[-1][0] == kind:
                _, start, _ = stack.pop()
                out.entity(kind, start)
            elif any(k == kind for k, _, _ in stack):
                raise ParseError(
                    f"Can't find end of {_NAMES[stack[-1][0]]} entity at byte offset {stack[-1][2]}"
                )
            else:
                stack.append((kind, out.pos, _byte_offset(src, i)))
            i += len(tok)
            continue
        if c in _MDV2_RESERVED:
            raise ParseError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        out.add(c)
        i += 1
    if stack:
        kind, _, offset = stack[-1]
        raise ParseError(f"Can't find end of {_NAMES[kind]} entity at byte offset {offset}")
    return out.result()


def _mdv2_code(src: str, i: int, out: _Builder) -> int:
    """Parse `code` or ```pre``` starting at ``i``; return the index after it."""
    fence = "```" if src.startswith("```", i) else "`"
    j = i + len(fence)
    language = None
    if fence == "```":
        newline = src.find("\n", j)
        first = src[j:newline] if newline >= 0 else ""
        if newline >= 0 and re.fullmatch(r"[\w+#.-]*", first):
            language = first or None
            j = newline + 1
    start = out.pos
    body: list[str] = []
    while True:
        if j >= len(src):
            kind = "Pre" if fence == "```" else "Code"
            raise ParseError(
                f"Can't find end of {kind} entity at byte offset {_byte_offset(src, i)}"
            )
        if src[j] == "\\" and j + 1 < len(src):
            body.append(src[j + 1])
            j += 2
            continue
        if src.startswith(fence, j):
            break
        body.append(src[j])
        j += 1
    out.add("".join(body))
    if fence == "```":
        out.entity("pre", start, **({"language": language} if language else {}))
    else:
        out.entity("code", start)
    return j + len(fence)


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_ATTR = re.compile(r"""([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def parse_html(src: str) -> tuple[str, list[dict[str, Any]]]:
    """HTML as Telegram parses it: known tags only, properly nested, ``<`` escaped."""
    out = _Builder()
    stack: list[tuple[str, int, dict[str, str]]] = []
    i = 0
    while i < len(src):
        c = src[i]
        if c == "<":
            m = _TAG.match(src, i)
            if m is None:
                raise ParseError(f"Unsupported start tag at byte offset {_byte_offset(src, i)}")
            closing, name = m.group(1) == "/", m.group(2).lower()
            if name not in _HTML_TAGS:
                raise ParseError(
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, i)}'
                )
            if closing:
                if not stack:
                    raise ParseError(f"Unexpected end tag at byte offset {_byte_offset(src, i)}")
                open_name, start, attrs = stack.pop()
                if open_name != name:
                    raise ParseError(
                        f'Can\'t find end tag corresponding to start tag "{open_name}"'
                    )
                kind = _HTML_TAGS[name]
                extra: dict[str, Any] = {}
                if kind == "text_link":
                    extra["url"] = attrs.get("href", "")
                out.entity(kind, start, **extra)
            else:
                attrs = {a: v1 or v2 or v3 for a, v1, v2, v3 in _ATTR.findall(m.group(3))}
                stack.append((name, out.pos, attrs))
            i = m.end()
            continue
        if c == "&":
            m = _ENTITY.match(src, i)
            if m is not None:
                out.add(_unescape(m.group(1)))
                i = m.end()
                continue
        out.add(c)
        i += 1
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _unescape(name: str) -> str:
    named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
    if name in named:
        return named[name]
    return chr(int(name[2:], 16) if name.startswith("#x") else int(name[1:]))


def parse_markdown_legacy(src: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy Markdown: ``*bold*``, ``_italic_``, `` `code` ``; unclosed markers are errors."""
    out = _Builder()
    i = 0
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while i < len(src):
        c = src[i]
        if c in kinds:
            end = src.find(c, i + 1)
            if end < 0:
                raise ParseError(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(src, i)}"
                )
            start = out.pos
            out.add(src[i + 1 : end])
            out.entity(kinds[c], start)
            i = end + 1
            continue
        out.add(c)
        i += 1
    return out.result()


def check_entities(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate explicit entities against ``text`` (UTF-16 offsets); return them sorted."""
    size = utf16_len(text)
    for e in entities:
        kind = e.get("type")
        if kind not in ENTITY_TYPES:
            raise ParseError(f'Unsupported entity type "{kind}"')
        offset, length = e.get("offset"), e.get("length")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length <= 0:
            raise ParseError("Entity offset or length is invalid")
        if offset + length > size:
            raise ParseError(f"Entity ends at {offset + length}, after the text's end ({size})")
        if kind == "text_link" and not e.get("url"):
            raise ParseError("Can't find URL of a text link")
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def render(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """What a message shows: plain text and entities after parsing. Raises :class:`ParseError`."""
    mode = (parse_mode or "").lower()
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "html":
        return parse_html(text)
    if mode == "markdown":
        return parse_markdown_legacy(text)
    if mode:
        raise ParseError(f'Unsupported parse_mode "{parse_mode}"')
    return text, check_entities(text, entities or [])


# --- the server ---------------------------------------------------------------------------------

BOT_USER_ID = 7000001
# Fields whose form value is JSON (PTB JSON-encodes every non-string parameter).
_JSON_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "message_thread_id",
        "draft_id",
        "entities",
        "reply_parameters",
        "reply_to_message_id",
        "allow_sending_without_reply",
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "commands",
        "scope",
        "link_preview_options",
        "disable_notification",
        "drop_pending_updates",
        "max_connections",
        "reply_markup",
        "protect_content",
    }
)
_WRITE_METHODS = frozenset({"sendMessage", "editMessageText", "sendMessageDraft"})
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional parameters."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass(frozen=True, slots=True)
class FloodRule:
    """When writes to one chat get a 429: closer than ``min_gap`` seconds, or more than
    ``max_writes`` accepted writes within ``window`` seconds. Drafts count only if asked."""

    min_gap: float = 0.0
    max_writes: int | None = None
    window: float = 60.0
    count_drafts: bool = False


@dataclass(slots=True)
class FakeMessage:
    """A message as the chat shows it."""

    message_id: int
    chat_id: int
    from_bot: bool
    text: str
    entities: list[dict[str, Any]]
    thread_id: int | None = None
    reply_to: int | None = None
    edits: int = 0
    author: dict[str, Any] | None = None  # a user's message: who wrote it
    reply_markup: dict[str, Any] | None = None
    """The inline keyboard under the message (None: none)."""


@dataclass(frozen=True, slots=True)
class Write:
    """One attempt to write to a chat (send, edit or draft), accepted or not."""

    at: float
    method: str
    chat_id: int
    ok: bool
    error_code: int | None
    description: str
    text: str
    parse_mode: str | None
    entities: list[dict[str, Any]] | None
    message_id: int | None
    draft_id: int | None
    thread_id: int | None
    reply_to: int | None
    reply_markup: dict[str, Any] | None = None


@dataclass(slots=True)
class FakeChat:
    """One chat's state on the fake server."""

    id: int
    type: str
    title: str
    is_forum: bool = False
    messages: dict[int, FakeMessage] = field(default_factory=dict)
    draft: tuple[int, str] | None = None
    drafts: list[tuple[int, str]] = field(default_factory=list)
    admins: set[int] = field(default_factory=set)
    next_id: int = 1
    accepted: deque[float] = field(default_factory=deque)
    drafts_accepted: deque[float] = field(default_factory=deque)
    penalty_until: float = 0.0
    forced: list[tuple[int, int]] = field(default_factory=list)  # (at accepted count, retry)
    accepted_total: int = 0
    topics: dict[int, int] = field(default_factory=dict)  # thread id -> service message id

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.title
        else:
            data["title"] = self.title
        if self.is_forum:
            data["is_forum"] = True
        return data


class FakeTelegram:
    """A fake Telegram Bot API on 127.0.0.1 for the real python-telegram-bot.

    ``async with FakeTelegram() as tg:`` then point PTB at ``tg.base_url``. Users talk with
    :meth:`user_says`; tests read :meth:`chat_texts`, :attr:`writes` and :attr:`calls`.
    """

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        username: str = "bridge_bot",
        flood: FloodRule | None = None,
        draft_flood: FloodRule | None = None,
        drafts_enabled: bool = True,
        port: int = 0,
    ) -> None:
        self.token = token
        self.username = username
        self.bot_id = BOT_USER_ID
        self.default_flood = flood or FloodRule()
        self.floods: dict[int, FloodRule] = {}
        self.draft_flood = draft_flood
        """Drafts' own limit per chat (None: drafts are limited only if the chat rule counts them)."""
        self.drafts_enabled = drafts_enabled
        self.refuse_formatting: set[int] = set()
        """Chats where any write with entities or parse_mode gets a parse error."""
        self.blocked: set[int] = set()
        """Private chats whose user blocked the bot: typing and writes get 403."""
        self._failing: dict[tuple[int, str], list[int]] = {}  # (chat, method) -> statuses
        self._outages: dict[int, tuple[float, int]] = {}  # chat -> (ends, status)
        self._slow: dict[str, list[float]] = {}  # method -> delays of its next answers
        self._drops: dict[str, list[bool]] = {}  # method -> landed? for its next calls
        self.dropped: list[str] = []
        """Methods whose call :meth:`drop_next` cut off, in order."""
        self.chats: dict[int, FakeChat] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        """answerCallbackQuery calls by query id."""
        self.writes: list[Write] = []
        self.calls: list[tuple[float, str, dict[str, Any]]] = []
        self.actions: list[tuple[float, int, str]] = []
        self.commands: list[dict[str, Any]] = []
        """The command menu of the default scope."""
        self.scoped_commands: dict[str, list[dict[str, Any]]] = {}
        """Command menus for users of any language, by scope type ("default",
        "all_chat_administrators", ...)."""
        self.menus: dict[tuple[str, str], list[dict[str, Any]]] = {}
        """Every menu set, by scope type and language code ('' for any language)."""
        self.migrated: dict[int, int] = {}
        """Groups upgraded to supergroups: old chat id -> new chat id."""
        self.deleted_topics: set[tuple[int, int]] = set()
        """(chat, thread) of forum topics deleted by :meth:`delete_topic`."""
        self.flood_violations = 0
        """Writes that arrived while their chat was still told to wait."""
        # --- the bot-wide limit: about 30 messages a second across every chat ---
        self.bot_limit = 30
        """Writes (drafts aside) the bot may make per ``bot_window`` across chats; 0: no limit."""
        self.bot_window = 1.0
        self.bot_floods = 0
        """Writes refused for the bot-wide limit."""
        self._bot_accepted: deque[float] = deque()
        self.webhook: dict[str, Any] | None = None
        self.privacy_mode = True
        """getMe's can_read_all_group_messages is its opposite (@BotFather's /setprivacy)."""
        self.webhook_deliveries: list[tuple[int, int]] = []
        self.load_balanced: list[str] = []
        """Webhook workers behind a load balancer: deliveries go to each in turn."""
        self.poll_conflicts = 0
        """Long polls ended by another bot instance's getUpdates (409 Conflict)."""
        self._poller: object | None = None
        self.auto_deliver = True
        """False: queued updates wait for the test to :meth:`deliver` them by hand."""
        self._balance = 0
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1000
        self._update_cond = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port = port
        self._closing = False
        self._client: aiohttp.ClientSession | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        async with self._update_cond:
            self._update_cond.notify_all()
        if self._delivery is not None:
            self._delivery.cancel()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What PTB's ``base_url`` should be (the token is appended by PTB)."""
        return f"http://127.0.0.1:{self._port}/bot"

    # --- driving the conversation ------------------------------------------------------------

    def chat(self, chat_id: int, chat_type: str = "private", *, forum: bool = False) -> FakeChat:
        """The chat with this id, created on first use."""
        found = self.chats.get(chat_id)
        if found is None:
            title = f"User {chat_id}" if chat_type == "private" else f"Group {chat_id}"
            found = FakeChat(chat_id, chat_type, title, is_forum=forum)
            self.chats[chat_id] = found
        elif forum:
            found.is_forum = True
        return found

    def set_admins(self, chat_id: int, user_ids: list[int], chat_type: str = "supergroup") -> None:
        """Who ``getChatAdministrators`` lists for a group (beside the bot)."""
        self.chat(chat_id, chat_type).admins = set(user_ids)

    def set_flood(self, chat_id: int, rule: FloodRule) -> None:
        """A flood rule for one chat (others keep the default rule)."""
        self.floods[chat_id] = rule

    def fail_next(self, chat_id: int, method: str, count: int, status: int = 502) -> None:
        """The next ``count`` calls of ``method`` for the chat answer ``status`` (nothing lands),
        as in a Bot API outage."""
        self._failing.setdefault((chat_id, method), []).extend([status] * count)

    def outage(self, chat_id: int, seconds: float, status: int = 502) -> None:
        """Every write to the chat answers ``status`` for the next ``seconds`` (nothing lands),
        as in a Bot API outage of a while; 0 ends it."""
        self._outages[chat_id] = (time.monotonic() + seconds, status)

    def slow(self, method: str, delay: float) -> None:
        """The next call of ``method`` is carried out at once but answered ``delay`` s late."""
        self._slow.setdefault(method, []).append(delay)

    def drop_next(self, method: str, *, landed: bool = False) -> None:
        """Break the connection of the next call of ``method`` before it is answered; with
        ``landed`` the call is carried out first (the client cannot tell which happened)."""
        self._drops.setdefault(method, []).append(landed)

    def flood_after(self, chat_id: int, writes: int, retry_after: int = 1) -> None:
        """After ``writes`` more accepted writes to the chat, answer the next one with a 429."""
        chat = self.chat(chat_id)
        chat.forced.append((chat.accepted_total + writes, retry_after))

    def user_says(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int,
        chat_type: str = "private",
        thread_id: int | None = None,
        reply_to_bot: bool = False,
        entities: list[dict[str, Any]] | None = None,
        first_name: str = "",
        last_name: str = "",
        username: str = "",
        reply_to: int | None = None,
        quote: str | None = None,
    ) -> dict[str, Any]:
        """A user's text message arrives; entities for commands and mentions are added as
        Telegram does. Returns the queued update.

        ``reply_to`` replies to a user's message of this chat by id (``quote``: the part quoted).
        """
        message = self._user_message(
            chat_id, user_id, chat_type, thread_id, reply_to_bot, first_name
        )
        if last_name:
            message["from"]["last_name"] = last_name
        if username:
            message["from"]["username"] = username
        if reply_to is not None:
            chat = self.chats[chat_id]
            message["reply_to_message"] = self._message_json(chat, chat.messages[reply_to])
            if quote is not None:
                message["quote"] = {"text": quote, "position": 0}
        message["text"] = text
        found = self._auto_entities(text) if entities is None else entities
        if found:
            message["entities"] = found
        self._store_user_message(message, text, found)
        return self.push_update({"message": message})

    def user_sends(
        self,
        chat_id: int,
        kind: str,
        *,
        user_id: int,
        chat_type: str = "private",
        caption: str | None = None,
        thread_id: int | None = None,
        reply_to_bot: bool = False,
    ) -> dict[str, Any]:
        """A sticker (``kind="sticker"``) or photo (``kind="photo"``, optional caption) arrives."""
        message = self._user_message(chat_id, user_id, chat_type, thread_id, reply_to_bot, "")
        if kind == "sticker":
            message["sticker"] = {
                "file_id": "sticker-1",
                "file_unique_id": "s1",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "🙂",
            }
        elif kind == "photo":
            message["photo"] = [
                {"file_id": "photo-1", "file_unique_id": "p1", "width": 90, "height": 90}
            ]
            if caption is not None:
                message["caption"] = caption
                ents = self._auto_entities(caption)
                if ents:
                    message["caption_entities"] = ents
        else:
            raise ValueError(f"unknown kind {kind!r}")
        self._store_user_message(message, caption or "", [])
        return self.push_update({"message": message})

    def migrate(self, chat_id: int, new_chat_id: int) -> None:
        """A group becomes a supergroup, as Telegram reports it: a service message in the old
        chat (``migrate_to_chat_id``) and one in the new (``migrate_from_chat_id``); from then on
        writes to the old chat fail with ``migrate_to_chat_id`` in the error's parameters."""
        old = self.chat(chat_id, "group")
        new = self.chat(new_chat_id, "supergroup")
        self.migrated[chat_id] = new_chat_id
        for chat, field_name, value in (
            (old, "migrate_to_chat_id", new_chat_id),
            (new, "migrate_from_chat_id", chat_id),
        ):
            message_id = chat.next_id
            chat.next_id += 1
            service = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat.as_json(),
                "from": {"id": 777, "is_bot": False, "first_name": "Owner"},
                field_name: value,
            }
            self.push_update({"message": service})

    def user_presses(self, chat_id: int, message_id: int, data: str, *, user_id: int) -> str:
        """A user presses the inline button with callback ``data`` under the bot's message;
        returns the callback query's id (its answer lands in :attr:`callback_answers`)."""
        chat = self.chats[chat_id]
        query_id = str(self._next_update * 7919)
        query = {
            "id": query_id,
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            "message": self._message_json(chat, chat.messages[message_id]),
            "chat_instance": str(chat_id),
            "data": data,
        }
        self.push_update({"callback_query": query})
        return query_id

    def user_edits(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """The author of a user's message edits its text (an ``edited_message`` update)."""
        chat = self.chats[chat_id]
        stored = chat.messages[message_id]
        stored.text = text
        stored.edits += 1
        message = self._message_json(chat, stored)
        found = self._auto_entities(text)
        if found:
            message["entities"] = found
        return self.push_update({"edited_message": message})

    def buttons(self, chat_id: int, message_id: int) -> list[str]:
        """The callback data of the inline buttons under a message, in order."""
        markup = self.chats[chat_id].messages[message_id].reply_markup or {}
        rows = markup.get("inline_keyboard") or []
        return [str(b.get("callback_data")) for row in rows for b in row]

    def user_deletes(self, chat_id: int, message_id: int) -> None:
        """Someone deletes a message (e.g. the bot's reply while it is still being written)."""
        del self.chats[chat_id].messages[message_id]

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """An admin deletes a forum topic with its messages: writes into it answer "message
        thread not found" from now on."""
        chat = self.chats[chat_id]
        chat.messages = {i: m for i, m in chat.messages.items() if m.thread_id != thread_id}
        self.deleted_topics.add((chat_id, thread_id))

    def delete_chat(self, chat_id: int) -> None:
        """The group is deleted: every call for it answers "chat not found" from now on."""
        del self.chats[chat_id]

    def push_update(
        self, update: dict[str, Any], *, update_id: int | None = None
    ) -> dict[str, Any]:
        """Queue an update (a new update_id unless given: pass one to simulate a redelivery)."""
        if update_id is None:
            update_id = self._next_update
            self._next_update += 1
        full = {**update, "update_id": update_id}
        self._updates.append(full)
        asyncio.get_running_loop().create_task(self._notify())
        return full

    async def _notify(self) -> None:
        async with self._update_cond:
            self._update_cond.notify_all()

    def _user_message(
        self,
        chat_id: int,
        user_id: int,
        chat_type: str,
        thread_id: int | None,
        reply_to_bot: bool,
        first_name: str,
    ) -> dict[str, Any]:
        chat = self.chat(
            chat_id, chat_type, forum=thread_id is not None and chat_type == "supergroup"
        )
        message_id = chat.next_id
        chat.next_id += 1
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat.as_json(),
            "from": {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"},
        }
        target: FakeMessage | None = None
        if reply_to_bot:
            bot_messages = [
                m for m in chat.messages.values() if m.from_bot and m.thread_id == thread_id
            ]
            if not bot_messages:
                raise ValueError("reply_to_bot: the bot has not written in this chat yet")
            target = bot_messages[-1]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.is_forum:
                message["is_topic_message"] = True
                if target is None:
                    # In a forum topic every message "replies" to the topic's creation message.
                    message["reply_to_message"] = self._topic_root(chat, thread_id, user_id)
        if target is not None:
            message["reply_to_message"] = self._message_json(chat, target)
        return message

    def _topic_root(self, chat: FakeChat, thread_id: int, user_id: int) -> dict[str, Any]:
        return {
            "message_id": thread_id,
            "date": int(time.time()),
            "chat": chat.as_json(),
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            "message_thread_id": thread_id,
            "forum_topic_created": {"name": f"Topic {thread_id}", "icon_color": 7322096},
            "is_topic_message": True,
        }

    def _store_user_message(
        self, message: dict[str, Any], text: str, entities: list[dict[str, Any]]
    ) -> None:
        chat = self.chats[message["chat"]["id"]]
        chat.messages[message["message_id"]] = FakeMessage(
            message_id=message["message_id"],
            chat_id=chat.id,
            from_bot=False,
            text=text,
            entities=entities,
            thread_id=message.get("message_thread_id"),
            author=message["from"],
        )

    def _auto_entities(self, text: str) -> list[dict[str, Any]]:
        found = []
        for m in re.finditer(
            r"(?<![\w/])/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?|@[A-Za-z0-9_]{3,}", text
        ):
            kind = "bot_command" if m.group().startswith("/") else "mention"
            if kind == "bot_command" and m.start() != 0:
                continue
            found.append(
                {
                    "type": kind,
                    "offset": utf16_len(text[: m.start()]),
                    "length": utf16_len(m.group()),
                }
            )
        return found

    # --- reading what the chat shows ---------------------------------------------------------

    def bot_messages(self, chat_id: int, thread_id: int | None = None) -> list[FakeMessage]:
        """The bot's messages in a chat (optionally one topic), oldest first."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        return [
            m
            for m in sorted(chat.messages.values(), key=lambda m: m.message_id)
            if m.from_bot and (thread_id is None or m.thread_id == thread_id)
        ]

    def chat_texts(self, chat_id: int, thread_id: int | None = None) -> list[str]:
        """The texts of the bot's messages in a chat, oldest first."""
        return [m.text for m in self.bot_messages(chat_id, thread_id)]

    def writes_to(self, chat_id: int, *, ok: bool | None = None) -> list[Write]:
        """Write attempts to one chat (only accepted or refused ones when ``ok`` is given)."""
        return [w for w in self.writes if w.chat_id == chat_id and (ok is None or w.ok == ok)]

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call of one Bot API method."""
        return [params for _, m, params in self.calls if m == method]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 20.0) -> None:
        """Wait until ``predicate()`` holds; re-checked on every call to the fake and at least
        every 50 ms (for predicates on other fakes). Raises TimeoutError after ``within`` s."""
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    # --- HTTP --------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params = await _read_params(request)
        self.calls.append((time.monotonic(), method, params))
        self._changed.set()
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(ApiError(404, "Not Found: method not found"))
        drops = self._drops.get(method)
        if drops:
            if drops.pop(0):
                with contextlib.suppress(ApiError):
                    await handler(params)
            self.dropped.append(method)
            self._changed.set()
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError  # no answer: the client sees the connection drop
        try:
            self._injected_failure(method, params)
            result = await handler(params)
        except ApiError as err:
            return _error(err)
        finally:
            self._changed.set()
        delays = self._slow.get(method)
        if delays:
            await asyncio.sleep(delays.pop(0))
        return web.json_response({"ok": True, "result": result})

    def _injected_failure(self, method: str, params: dict[str, Any]) -> None:
        """A failure a test asked for: a blocked bot, a Bot API outage."""
        if method not in _WRITE_METHODS and method != "sendChatAction":
            return
        chat_id = _int(params.get("chat_id")) or 0
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        failing = self._failing.get((chat_id, method))
        ends, status = self._outages.get(chat_id, (0.0, 0))
        if failing:
            status = failing.pop(0)
        elif time.monotonic() >= ends:
            return
        raise ApiError(status, "Bad Gateway" if status == 502 else "Internal Server Error")

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Bridge",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
        }

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        # One long poll at a time per bot: a newer one ends the waiting one with 409, as Telegram.
        me = object()
        self._poller = me
        async with self._update_cond:
            self._update_cond.notify_all()
            while not self._updates and not self._closing:
                if self._poller is not me:
                    self.poll_conflicts += 1
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._update_cond.wait(), left)
        return self._updates[:limit]

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        if self.auto_deliver and (self._delivery is None or self._delivery.done()):
            self._delivery = asyncio.create_task(self._deliver_loop())
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        url = self.webhook["url"] if self.webhook else ""
        return {
            "url": url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        scope = params.get("scope") or {"type": "default"}
        commands = list(params.get("commands") or [])
        language = params.get("language_code") or ""
        self.menus[(scope["type"], language)] = commands
        if language:
            return True
        self.scoped_commands[scope["type"]] = commands
        if scope["type"] == "default":
            self.commands = commands
        return True

    async def _m_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands = []
        return True

    async def _m_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands

    async def _m_close(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_getChatAdministrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._known_chat(params)
        if chat.type == "private":
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        members: list[dict[str, Any]] = [_admin_json(self.bot_id, True, self.username)]
        for i, uid in enumerate(sorted(chat.admins)):
            members.append(_admin_json(uid, False, None, owner=i == 0))
        return members

    async def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        chat = self._known_chat(params)
        self.actions.append((time.monotonic(), chat.id, str(params.get("action"))))
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        self.callback_answers[str(params.get("callback_query_id"))] = params
        return True

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._write("sendMessage", params, self._send)

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._write("editMessageText", params, self._edit)

    async def _m_sendMessageDraft(self, params: dict[str, Any]) -> bool:
        return await self._write("sendMessageDraft", params, self._draft)

    # --- writes ------------------------------------------------------------------------------

    async def _write(self, method: str, params: dict[str, Any], apply: Callable[..., Any]) -> Any:
        now = time.monotonic()
        chat_id = _int(params.get("chat_id"))
        reply = params.get("reply_parameters") or {}
        record = {
            "at": now,
            "method": method,
            "chat_id": chat_id or 0,
            "text": str(params.get("text") or ""),
            "parse_mode": params.get("parse_mode"),
            "entities": params.get("entities"),
            "message_id": _int(params.get("message_id")),
            "draft_id": _int(params.get("draft_id")),
            "thread_id": _int(params.get("message_thread_id")),
            "reply_to": _int(reply.get("message_id")) or _int(params.get("reply_to_message_id")),
            "reply_markup": params.get("reply_markup"),
        }
        try:
            chat = self._known_chat(params)
            self._check_flood(chat, method, now)
            if method != "sendMessageDraft":
                self._check_bot_flood(now)
            result = apply(chat, params)
        except ApiError as err:
            self.writes.append(
                Write(ok=False, error_code=err.code, description=err.description, **record)
            )
            raise
        counted = method != "sendMessageDraft" or self._rule(chat).count_drafts
        (chat.accepted if counted else chat.drafts_accepted).append(now)
        if method != "sendMessageDraft":
            self._bot_accepted.append(now)
        chat.accepted_total += 1
        if isinstance(result, dict):
            record["message_id"] = result["message_id"]
        self.writes.append(Write(ok=True, error_code=None, description="", **record))
        return result

    def _check_bot_flood(self, now: float) -> None:
        """A 429 when the bot's writes across every chat reach ``bot_limit`` in ``bot_window``."""
        accepted = self._bot_accepted
        while accepted and now - accepted[0] >= self.bot_window:
            accepted.popleft()
        if self.bot_limit and len(accepted) >= self.bot_limit:
            self.bot_floods += 1
            raise _flood(max(1, math.ceil(self.bot_window - (now - accepted[0]))))

    def _check_flood(self, chat: FakeChat, method: str, now: float) -> None:
        if now < chat.penalty_until:
            self.flood_violations += 1
            raise _flood(math.ceil(chat.penalty_until - now))
        for at, retry in list(chat.forced):
            if chat.accepted_total >= at:
                chat.forced.remove((at, retry))
                chat.penalty_until = now + retry
                raise _flood(retry)
        rule = self._rule(chat)
        accepted = chat.accepted
        if method == "sendMessageDraft" and not rule.count_drafts:
            if self.draft_flood is None:
                return
            rule, accepted = self.draft_flood, chat.drafts_accepted
        wait = 0.0
        if rule.min_gap and accepted and now - accepted[-1] < rule.min_gap:
            wait = rule.min_gap - (now - accepted[-1])
        if rule.max_writes is not None:
            while accepted and now - accepted[0] >= rule.window:
                accepted.popleft()
            if len(accepted) >= rule.max_writes:
                wait = max(wait, rule.window - (now - accepted[0]))
        if wait > 0:
            retry = max(1, math.ceil(wait))
            chat.penalty_until = now + retry
            raise _flood(retry)

    def _rule(self, chat: FakeChat) -> FloodRule:
        return self.floods.get(chat.id, self.default_flood)

    def _rendered(self, chat: FakeChat, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        raw = params.get("text")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: message text is empty")
        formatted = bool(params.get("parse_mode") or params.get("entities"))
        if formatted and chat.id in self.refuse_formatting:
            raise ApiError(400, "Bad Request: can't parse entities: Unsupported entity combination")
        try:
            text, entities = render(str(raw), params.get("parse_mode"), params.get("entities"))
        except ParseError as err:
            raise ApiError(400, f"Bad Request: can't parse entities: {err}") from None
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text, entities

    def _send(self, chat: FakeChat, params: dict[str, Any]) -> dict[str, Any]:
        text, entities = self._rendered(chat, params)
        thread_id = _int(params.get("message_thread_id"))
        reply = params.get("reply_parameters") or {}
        reply_to = _int(reply.get("message_id")) or _int(params.get("reply_to_message_id"))
        allow_missing = bool(
            reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply")
        )
        if reply_to is not None and reply_to not in chat.messages:
            if not allow_missing:
                raise ApiError(400, "Bad Request: message to be replied not found")
            reply_to = None
        message = FakeMessage(
            message_id=chat.next_id,
            chat_id=chat.id,
            from_bot=True,
            text=text,
            entities=entities,
            thread_id=thread_id,
            reply_to=reply_to,
            reply_markup=params.get("reply_markup"),
        )
        chat.next_id += 1
        chat.messages[message.message_id] = message
        chat.draft = None  # a normal message replaces the live draft
        return self._message_json(chat, message)

    def _edit(self, chat: FakeChat, params: dict[str, Any]) -> dict[str, Any]:
        message = chat.messages.get(_int(params.get("message_id")) or 0)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        text, entities = self._rendered(chat, params)
        # Without reply_markup an edit removes the message's inline keyboard, as Telegram does.
        markup = params.get("reply_markup")
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        message.text, message.entities, message.reply_markup = text, entities, markup
        message.edits += 1
        return self._message_json(chat, message)

    def _draft(self, chat: FakeChat, params: dict[str, Any]) -> bool:
        if not self.drafts_enabled:
            raise ApiError(400, "Bad Request: method is not available for this bot")
        if chat.type != "private":
            raise ApiError(400, "Bad Request: drafts can be sent only to private chats")
        draft_id = _int(params.get("draft_id")) or 0
        if draft_id == 0:
            raise ApiError(400, "Bad Request: draft_id must be non-zero")
        raw = params.get("text") or ""
        try:
            text, _ = render(str(raw), params.get("parse_mode"), params.get("entities"))
        except ParseError as err:
            raise ApiError(400, f"Bad Request: can't parse entities: {err}") from None
        if utf16_len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        chat.draft = (draft_id, text)
        chat.drafts.append((draft_id, text))
        return True

    def _known_chat(self, params: dict[str, Any]) -> FakeChat:
        chat_id = _int(params.get("chat_id")) or 0
        if chat_id in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[chat_id]},
            )
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if (chat_id, _int(params.get("message_thread_id"))) in self.deleted_topics:
            raise ApiError(400, "Bad Request: message thread not found")
        return chat

    def _message_json(self, chat: FakeChat, message: FakeMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": chat.as_json(),
            "text": message.text,
        }
        if message.from_bot:
            data["from"] = {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "Bridge",
                "username": self.username,
            }
        elif message.author is not None:
            data["from"] = message.author
        if message.entities:
            data["entities"] = message.entities
        if message.thread_id is not None:
            data["message_thread_id"] = message.thread_id
            if chat.is_forum:
                data["is_topic_message"] = True
        if message.edits:
            data["edit_date"] = int(time.time())
        if message.reply_markup:
            data["reply_markup"] = message.reply_markup
        return data

    # --- webhook delivery --------------------------------------------------------------------

    async def _deliver_loop(self) -> None:
        """Post queued updates to the webhook, as Telegram does, retrying non-2xx answers."""
        while not self._closing and self.webhook is not None:
            async with self._update_cond:
                while not self._updates and not self._closing:
                    await self._update_cond.wait()
            if self._closing or self.webhook is None:
                return
            update = self._updates[0]
            status = await self.deliver(update)
            if 200 <= status < 300:
                with contextlib.suppress(ValueError):
                    self._updates.remove(update)
            else:
                await asyncio.sleep(0.2)

    async def deliver(
        self, update: dict[str, Any], *, secret: str | None = None, url: str | None = None
    ) -> int:
        """POST one update to the webhook (the configured secret unless ``secret`` is given);
        returns the HTTP status (0 when unreachable). Calling it again simulates a redelivery.

        ``url`` picks the receiver; else the next of :attr:`load_balanced`, else the URL set.
        """
        assert self.webhook is not None, "no webhook set"
        if self._client is None:
            self._client = aiohttp.ClientSession()
        token = self.webhook.get("secret_token") if secret is None else secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token else {}
        if url is None and self.load_balanced:
            url = self.load_balanced[self._balance % len(self.load_balanced)]
            self._balance += 1
        try:
            target = url or self.webhook["url"]
            async with self._client.post(target, json=update, headers=headers) as resp:
                status = resp.status
        except aiohttp.ClientError:
            status = 0
        self.webhook_deliveries.append((update["update_id"], status))
        return status


def _flood(retry: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})


def _error(err: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
    if err.parameters:
        body["parameters"] = err.parameters
    return web.json_response(body, status=err.code)


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _admin_json(
    user_id: int, is_bot: bool, username: str | None, *, owner: bool = False
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": f"User{user_id}"}
    if username:
        user["username"] = username
    if owner:
        return {"status": "creator", "user": user, "is_anonymous": False}
    flags = [
        "can_be_edited",
        "can_manage_chat",
        "can_delete_messages",
        "can_manage_video_chats",
        "can_restrict_members",
        "can_promote_members",
        "can_change_info",
        "can_invite_users",
        "can_post_stories",
        "can_edit_stories",
        "can_delete_stories",
    ]
    return {
        "status": "administrator",
        "user": user,
        "is_anonymous": False,
        **dict.fromkeys(flags, False),
    }


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Form fields (PTB's encoding: JSON for non-strings) or a JSON body."""
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    params: dict[str, Any] = {}
    if request.method == "GET":
        source: Any = request.query
    elif request.content_type.startswith("multipart/"):
        source = await request.post()
    else:
        source = await request.post()
    for key, value in source.items():
        if not isinstance(value, str):
            continue
        if key in _JSON_FIELDS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        else:
            params[key] = value
    return params


async def _main() -> None:
    """Serve the fake by hand: each stdin line ``<chat id> <text>`` is a user's message (a
    negative id is a supergroup); the bot's messages are printed once they stop changing."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Fake Telegram Bot API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="123456:TEST-token")
    args = parser.parse_args()
    async with FakeTelegram(args.token, port=args.port) as fake:
        print(f"base_url = {fake.base_url}\ntoken = {fake.token}", flush=True)
        loop = asyncio.get_running_loop()
        printed: dict[tuple[int, int], str] = {}
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            chat_text = line.strip().split(" ", 1)
            if len(chat_text) == 2 and chat_text[0].lstrip("-").isdigit():
                chat_id = int(chat_text[0])
                kind = "private" if chat_id > 0 else "supergroup"
                fake.user_says(chat_id, chat_text[1], user_id=abs(chat_id), chat_type=kind)
            await asyncio.sleep(3)  # let the reply finish streaming
            for chat in fake.chats.values():
                for m in fake.bot_messages(chat.id):
                    if printed.get((chat.id, m.message_id)) != m.text:
                        printed[(chat.id, m.message_id)] = m.text
                        print(f"[{chat.id}] bot: {m.text}", flush=True)


if __name__ == "__main__":
    asyncio.run(_main())
