"""A loopback fake of the Cody AI API v1: an API listener and a separate stream listener.

Run alone: ``python -m tests.fakes.cody --port 0 --stream-port 0 --api-key K --bot-id B`` prints
the base URL, then ``stream_host=HOST:PORT``.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.upstream import FakeUpstream, Script, serve_forever, standalone_args

UNAUTHENTICATED = {"message": "Unauthenticated."}
QUOTA = {
    "message": "You have reached the message limit for last 30 days, please wait till tomorrow "
    "or upgrade your plan."
}
TOO_MANY = {"message": "Too Many Attempts."}
SERVER_ERROR = {"message": "Server Error"}
NOT_FOUND = {"message": "Not Found"}
MAX_CONTENT = 2000
MESSAGES_PER_PAGE = 10
_ID_ALPHABET = string.ascii_letters + string.digits


def laravel_422(errors: dict[str, list[str]]) -> dict[str, Any]:
    """Laravel's validation body: the first message, "(and N more errors)", every error by field."""
    messages = [m for field_errors in errors.values() for m in field_errors]
    first = messages[0]
    extra = len(messages) - 1
    if extra:
        first += f" (and {extra} more error{'s' if extra > 1 else ''})"
    return {"message": first, "errors": errors}


@dataclass
class _PendingStream:
    conversation_id: str
    script: Script
    text: str


