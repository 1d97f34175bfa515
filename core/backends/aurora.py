"""Aurora Interactive chat API v11: a character chat answering each message as an SSE stream."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from core.backends.http import HttpBackend, Parsed
from core.config import AuroraSettings
from core.errors import Misconfigured, QuotaExceeded, Rejected, Unavailable, UpstreamError


class AuroraBackend(HttpBackend):
    """Aurora v11: ``x-access-token`` auth; a channel is bound to a characterId and a chatId."""

    kind = "aurora"
    reset_is_epoch = False  # @fastify/rate-limit sends seconds until the reset

    def __init__(self, name: str, settings: AuroraSettings) -> None:
        super().__init__(name, settings)
        self.character_id = settings.character_id

    def auth_headers(self) -> dict[str, str]:
        """Aurora's credential header."""
        return {"x-access-token": self._secret}

    def remote_keys(self) -> tuple[str, ...]:
        """A binding carries the character and the chat."""
        return ("character_id", "chat_id")

    def classify_status(self, response: httpx.Response, body: Any) -> UpstreamError:
        """A 429 is a quota error when it says ``success: false``, else throttling."""
        if (
            response.status_code == 429
            and isinstance(body, dict)
            and body.get("success") is False
            and "statusCode" not in body
        ):
            return QuotaExceeded(f"{self.name}: the message quota is used up")
        return super().classify_status(response, body)

    async def create_conversation(self, title: str) -> dict[str, str]:
        """Start a chat with the configured character (Aurora chats have no title)."""
        body = await self.request_json("POST", "/chat", json={"characterId": self.character_id})
        chat_id = body.get("chatId") if isinstance(body, dict) else None
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str) or chat_id == "":
            raise Unavailable(f"{self.name}: POST /chat answered without a chatId")
        return {"character_id": str(self.character_id), "chat_id": str(chat_id)}

    def reply(self, remote: dict[str, str], text: str) -> AsyncIterator[str]:
        """Send ``text`` once to the bound chat and yield the streamed reply."""
        return self._reply(remote, text)

    async def _reply(self, remote: dict[str, str], text: str) -> AsyncGenerator[str, None]:
        self.check_length(text)
        try:
            character_id = int(remote.get("character_id", self.character_id))
            chat_id = int(remote["chat_id"])
        except (KeyError, ValueError):
            raise Rejected(
                "This channel's Aurora binding needs numeric character and chat ids."
            ) from None
        deadline = self.deadline()
        response = await self.within(
            deadline,
            "sending",
            self.send(
                "POST",
                self.url("/message"),
                json={"characterId": character_id, "chatId": chat_id, "message": text},
                headers={**self.auth_headers(), "Accept": "text/event-stream"},
                what="POST /message",
            ),
        )
        # Aurora has no end marker: a graceful close is the end of the reply.
        stream = self.stream_text(response, self._parse, deadline=deadline, needs_end=False)
        async with aclosing(stream) as pieces:
            async for piece in pieces:
                yield piece

    def _parse(self, data: str) -> Parsed:
        try:
            payload = json.loads(data)
        except ValueError:
            self.log.debug("%s: skipped a non-JSON data line", self.name)
            return None
        content = payload.get("content") if isinstance(payload, dict) else None
        if not isinstance(content, str):
            self.log.debug("%s: skipped an event without content", self.name)
            return None
        return content

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
