"""Aurora Interactive chat API v11: a character chat answering each message as an SSE stream."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from core.backends.history import HISTORY_PAGES, Turn, reply_after
from core.backends.http import HttpBackend, maybe_stored
from core.config import AuroraSettings
from core.errors import (
    AssistantRefused,
    ConversationGone,
    Interrupted,
    Misconfigured,
    QuotaExceeded,
    Rejected,
    Unavailable,
    UpstreamError,
)

HISTORY_PAGE = 20
"""Messages asked for per ``GET /messages`` (the API allows up to 100)."""
VERIFY_TIMEOUT = 10.0
"""Longest the check of a closed stream against the history may hold up the end of a reply."""


class AuroraBackend(HttpBackend):
    """Aurora v11: ``x-access-token`` auth; a channel is bound to a characterId and a chatId."""

    kind = "aurora"
    reset_is_epoch = False  # @fastify/rate-limit sends seconds until the reset

    def __init__(self, name: str, settings: AuroraSettings) -> None:
        super().__init__(name, settings)
        self.character_id = settings.character_id
        self.verify_close = settings.verify_close

    def auth_headers(self) -> dict[str, str]:
        """Aurora's credential header."""
        return {"x-access-token": self._secret}

    def remote_keys(self) -> tuple[str, ...]:
        """A binding carries the character and the chat."""
        return ("character_id", "chat_id")

    def classify_status(self, response: httpx.Response, body: Any) -> UpstreamError:
        """A 429 is a quota error when it says ``success: false`` or names the quota in its
        ``{statusCode, error, message}`` form; else throttling."""
        if response.status_code == 429 and _is_quota(body):
            return QuotaExceeded(f"{self.name}: the message quota is used up")
        return super().classify_status(response, body)

    def _classify_message(self, response: httpx.Response, body: Any) -> UpstreamError:
        """``POST /message`` answered 404: the chat is gone upstream (a 400 is looked into by
        :meth:`_gone_or`)."""
        if response.status_code == 404:
            message = self.server_message(body)
            return ConversationGone(message or f"{self.name}: the chat is gone upstream")
        return self.classify_status(response, body)

    async def _gone_or(self, refusal: Rejected, chat_id: int) -> Rejected:
        """Aurora answers one generic 400 for every bad parameter (v6 folded "Invalid chat ID"
        into it): the refusal means the chat is gone when ``GET /chats`` no longer lists it."""
        if isinstance(refusal, ConversationGone):
            return refusal
        try:
            body = await self.request_json("GET", "/chats")
        except UpstreamError:
            return refusal  # cannot tell: the refusal stands
        chats = body.get("chats") if isinstance(body, dict) else None
        if not isinstance(chats, list):
            return refusal
        if any(isinstance(c, dict) and str(c.get("chatId")) == str(chat_id) for c in chats):
            return refusal
        return ConversationGone(str(refusal))

    def _classify_create(self, response: httpx.Response, body: Any) -> UpstreamError:
        """``POST /chat`` answered 400, 403 or 404: the character is refused."""
        if response.status_code in (400, 403, 404):
            why = self.server_message(body) or "refused"
            return AssistantRefused(
                f"backends.{self.name}.character_id: no chat with character "
                f"{self.character_id} ({why})"
            )
        return self.classify_status(response, body)

    async def create_conversation(self, title: str) -> dict[str, str]:
        """Start a chat with the configured character (Aurora chats have no title);
        AssistantRefused when the API no longer lets us use it."""
        body = await self.request_json(
            "POST", "/chat", json={"characterId": self.character_id}, classify=self._classify_create
        )
        chat_id = body.get("chatId") if isinstance(body, dict) else None
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str) or chat_id == "":
            raise Unavailable(f"{self.name}: POST /chat answered without a chatId")
        return {"character_id": str(self.character_id), "chat_id": str(chat_id)}

    def reply(self, remote: dict[str, str], text: str) -> AsyncIterator[str]:
        """Send ``text`` once to the bound chat and yield the streamed reply."""
        return self._reply(remote, text)

    def _ids(self, remote: dict[str, str]) -> tuple[int, int]:
        try:
            return int(remote.get("character_id", self.character_id)), int(remote["chat_id"])
        except (KeyError, ValueError):
            raise Rejected(
                "This channel's Aurora binding needs numeric character and chat ids."
            ) from None

    async def _reply(self, remote: dict[str, str], text: str) -> AsyncGenerator[str, None]:
        self.check_length(text)
        character_id, chat_id = self._ids(remote)
        deadline = self.deadline()
        try:
            response = await self.within(
                deadline,
                "sending",
                self.send(
                    "POST",
                    self.url("/message"),
                    json={"characterId": character_id, "chatId": chat_id, "message": text},
                    headers={**self.auth_headers(), "Accept": "text/event-stream"},
                    what="POST /message",
                    prompt=True,
                    classify=self._classify_message,
                ),
                prompt=True,
            )
        except Rejected as refusal:
            raise await self._gone_or(refusal, chat_id) from None
        # Aurora has no end marker: a graceful close ends the reply, whether it was complete or
        # cut short. The stored history tells the two apart (see _rest_of).
        stream = self.stream_text(
            response, self.event_parser("content"), deadline=deadline, needs_end=False
        )
        streamed: list[str] = []
        async with aclosing(stream) as pieces:
            async for piece in pieces:
                streamed.append(piece)
                yield piece
        shown = "".join(streamed)
        if self.verify_close == "always" or (
            self.verify_close == "unfinished" and not looks_finished(shown)
        ):
            rest = await self._rest_of(remote, text, shown)
            if rest:
                yield rest

    async def _rest_of(self, remote: dict[str, str], prompt: str, shown: str) -> str:
        """What the stored reply has beyond ``shown`` once the stream closed (one GET).

        The stored reply wins where it is longer: its missing tail is returned when it extends
        ``shown``; otherwise the reply is Interrupted and maybe_stored, so the relay replaces it
        with the stored text. No stored reply, or a failed look-up, keeps ``shown`` as it is.
        """
        try:
            async with asyncio.timeout(VERIFY_TIMEOUT):
                stored = await self.find_reply(remote, prompt)
        except (UpstreamError, TimeoutError) as exc:
            self.log.info("%s: could not check the reply against the history (%s)", self.name, exc)
            return ""
        if stored is None or stored.strip() == shown.strip():
            return ""
        if stored.startswith(shown):
            self.log.warning(
                "%s: the stream closed early; %d characters completed from the history",
                self.name,
                len(stored) - len(shown),
            )
            return stored[len(shown) :]
        if len(stored.strip()) > len(shown.strip()):
            self.log.warning("%s: the streamed reply differs from the stored one", self.name)
            raise maybe_stored(Interrupted(f"{self.name}: the reply stream lost part of the text"))
        return ""

    async def find_reply(self, remote: dict[str, str], prompt: str) -> str | None:
        """The stored reply to ``prompt`` from ``GET /messages?chatId=`` (newest first)."""
        _, chat_id = self._ids(remote)
        turns: dict[int, Turn] = {}
        unordered: list[Turn] = []
        older_than: int | None = None
        for _ in range(HISTORY_PAGES):
            params: dict[str, str | int] = {"chatId": chat_id, "numMessages": HISTORY_PAGE}
            if older_than is not None:
                params["from"] = older_than
            body = await self.request_json("GET", "/messages", params=params)
            messages = body.get("messages") if isinstance(body, dict) else None
            if not isinstance(messages, list):
                raise Unavailable(f"{self.name}: GET /messages answered an unexpected body")
            before = len(turns) + len(unordered)
            for message in messages:
                turn = _turn(message)
                if turn is None:
                    continue
                message_id = message.get("id")
                if isinstance(message_id, int) and not isinstance(message_id, bool):
                    turns[message_id] = turn
                else:
                    unordered.append(turn)
            # Ids grow with time, so they order the turns whatever order the page came in.
            newest_first = [turns[i] for i in sorted(turns, reverse=True)] + unordered
            lookup = reply_after(newest_first, prompt)
            if lookup.found:
                return lookup.reply
            if body.get("endOfList") is not False or len(turns) + len(unordered) == before:
                return None
            if not turns:
                return None
            older_than = min(turns)
        return None

    async def check(self) -> str:
        """Read the account's quota (authenticated and cheap) and look the configured character
        up; Misconfigured when the API does not let us use it."""
        body = await self.request_json("GET", "/user/quota")
        if not isinstance(body, dict):
            raise Unavailable(f"{self.name}: GET /user/quota answered an unexpected body")
        plan = body.get("planName", "?")
        try:
            character = await self.request_json(
                "GET", f"/character?characterId={self.character_id}"
            )
        except Rejected as exc:
            raise Misconfigured(
                f"backends.{self.name}.character_id: no usable character {self.character_id} "
                f"({exc})"
            ) from None
        name = character.get("name", "?") if isinstance(character, dict) else "?"
        return (
            f"aurora API v11 ok: plan {plan}, messages {body.get('quotaUsed', '?')}"
            f"/{body.get('quotaMax', '?')}, character {self.character_id} ({name})"
        )


_FINISHED_END = re.compile(r"""[.!?…。！？)\]}"'”’»`*_~>]$""")


def looks_finished(text: str) -> bool:
    """Whether a reply ends as finished replies do: a sentence end, a closing bracket, quote,
    emphasis or code fence, or an emoji. A stream cut at a random token seldom does."""
    end = text.rstrip()
    if not end:
        return False
    return bool(_FINISHED_END.search(end)) or unicodedata.category(end[-1]) == "So"


def _is_quota(body: Any) -> bool:
    """Aurora's quota 429: ``{success: false, error}``, or ``{statusCode, error, message}``
    whose text names the quota (the rate limiter's own body never does)."""
    if not isinstance(body, dict):
        return False
    if body.get("success") is False and "statusCode" not in body:
        return True
    if "statusCode" in body:
        text = f"{body.get('error', '')} {body.get('message', '')}".lower()
        return "quota" in text
    return False


def _turn(message: Any) -> Turn | None:
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        return None
    role = message.get("role")
    if role not in ("user", "assistant"):
        return None  # system turns are neither a prompt nor a reply
    return Turn(user=role == "user", content=message["content"])
