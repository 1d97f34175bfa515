"""A loopback fake of the Aurora Interactive chat API v11 (x-access-token, SSE with no sentinel).

Run alone: ``python -m tests.fakes.aurora --port 0 --token T`` prints the base URL.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from aiohttp import web

from tests.fakes.upstream import FakeUpstream, serve_forever, standalone_args

BAD_REQUEST = {
    "success": False,
    "error": "One or more API parameters are malformed. Please check your request and try again",
}
UNAUTHORIZED = {"success": False, "error": "Invalid username, password, or access token"}
QUOTA = {
    "success": False,
    "error": "You have exceeded your Message/TTS quota. To send more messages, please upgrade "
    "your plan or wait until your subscription renews.",
}
THROTTLE = {
    "statusCode": 429,
    "error": "Too Many Requests",
    "message": "Rate limit exceeded, retry in 1 minute",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class AuroraFake(FakeUpstream):
    """Aurora v11 on 127.0.0.1: /chat, /message (SSE), /user/quota, /chats, /characters."""

    def __init__(
        self,
        token: str = "test-token",
        character_id: int = 42,
        *,
        port: int = 0,
        quota_max: int = 1000,
        stores_turns: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.character_id = character_id
        self.port = port
        self.quota_max = quota_max
        self.stores_turns = stores_turns
        """Whether ``POST /message`` stores the user and assistant turns itself (the schema leaves
        open whether a client must ``POST /message/save`` them instead)."""
        self.chats: dict[int, int] = {}
        """chatId -> characterId of every chat created."""
        self.history: dict[int, list[dict[str, Any]]] = {}
        """chatId -> its messages ``{id, role, content, timestamp}``, oldest first."""
        self.refused_characters: set[int] = set()
        """Characters ``POST /chat`` refuses with the generic 400 (deleted, or made private)."""
        self._next_chat = 100
        self._next_message = 1000

    @property
    def base_url(self) -> str:
        """The API root the backend is configured with."""
        return f"http://127.0.0.1:{self.port}/api/v11"

    def failure_defaults(self, status: int, **options: Any) -> tuple[Any, dict[str, str]]:
        """Seed bodies: 400, 401, 429 quota (``kind="quota"``) or throttle (the default)."""
        if status == 400:
            return BAD_REQUEST, {}
        if status == 401:
            return UNAUTHORIZED, {}
        if status == 429:
            if options.get("kind", "throttle") == "quota":
                return QUOTA, {}
            wait = options.get("retry_after", 1)
            headers = {
                "x-ratelimit-limit": "10",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(math.ceil(float(60 if wait is None else wait))),
            }
            if wait is not None:
                headers["retry-after"] = str(wait)
            return THROTTLE, headers
        return {"success": False, "error": "Internal Server Error"}, {}

    async def start(self) -> None:
        """Listen on 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/api/v11/chat", self._create_chat)
        app.router.add_get("/api/v11/chats", self._list_chats)
        app.router.add_delete("/api/v11/chat", self._delete_chat)
        app.router.add_post("/api/v11/message", self._message)
        app.router.add_get("/api/v11/messages", self._messages)
        app.router.add_get("/api/v11/user/quota", self._quota)
        app.router.add_get("/api/v11/characters", self._characters)
        app.router.add_get("/api/v11/character", self._character)
        self.add_control_routes(app)
        self.port = await self.listen(app, self.port)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("x-access-token") == self.token

    async def _create_chat(self, request: web.Request) -> web.Response:
        body = await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHORIZED, status=401)
        character_id = body.get("characterId") if isinstance(body, dict) else None
        if not _is_int(character_id) or character_id in self.refused_characters:
            return web.json_response(BAD_REQUEST, status=400)
        await self.creating()
        chat_id = self._next_chat
        self._next_chat += 1
        self.chats[chat_id] = character_id
        self.history[chat_id] = []
        self._store(chat_id, "assistant", "Hello!")  # the character's initialResponse
        self.conversations.append(str(chat_id))
        return web.json_response({"success": True, "chatId": chat_id})

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete the chat and its messages: a message for it then gets the generic 400, and
        ``GET /chats`` no longer lists it."""
        self.chats.pop(int(conversation_id), None)
        self.history.pop(int(conversation_id), None)

    async def _delete_chat(self, request: web.Request) -> web.Response:
        await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHORIZED, status=401)
        try:
            chat_id = int(request.query["chatId"])
        except (KeyError, ValueError):
            return web.json_response(BAD_REQUEST, status=400)
        if chat_id not in self.chats:
            return web.json_response(BAD_REQUEST, status=400)
        self.delete_conversation(str(chat_id))
        return web.json_response({"success": True})

    async def _list_chats(self, request: web.Request) -> web.Response:
        await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHORIZED, status=401)
        chats = [{"characterId": c, "chatId": i} for i, c in self.chats.items()]
        return web.json_response({"success": True, "chats": chats})

    def _store(self, chat_id: int, role: str, content: str) -> None:
        self._next_message += 1
        self.history[chat_id].append(
            {
                "id": self._next_message,
                "role": role,
                "content": content,
                "timestamp": int(time.time()),
            }
        )

    def stored_history(self) -> dict[str, list[dict[str, Any]]]:
        """Each chat's stored messages, oldest first."""
        return {str(chat): list(messages) for chat, messages in self.history.items()}

    async def _messages(self, request: web.Request) -> web.Response:
        """``GET /messages?chatId=&numMessages=&from=``: newest first, ``from`` an older-than
        message id, at most 100 per call."""
        await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHORIZED, status=401)
        try:
            chat_id = int(request.query["chatId"])
            count = int(request.query.get("numMessages", "25"))
            before = int(request.query["from"]) if "from" in request.query else None
        except (KeyError, ValueError):
            return web.json_response(BAD_REQUEST, status=400)
        if chat_id not in self.history or not 1 <= count <= 100:
            return web.json_response(BAD_REQUEST, status=400)
        newest_first = [
            m for m in reversed(self.history[chat_id]) if before is None or m["id"] < before
        ]
        page = newest_first[:count]
        return web.json_response(
            {"success": True, "messages": page, "endOfList": len(newest_first) <= count}
        )

    async def _quota(self, request: web.Request) -> web.Response:
        await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHORIZED, status=401)
        return web.json_response(
            {
                "success": True,
                "quotaUsed": len(self.messages_sent),
                "quotaMax": self.quota_max,
                "ttsUsed": 0,
                "ttsMax": 100,
                "planName": "Free",
                "isChristy": False,
            }
        )

    async def _characters(self, request: web.Request) -> web.Response:
        await self.log_request(request)
        character = {
            "id": self.character_id,
            "name": "Luna",
            "description": "A test character",
            "isOfficial": True,
            "isPrivate": False,
        }
        return web.json_response({"success": True, "characters": [character], "isEndOfList": True})

    async def _character(self, request: web.Request) -> web.Response:
        """GET /character?characterId=N: the configured character, else the generic 400 (v6
        folded "not found" into it). No ``success`` field on a 200, as documented."""
        await self.log_request(request)
        if request.query.get("characterId") != str(self.character_id):
            return web.json_response(BAD_REQUEST, status=400)
        return web.json_response(
            {
                "name": "Luna",
                "description": "A test character",
                "isOfficial": True,
                "isPrivate": False,
                "ttsCharacter": None,
            }
        )

    async def _message(self, request: web.Request) -> web.StreamResponse:
        body = await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHORIZED, status=401)
        failure = self.take_failure()
        # Throttling, auth and quota answer before the handler; anything else has the message.
        if failure is not None and failure.status in (400, 401, 403, 429):
            return self.failure_response(failure)
        if not isinstance(body, dict):
            return web.json_response(BAD_REQUEST, status=400)
        character_id, chat_id = body.get("characterId"), body.get("chatId")
        message = body.get("message")
        if (
            not _is_int(character_id)
            or not isinstance(chat_id, int)
            or isinstance(chat_id, bool)
            or not isinstance(message, str)
            or self.chats.get(chat_id) != character_id
        ):
            return web.json_response(BAD_REQUEST, status=400)
        self.messages_sent.append(message)
        if self.stores_turns:
            self._store(chat_id, "user", message)
        if failure is not None:
            # A failure consumes a script only when the server generated the reply anyway.
            if failure.server_finishes and self.stores_turns:
                script = self.next_script()
                text = f"echo: {message}" if script.text is None else script.text
                self._store(chat_id, "assistant", text)
            return self.failure_response(failure)
        script = self.next_script()
        text = f"echo: {message}" if script.text is None else script.text

        def saved() -> None:
            if self.stores_turns:
                self._store(chat_id, "assistant", text)

        if script.fault == "wrong_content_type":
            if script.server_finishes:
                saved()
            return web.json_response({"content": text})
        chunks = script.chunks(text)

        events = [json.dumps({"content": c}) for c in chunks]
        return await self.stream_sse(request, script, events, on_done=saved)


async def _main() -> None:
    parser = standalone_args("Fake Aurora chat API v11 on 127.0.0.1")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--character-id", type=int, default=42)
    args = parser.parse_args()
    fake = AuroraFake(args.token, args.character_id, port=args.port)
    await serve_forever(fake, lambda: fake.base_url)


if __name__ == "__main__":
    asyncio.run(_main())