class CodyFake(FakeUpstream):
    """Cody v1 on 127.0.0.1 with a second listener for stream URLs (another origin)."""

    def __init__(
        self,
        api_key: str = "test-key",
        bot_id: str = "bot1",
        *,
        port: int = 0,
        stream_port: int = 0,
        strict_stream: bool = True,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.bot_id = bot_id
        self.port = port
        self.stream_port = stream_port
        self.strict_stream = strict_stream
        """Refuse stream GETs that carry an Authorization header (a leaked key)."""
        self.stream_requests: list[str] = []
        """Paths (``/<token>``) of every GET the stream listener received."""
        self.stream_auth_seen = 0
        """How many stream GETs carried an Authorization header."""
        self.stored: dict[str, list[dict[str, Any]]] = {}
        """conversation_id -> its messages, oldest first (user and bot turns)."""
        self.bots = [{"id": bot_id, "name": "Test bot", "model": "gpt-4", "created_at": 0}]
        self._streams: dict[str, _PendingStream] = {}

    @property
    def base_url(self) -> str:
        """The API root the backend is configured with."""
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def stream_host(self) -> str:
        """``host:port`` of the stream listener, for ``stream_hosts``."""
        return f"127.0.0.1:{self.stream_port}"

    def failure_defaults(self, status: int, **options: Any) -> tuple[Any, dict[str, str]]:
        """Seed bodies: 401, 402, 422, 429 (Retry-After and x-ratelimit-*), 5xx."""
        if status == 401:
            return UNAUTHENTICATED, {}
        if status == 402:
            return QUOTA, {}
        if status == 422:
            return laravel_422({"content": ["The content field is required."]}), {}
        if status == 429:
            wait = options.get("retry_after", 1)
            reset = math.ceil(time.time() + float(wait if wait is not None else 60))
            headers = {
                "x-ratelimit-limit": "60",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(reset),
            }
            if wait is not None:
                headers["retry-after"] = str(wait)
            return TOO_MANY, headers
        return SERVER_ERROR, {}

    async def start(self) -> None:
        """Listen on two ports: the API and the stream host."""
        api = web.Application()
        api.router.add_get("/api/v1/bots", self._bots)
        api.router.add_post("/api/v1/conversations", self._create_conversation)
        api.router.add_get("/api/v1/conversations", self._list_conversations)
        api.router.add_delete("/api/v1/conversations/{id}", self._delete_conversation)
        api.router.add_post("/api/v1/messages", self._send_message)
        api.router.add_get("/api/v1/messages", self._list_messages)
        api.router.add_post("/api/v1/messages/stream", self._send_for_stream)
        self.add_control_routes(api)
        stream = web.Application()
        stream.router.add_get("/{token}", self._stream)
        self.port = await self.listen(api, self.port)
        self.stream_port = await self.listen(stream, self.stream_port)

    # -- API ---------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _bots(self, request: web.Request) -> web.Response:
        await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHENTICATED, status=401)
        return web.json_response({"data": self.bots, "meta": _pagination(len(self.bots))})

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHENTICATED, status=401)
        body = body if isinstance(body, dict) else {}
        if body.get("bot_id") not in {b["id"] for b in self.bots}:
            return web.json_response(
                laravel_422({"bot_id": ["The selected bot id is invalid."]}), status=422
            )
        await self.creating()
        conversation_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
        self.stored[conversation_id] = []
        self.conversations.append(conversation_id)
        conversation = {
            "id": conversation_id,
            "name": body.get("name"),
            "bot_id": body["bot_id"],
            "created_at": int(time.time()),
        }
        return web.json_response({"data": conversation})

    def delete_conversation(self, conversation_id: str) -> None:
        """Forget the conversation and its messages: a message for it then gets Laravel's 422
        ("The selected conversation id is invalid.")."""
        self.stored.pop(conversation_id, None)

    async def _delete_conversation(self, request: web.Request) -> web.Response:
        await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHENTICATED, status=401)
        conversation_id = request.match_info["id"]
        if conversation_id not in self.stored:
            return web.json_response(NOT_FOUND, status=404)
        self.delete_conversation(conversation_id)
        return web.json_response({"data": True})

    async def _list_conversations(self, request: web.Request) -> web.Response:
        await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHENTICATED, status=401)
        data = [{"id": c, "name": None, "bot_id": self.bot_id} for c in self.stored]
        return web.json_response({"data": data, "meta": _pagination(len(data))})

    async def _list_messages(self, request: web.Request) -> web.Response:
        await self.log_request(request)
        if not self._authorized(request):
            return web.json_response(UNAUTHENTICATED, status=401)
        try:
            page = max(1, int(request.query.get("page", "1")))
        except ValueError:
            page = 1
        messages = self.stored.get(request.query.get("conversation_id", ""), [])
        newest_first = list(reversed(messages))
        data = newest_first[(page - 1) * MESSAGES_PER_PAGE : page * MESSAGES_PER_PAGE]
        meta = _pagination(len(messages), per_page=MESSAGES_PER_PAGE, page=page, path="messages")
        return web.json_response({"data": data, "meta": meta})

    async def _admit(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        """Auth, queued failures and validation, in the order Laravel runs them."""
        body = await self.log_request(request)
        if not self._authorized(request):
            return {}, web.json_response(UNAUTHENTICATED, status=401)
        failure = self.take_failure()
        # Throttle, auth, quota and validation answer before the message is stored.
        if failure is not None and failure.status < 500:
            return {}, self.failure_response(failure)
        body = body if isinstance(body, dict) else {}
        errors: dict[str, list[str]] = {}
        content = body.get("content")
        if not isinstance(content, str) or not content:
            errors["content"] = ["The content field is required."]
        elif len(content) > MAX_CONTENT:
            errors["content"] = [
                f"The content field must not be greater than {MAX_CONTENT} characters."
            ]
        if body.get("conversation_id") not in self.stored:
            errors["conversation_id"] = ["The selected conversation id is invalid."]
        if errors:
            return {}, web.json_response(laravel_422(errors), status=422)
        self.messages_sent.append(content)  # type: ignore[arg-type]
        self._store(body["conversation_id"], content, machine=False)  # type: ignore[arg-type]
        if failure is not None:
            # Cody persists the user turn and a failed bot turn, then answers 500; or, with
            # ``server_finishes``, the reply was generated and stored and only the answer failed.
            if failure.server_finishes:
                script = self.next_script()
                text = f"echo: {content}" if script.text is None else script.text
                self._store(body["conversation_id"], text)
            else:
                self._store(body["conversation_id"], "Sorry, I failed to respond.", failed=True)
            return {}, self.failure_response(failure)
        return body, None

    def stored_history(self) -> dict[str, list[dict[str, Any]]]:
        """Each conversation's stored messages, oldest first."""
        return {c: list(messages) for c, messages in self.stored.items()}

    def _store(
        self, conversation_id: str, content: str, *, machine: bool = True, failed: bool = False
    ) -> dict[str, Any]:
        message = {
            "id": "".join(secrets.choice(_ID_ALPHABET) for _ in range(12)),
            "content": content,
            "conversation_id": conversation_id,
            "machine": machine,
            "failed_responding": failed,
            "flagged": False,
            "created_at": int(time.time()),
        }
        self.stored[conversation_id].append(message)
        return message

    async def _send_message(self, request: web.Request) -> web.Response:
        body, refusal = await self._admit(request)
        if refusal is not None:
            return refusal
        script = self.next_script()
        text = f"echo: {body['content']}" if script.text is None else script.text
        if script.first_delay:
            await asyncio.sleep(script.first_delay)
        failed = script.fault == "failed"
        content = "Sorry, something went wrong." if failed else text
        if script.fault in ("drop", "stall"):
            if script.server_finishes:
                self._store(body["conversation_id"], content)
            await self._break(request, script)
        message = self._store(body["conversation_id"], content, failed=failed)
        return web.json_response({"data": message})

    async def _send_for_stream(self, request: web.Request) -> web.Response:
        body, refusal = await self._admit(request)
        if refusal is not None:
            return refusal
        script = self.next_script()
        text = f"echo: {body['content']}" if script.text is None else script.text
        token = secrets.token_urlsafe(32)
        self._streams[token] = _PendingStream(body["conversation_id"], script, text)
        stream_url = f"http://{self.stream_host}/{token}"
        if body.get("redirect", True) is not False:
            return web.Response(status=302, headers={"Location": stream_url})
        return web.json_response({"data": {"stream_url": stream_url}})

    async def _break(self, request: web.Request, script: Script) -> None:
        """Drop or stall before any response bytes (a blocking call that never answers)."""
        if script.fault == "stall":
            while not self._stopping.is_set():
                if request.transport is None or request.transport.is_closing():
                    break
                await asyncio.sleep(0.05)
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError

    # -- stream host -------------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        await self.log_request(request)
        token = request.match_info["token"]
        self.stream_requests.append(request.path)
        if "Authorization" in request.headers:
            self.stream_auth_seen += 1
            if self.strict_stream:
                return web.json_response(
                    {"message": "Authorization is not accepted here."}, status=400
                )
        # Tokens are single use: the first GET consumes it, a second one is 404.
        pending = self._streams.pop(token, None)
        if pending is None:
            return web.json_response(NOT_FOUND, status=404)
        script = pending.script
        if script.fault == "wrong_content_type":
            if script.server_finishes:
                self._store(pending.conversation_id, pending.text)
            return web.json_response({"chunk": pending.text})
        events = [json.dumps({"chunk": c}) for c in script.chunks(pending.text)]

        def persist() -> None:
            self._store(pending.conversation_id, pending.text)

        return await self.stream_sse(
            request, script, events, before=["[START]"], after=["[END]"], on_done=persist
        )


def _pagination(total: int, *, per_page: int = 15, page: int = 1, path: str = "") -> dict[str, Any]:
    """The documented and the observed (fractal) pagination fields together."""
    pages = max(1, math.ceil(total / per_page))
    links: dict[str, str] = {}
    if page < pages:
        links["next"] = f"https://getcody.ai/api/v1/{path}?page={page + 1}"
    if page > 1:
        links["previous"] = f"https://getcody.ai/api/v1/{path}?page={page - 1}"
    return {
        "pagination": {
            "count": max(0, min(per_page, total - (page - 1) * per_page)),
            "total": total,
            "per_page": per_page,
            "current_page": page,
            "total_pages": pages,
            "next_page": page + 1 if page < pages else None,
            "previous_page": page - 1 if page > 1 else None,
            "links": links,
        }
    }


async def _main() -> None:
    parser = standalone_args("Fake Cody API v1 on 127.0.0.1 (API and stream listeners)")
    parser.add_argument("--stream-port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--bot-id", default="bot1")
    args = parser.parse_args()
    fake = CodyFake(args.api_key, args.bot_id, port=args.port, stream_port=args.stream_port)
    await serve_forever(fake, lambda: fake.base_url, lambda: f"stream_host={fake.stream_host}")


if __name__ == "__main__":
    asyncio.run(_main())
